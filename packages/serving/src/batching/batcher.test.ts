import { logisticRegressionOnnx, predictLogisticRegression } from '@tandem/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isServingError } from '../errors/errors.js';
import { onnxRuntime } from '../models/onnx-runtime.js';
import { workerPoolRuntime } from '../models/worker-pool.js';
import { type BatchInfo, MicroBatcher } from './batcher.js';
import { encodeRow, rowBatchRunner, splitRows, stackRows } from './rows.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function doubler(options: { maxBatchSize: number; maxDelayMs?: number; maxConcurrency?: number }) {
  const batches: number[][] = [];
  const infos: BatchInfo[] = [];
  const batcher = new MicroBatcher<number, number>({
    ...options,
    run: async (items) => {
      batches.push([...items]);
      await sleep(1);
      return items.map((x) => x * 2);
    },
    onBatch: (info) => infos.push(info),
  });
  return { batcher, batches, infos };
}

describe('MicroBatcher', () => {
  it('runs items submitted in the same turn as one batch, each caller getting its own result', async () => {
    const { batcher, batches, infos } = doubler({ maxBatchSize: 64 });
    const results = await Promise.all([1, 2, 3, 4, 5].map((x) => batcher.submit(x)));
    expect(results).toEqual([2, 4, 6, 8, 10]);
    expect(batches).toEqual([[1, 2, 3, 4, 5]]);
    expect(infos).toHaveLength(1);
    expect(infos[0]!.size).toBe(5);
    expect(infos[0]!.queueMs).toHaveLength(5);
    expect(infos[0]!.ok).toBe(true);
    for (const ms of infos[0]!.queueMs) expect(ms).toBeGreaterThanOrEqual(0);
  });

  it('never exceeds maxBatchSize', async () => {
    const { batcher, batches } = doubler({ maxBatchSize: 4 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.submit(i)));
    expect(results).toEqual(Array.from({ length: 10 }, (_, i) => i * 2));
    expect(batches.map((b) => b.length)).toEqual([4, 4, 2]);
  });

  it('waits up to maxDelayMs for more items', async () => {
    const { batcher, batches } = doubler({ maxBatchSize: 8, maxDelayMs: 300 });
    const first = batcher.submit(1);
    await sleep(20);
    const second = batcher.submit(2);
    expect(await Promise.all([first, second])).toEqual([2, 4]);
    expect(batches).toEqual([[1, 2]]);
  });

  it('dispatches a full batch without waiting for the delay', async () => {
    const { batcher, batches } = doubler({ maxBatchSize: 2, maxDelayMs: 60_000 });
    expect(await Promise.all([batcher.submit(1), batcher.submit(2)])).toEqual([2, 4]);
    expect(batches).toEqual([[1, 2]]);
  });

  it('queues items while maxConcurrency batches run and sends them in the next batch', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const batches: number[][] = [];
    let running = 0;
    let maxRunning = 0;
    const batcher = new MicroBatcher<number, number>({
      maxBatchSize: 100,
      maxConcurrency: 1,
      run: async (items) => {
        batches.push([...items]);
        running++;
        maxRunning = Math.max(maxRunning, running);
        if (batches.length === 1) await gate;
        running--;
        return items.map((x) => -x);
      },
    });
    const first = batcher.submit(1);
    await sleep(5);
    const later = [2, 3, 4].map((x) => batcher.submit(x));
    await sleep(5);
    expect(batcher.queued).toBe(3);
    expect(batcher.inFlight).toBe(1);
    release();
    expect(await Promise.all([first, ...later])).toEqual([-1, -2, -3, -4]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
    expect(maxRunning).toBe(1);
  });

  it('gives a failed batch error to every caller of that batch only', async () => {
    const batcher = new MicroBatcher<number, number>({
      maxBatchSize: 2,
      run: async (items) => {
        if (items.includes(13)) throw new Error('unlucky batch');
        return items.map((x) => x + 1);
      },
    });
    const settled = await Promise.allSettled([1, 13, 5, 6].map((x) => batcher.submit(x)));
    expect(settled.map((s) => s.status)).toEqual([
      'rejected',
      'rejected',
      'fulfilled',
      'fulfilled',
    ]);
    expect((settled[0] as PromiseRejectedResult).reason.message).toBe('unlucky batch');
    expect((settled[1] as PromiseRejectedResult).reason.message).toBe('unlucky batch');
  });

  it('rejects every caller when the run throws synchronously or returns the wrong count', async () => {
    const throwing = new MicroBatcher<number, number>({
      maxBatchSize: 8,
      run: () => {
        throw new Error('sync failure');
      },
    });
    await expect(throwing.submit(1)).rejects.toThrow('sync failure');
    const short = new MicroBatcher<number, number>({ maxBatchSize: 8, run: async () => [1] });
    const settled = await Promise.allSettled([short.submit(1), short.submit(2)]);
    for (const s of settled) {
      expect(s.status).toBe('rejected');
      expect(isServingError((s as PromiseRejectedResult).reason, 'INTERNAL')).toBe(true);
    }
  });

  it('reports failed batches to onBatch and survives a throwing hook', async () => {
    const infos: BatchInfo[] = [];
    const batcher = new MicroBatcher<number, number>({
      maxBatchSize: 8,
      run: async (items) => {
        if (items[0] === 0) throw new Error('no');
        return items;
      },
      onBatch: (info) => {
        infos.push(info);
        throw new Error('broken hook');
      },
    });
    await expect(batcher.submit(0)).rejects.toThrow('no');
    expect(await batcher.submit(7)).toBe(7);
    expect(infos.map((i) => i.ok)).toEqual([false, true]);
  });

  it('close() flushes queued items at once and refuses new ones', async () => {
    const { batcher, batches } = doubler({ maxBatchSize: 8, maxDelayMs: 60_000 });
    const pending = [batcher.submit(1), batcher.submit(2)];
    await batcher.close();
    expect(await Promise.all(pending)).toEqual([2, 4]);
    expect(batches).toEqual([[1, 2]]);
    const error = await batcher.submit(3).catch((e: unknown) => e);
    expect(isServingError(error, 'UNAVAILABLE')).toBe(true);
  });

  it('drain() resolves once nothing is queued or running', async () => {
    const { batcher } = doubler({ maxBatchSize: 8, maxDelayMs: 5 });
    await batcher.drain();
    let done = 0;
    for (let i = 0; i < 5; i++) void batcher.submit(i).then(() => done++);
    await batcher.drain();
    expect(done).toBe(5);
  });

  it('checks its options', () => {
    const run = async (items: readonly number[]) => items;
    expect(() => new MicroBatcher({ maxBatchSize: 0, run })).toThrow(/maxBatchSize/);
    expect(() => new MicroBatcher({ maxBatchSize: 1, maxDelayMs: -1, run })).toThrow(/maxDelayMs/);
    expect(() => new MicroBatcher({ maxBatchSize: 1, maxConcurrency: 0, run })).toThrow(
      /maxConcurrency/,
    );
  });

  it('conserves items and respects the limits for any arrival pattern (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          maxBatchSize: fc.integer({ min: 1, max: 9 }),
          maxConcurrency: fc.integer({ min: 1, max: 3 }),
          maxDelayMs: fc.constantFrom(0, 1, 3),
          waves: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 5 }),
        }),
        async ({ maxBatchSize, maxConcurrency, maxDelayMs, waves }) => {
          let running = 0;
          let maxRunning = 0;
          const sizes: number[] = [];
          const batcher = new MicroBatcher<number, number>({
            maxBatchSize,
            maxConcurrency,
            maxDelayMs,
            run: async (items) => {
              running++;
              maxRunning = Math.max(maxRunning, running);
              sizes.push(items.length);
              await sleep(items.length % 2);
              running--;
              return items.map((x) => x * 3);
            },
          });
          const promises: Promise<number>[] = [];
          let next = 0;
          for (const wave of waves) {
            for (let i = 0; i < wave; i++) promises.push(batcher.submit(next++));
            await sleep(0);
          }
          const results = await Promise.all(promises);
          expect(results).toEqual(Array.from({ length: next }, (_, i) => i * 3));
          expect(sizes.reduce((a, b) => a + b, 0)).toBe(next);
          expect(Math.max(...sizes)).toBeLessThanOrEqual(maxBatchSize);
          expect(maxRunning).toBeLessThanOrEqual(maxConcurrency);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('rows', () => {
  it('encodes rows per input type', () => {
    expect(Array.from(encodeRow('float32', 3, [1.5, true, null]) as Float32Array)).toEqual([
      1.5,
      1,
      Number.NaN,
    ]);
    expect(Array.from(encodeRow('int64', 3, [1, false, 3n]) as BigInt64Array)).toEqual([
      1n,
      0n,
      3n,
    ]);
    expect(Array.from(encodeRow('int32', 2, [-4, true]) as Int32Array)).toEqual([-4, 1]);
    expect(() => encodeRow('float32', 2, [1])).toThrow(/1 values, the model expects 2/);
    expect(() => encodeRow('int64', 1, [1.5], ['amount'])).toThrow(/amount must be an integer/);
    expect(() => encodeRow('int64', 1, [null])).toThrow(/column 0 must be an integer/);
    expect(() => encodeRow('int32', 1, [2 ** 40])).toThrow(/32-bit integer/);
  });

  it('stacks and splits', () => {
    const stacked = stackRows('float32', 2, [Float32Array.from([1, 2]), Float32Array.from([3, 4])]);
    expect(stacked.dims).toEqual([2, 2]);
    expect(Array.from(stacked.data)).toEqual([1, 2, 3, 4]);
    const split = splitRows(
      {
        p: { type: 'float32', dims: [2, 1], data: Float32Array.from([0.1, 0.9]) },
        names: { type: 'string', dims: [2], data: ['a', 'b'] },
        constant: { type: 'int64', dims: [], data: BigInt64Array.from([7n]) },
      },
      2,
    );
    expect(split[1]!.p!.dims).toEqual([1]);
    expect(Array.from(split[1]!.p!.data as Float32Array)).toEqual([Math.fround(0.9)]);
    expect(split[0]!.names!.data).toEqual(['a']);
    expect(split[1]!.constant!.dims).toEqual([]);
  });

  it.each([
    ['onnxRuntime', () => onnxRuntime()],
    ['workerPoolRuntime', () => workerPoolRuntime({ workers: 2 })],
  ])(
    'batches concurrent rows through a real model (%s) with reference results',
    async (_l, create) => {
      const model = { weights: [0.3, -0.7], bias: 0.2 };
      const runtime = create();
      try {
        await runtime.load(logisticRegressionOnnx({ ...model, outputs: ['probability', 'label'] }));
        const infos: BatchInfo[] = [];
        const batcher = new MicroBatcher({
          maxBatchSize: 16,
          maxConcurrency: runtime.concurrency,
          run: rowBatchRunner({
            run: (feeds, outputs) => runtime.run(feeds, outputs),
            inputName: 'features',
            type: 'float32',
            width: 2,
          }),
          onBatch: (info) => infos.push(info),
        });
        const rows = Array.from({ length: 100 }, (_, i) => [
          Math.fround(i / 10),
          Math.fround(-i / 7),
        ]);
        const outs = await Promise.all(
          rows.map((row) => batcher.submit(encodeRow('float32', 2, row))),
        );
        const expected = predictLogisticRegression(model, rows);
        outs.forEach((out, i) => {
          expect(out.probability!.dims).toEqual([1]);
          expect(Math.abs((out.probability!.data as Float32Array)[0]! - expected[i]!)).toBeLessThan(
            1e-6,
          );
          expect((out.label!.data as BigInt64Array)[0]).toBe(expected[i]! > 0.5 ? 1n : 0n);
        });
        expect(infos.reduce((sum, info) => sum + info.size, 0)).toBe(100);
        expect(Math.max(...infos.map((info) => info.size))).toBe(16);
        await batcher.close();
      } finally {
        await runtime.close();
      }
    },
  );
});
