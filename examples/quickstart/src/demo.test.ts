import { beforeAll, describe, expect, it } from 'vitest';
import { generateData } from './data.js';
import { type DemoResult, main } from './demo.js';
import { fraudService } from './features.js';

describe('quickstart demo', () => {
  let result: DemoResult;
  beforeAll(async () => {
    result = await main({ log: () => {} });
  });

  it('computes every feature identically in the offline store (PGlite) and in the TypeScript fold', () => {
    expect(result.mismatches).toBe(0);
    expect(result.values.filter((v) => v.parity === 'differs')).toEqual([]);
    const pairs = new Set(result.values.map((v) => v.pair)).size;
    expect(pairs).toBeGreaterThanOrEqual(3);
    expect(result.values).toHaveLength(pairs * fraudService.features.length);
  });

  it('prints a row for every feature of the service, for every pair', () => {
    for (const feature of fraudService.features) {
      const rows = result.output.match(new RegExp(`^ {2}${feature.name} +\\S+ +\\S+ +yes`, 'gm'));
      expect(rows?.length, feature.name).toBeGreaterThanOrEqual(3);
    }
  });

  it('shows the point-in-time semantics in the values', () => {
    const value = (pair: number, feature: string) =>
      result.values.find((v) => v.pair === pair && v.feature === feature)?.sql;
    // The 999.99 payment planted three hours before q reached the store two hours after q.
    expect(value(0, 'max_amount_30d')).toBe(58.79);
    // u3 has been inactive for two weeks: empty short windows, and its country row is past the ttl.
    expect(value(2, 'tx_count_7d')).toBe(0);
    expect(value(2, 'mean_amount_24h')).toBeNull();
    expect(value(2, 'country')).toBeNull();
    expect(value(2, 'plan')).toBe('pro');
    // u5 has no data at all: empty-window values and the default of `plan`.
    expect(value(3, 'distinct_merchants_30d')).toBe(0);
    expect(value(3, 'plan')).toBe('free');
    expect(value(3, 'avg_ticket_7d')).toBeNull();
    expect(value(3, 'amount_vs_avg')).toBeNull();
  });

  it('drops exactly the redelivered duplicates at ingestion and streams a larger training set', () => {
    const { stats } = generateData();
    expect(result.ingested).toEqual({
      events: stats.deliveries - stats.redelivered,
      duplicates: stats.redelivered,
    });
    expect(result.trainingRows).toBe(1000);
    expect(result.output).toMatch(
      new RegExp(
        `^offline store: ${result.ingested.events} events ingested \\(${stats.redelivered} duplicates dropped\\), training set of 1,000 rows in \\d+ ms`,
        'm',
      ),
    );
  });
});
