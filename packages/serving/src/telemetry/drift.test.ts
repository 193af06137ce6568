import { entity, eventSource, featureService } from '@tandem/core';
import { createStatisticsCollector, populationStabilityIndex } from '@tandem/feature-store';
import { describe, expect, it } from 'vitest';
import { createDriftMonitor } from './drift.js';
import { createServingMetrics } from './metrics.js';

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const tx = eventSource({
  name: 'tx',
  entity: user,
  fields: { amount: 'float', merchant: 'string' },
});
const amountSum = tx.sum('amount').as('amount_sum');
const lastMerchant = tx.last('merchant').as('last_merchant');
const service = featureService('fraud_v1', [amountSum, lastMerchant]);

function trainingStatistics() {
  const collector = createStatisticsCollector(service);
  for (let i = 0; i < 2000; i++) {
    collector.add({ amount_sum: (i % 100) * 1.5, last_merchant: `m${i % 4}` });
  }
  return collector.result();
}

describe('drift monitor', () => {
  const statistics = trainingStatistics();

  it('is near 0 for traffic like the training set and large for shifted traffic, matching populationStabilityIndex', () => {
    const monitor = createDriftMonitor({ service, statistics, windowSize: 400, minSamples: 50 });
    expect(monitor.features).toEqual(['amount_sum', 'last_merchant']);
    expect(monitor.psi()).toEqual({}); // not enough samples yet
    for (let i = 0; i < 400; i++) {
      monitor.observe({ amount_sum: (i % 100) * 1.5, last_merchant: `m${i % 4}` });
    }
    const stable = monitor.psi();
    expect(stable.amount_sum!).toBeLessThan(0.05);
    expect(stable.last_merchant!).toBeLessThan(0.05);
    // The window slides: 400 shifted values replace the old ones.
    const shifted: number[] = [];
    for (let i = 0; i < 400; i++) {
      const value = 500 + i;
      shifted.push(value);
      monitor.observe({ amount_sum: value, last_merchant: 'new-merchant' });
    }
    const drifted = monitor.psi();
    expect(drifted.amount_sum!).toBeGreaterThan(1);
    expect(drifted.last_merchant!).toBeGreaterThan(1);
    expect(drifted.amount_sum!).toBeCloseTo(
      populationStabilityIndex(statistics.features[0]!, shifted),
      10,
    );
  });

  it('skips features defined differently or absent, and ignores values of the wrong type', () => {
    const other = featureService('fraud_v2', [
      tx.sum('amount').window('7d').as('amount_sum'), // same name, other definition
      lastMerchant,
      tx.count().as('tx_count'),
    ]);
    const monitor = createDriftMonitor({ service: other, statistics, minSamples: 1 });
    expect(monitor.features).toEqual(['last_merchant']);
    expect(monitor.skipped.map((s) => s.feature)).toEqual(['amount_sum', 'tx_count']);
    monitor.observe({ last_merchant: 42 });
    expect(monitor.psi()).toEqual({});
    monitor.observe({ last_merchant: null });
    expect(Object.keys(monitor.psi())).toEqual(['last_merchant']);
  });

  it('is exposed as a gauge read at scrape time', async () => {
    const metrics = createServingMetrics();
    const monitor = createDriftMonitor({ service, statistics, minSamples: 1 });
    metrics.trackDrift(service.name, () => monitor.psi());
    monitor.observe({ amount_sum: 10_000, last_merchant: 'zzz' });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(
      /tandem_serving_feature_psi\{service="fraud_v1",feature="amount_sum"\} \d/,
    );
    expect(text).toMatch(
      /tandem_serving_feature_psi\{service="fraud_v1",feature="last_merchant"\} \d/,
    );
  });
});
