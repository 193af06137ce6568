import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LocalHistogram } from './histogram.js';

describe('LocalHistogram', () => {
  it('writes the exposition prom-client writes for the same observations', async () => {
    const buckets = [0.001, 0.01, 0.1];
    const ours = new Registry();
    const theirs = new Registry();
    const local = new LocalHistogram('latency', 'Latency.', ['model', 'outcome'], buckets, ours);
    const reference = new Histogram({
      name: 'latency',
      help: 'Latency.',
      labelNames: ['model', 'outcome'],
      buckets,
      registers: [theirs],
    });
    const observations: [string, string, number][] = [
      ['fraud', 'ok', 0.0005],
      ['fraud', 'ok', 0.01],
      ['fraud', 'ok', 3],
      ['fraud', 'error', 0.05],
      ['churn', 'ok', 0.002],
    ];
    // A label set bound but never observed is not exposed (as a prom-client child).
    local.series('idle', 'ok');
    reference.labels('idle', 'ok');
    for (const [model, outcome, value] of observations) {
      local.series(model, outcome).observe(value);
      reference.labels(model, outcome).observe(value);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());

    ours.resetMetrics();
    expect(await ours.metrics()).toBe('# HELP latency Latency.\n# TYPE latency histogram\n');
    local.series('fraud', 'ok').observe(0.02);
    expect(await ours.metrics()).toContain('latency_count{model="fraud",outcome="ok"} 1');
  });
});
