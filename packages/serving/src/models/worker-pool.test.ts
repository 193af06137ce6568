import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  denseNetworkOnnx,
  denseNetworkWeights,
  logisticRegressionOnnx,
  predictDenseNetwork,
} from '@tandem/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { isServingError } from '../errors/errors.js';
import type { ModelRuntime } from './runtime.js';
import type { Tensor } from './tensor.js';
import { workerPoolRuntime } from './worker-pool.js';

const HEAVY = { inputSize: 64, hidden: [512, 512], seed: 3 };

function input(rows: number, width: number): Tensor<'float32'> {
  const data = new Float32Array(rows * width);
  for (let i = 0; i < data.length; i++) data[i] = Math.fround(Math.cos(i));
  return { type: 'float32', dims: [rows, width], data };
}

describe('workerPoolRuntime', () => {
  const opened: ModelRuntime[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((runtime) => runtime.close()));
  });

  it('keeps the event loop free while a heavy model runs', async () => {
    const runtime = workerPoolRuntime({ workers: 1 });
    opened.push(runtime);
    await runtime.load(denseNetworkOnnx(HEAVY));
    const feeds = { features: input(512, HEAVY.inputSize) };
    let ticks = 0;
    let done = false;
    const spin = () => {
      ticks++;
      if (!done) setImmediate(spin);
    };
    const run = runtime.run(feeds);
    setImmediate(spin);
    const out = await run;
    done = true;
    // In-thread, the loop would stay blocked for the whole inference; here it keeps turning.
    expect(ticks).toBeGreaterThan(3);
    const data = feeds.features.data;
    const firstRows = [0, 1, 2].map((r) =>
      Array.from(data.subarray(r * HEAVY.inputSize, (r + 1) * HEAVY.inputSize)),
    );
    const expected = predictDenseNetwork(denseNetworkWeights(HEAVY), firstRows);
    const scores = out.score!.data as Float32Array;
    expected.forEach((p, i) => {
      expect(Math.abs(scores[i]! - p)).toBeLessThan(1e-4);
    });
  });

  it('fails only the runs of a dead worker, replaces it, and keeps serving', async () => {
    const runtime = workerPoolRuntime({ workers: 2 });
    opened.push(runtime);
    await runtime.load(logisticRegressionOnnx({ weights: [1, 2], bias: 0 }));
    const feeds = { features: input(1, 2) };
    const hook = runtime as unknown as { crashWorkerForTests(index: number): void };
    hook.crashWorkerForTests(0);
    // Runs submitted around the crash either succeed or fail with MODEL_FAILED; none hang.
    const results = await Promise.allSettled(Array.from({ length: 20 }, () => runtime.run(feeds)));
    // Messages to a worker are ordered: the runs queued behind the crash fail.
    expect(results.some((result) => result.status === 'rejected')).toBe(true);
    for (const result of results) {
      if (result.status === 'rejected') {
        expect(isServingError(result.reason, 'MODEL_FAILED')).toBe(true);
      }
    }
    // The replacement comes up; afterwards every run succeeds.
    for (let attempt = 0; attempt < 100; attempt++) {
      const settled = await Promise.allSettled(Array.from({ length: 4 }, () => runtime.run(feeds)));
      if (settled.every((s) => s.status === 'fulfilled')) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const outs = await Promise.all(Array.from({ length: 10 }, () => runtime.run(feeds)));
    expect(outs).toHaveLength(10);
  });

  it('keeps a plain script alive while runs are pending, and lets it exit after close', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tandem-pool-'));
    try {
      const here = fileURLToPath(new URL('.', import.meta.url));
      const script = join(dir, 'script.mts');
      await writeFile(
        script,
        [
          `import { workerPoolRuntime } from ${JSON.stringify(join(here, 'worker-pool.ts'))};`,
          `import { logisticRegressionOnnx } from ${JSON.stringify(join(here, '../../../testing/src/onnx/logistic.ts'))};`,
          'const runtime = workerPoolRuntime({ workers: 2 });',
          'await runtime.load(logisticRegressionOnnx({ weights: [1, 2], bias: 0 }));',
          "const feeds = { features: { type: 'float32', dims: [1, 2], data: new Float32Array(2) } };",
          'const outs = await Promise.all([runtime.run(feeds), runtime.run(feeds), runtime.run(feeds)]);',
          'await runtime.close();',
          "console.log('done', outs.length);",
        ].join('\n'),
      );
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--conditions=tandem-source', '--import', 'tsx', script],
        { cwd: here, timeout: 60_000 },
      );
      expect(stdout.trim()).toBe('done 3');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a non-positive pool size', () => {
    expect(() => workerPoolRuntime({ workers: 0 })).toThrow(/positive integer/);
  });
});
