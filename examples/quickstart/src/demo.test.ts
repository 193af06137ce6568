import { beforeAll, describe, expect, it } from 'vitest';
import { generateData } from './data.js';
import { main } from './demo.js';
import { fraudModelService, fraudService } from './features.js';
import { type DemoResult, SCORE_TOLERANCE } from './pipeline.js';

describe('quickstart demo (PGlite + in-process online store, end to end)', () => {
  let result: DemoResult;
  beforeAll(async () => {
    result = await main({ log: () => {}, latencyCalls: 100 });
  });

  it('computes every feature identically in the offline store (PGlite) and in the TypeScript fold', () => {
    expect(result.mismatches).toBe(0);
    expect(result.values.filter((v) => v.parity === 'differs')).toEqual([]);
    const pairs = new Set(result.values.map((v) => v.pair)).size;
    expect(pairs).toBeGreaterThanOrEqual(3);
    expect(result.values).toHaveLength(pairs * fraudService.features.length);
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

  it('drops exactly the redelivered duplicates offline and streams every event online', () => {
    const { stats, profiles } = generateData();
    const events = stats.deliveries - stats.redelivered;
    expect(result.ingested).toEqual({
      events,
      duplicates: stats.redelivered,
      // Every late arrival is within the online store's allowed lateness (4 days).
      online: { applied: events, duplicates: 0, late: 0 },
      profiles: profiles.length,
    });
    expect(result.output).toContain(
      `${events} events into the offline store (${stats.redelivered} duplicates dropped)`,
    );
  });

  it('trains a logistic regression on a 1,000-row point-in-time training set and exports it to ONNX', () => {
    expect(result.trainingRows).toBe(1000);
    const { model, onnx, sha256, positives } = result.model;
    expect(positives).toBeGreaterThan(50);
    expect(positives).toBeLessThan(600);
    expect(model.weights).toHaveLength(fraudModelService.layout.length);
    expect(Number.isFinite(model.loss) && model.loss < Math.log(2)).toBe(true);
    expect(onnx.length).toBeGreaterThan(100);
    expect(sha256).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('serves the model over HTTP: scores equal the TypeScript reference model on the same features', () => {
    const { predictions } = result;
    expect(predictions).toHaveLength(generateData().payments.length);
    for (const p of predictions) expect(p.status).toBe(200);
    const scored = predictions.filter((p) => p.fallback === null);
    expect(scored.length).toBe(predictions.length - 1);
    for (const p of scored) {
      expect(p.score, p.request.user_id).not.toBeNull();
      expect(p.reference, p.request.user_id).not.toBeNull();
      expect(Math.abs(p.score! - p.reference!)).toBeLessThanOrEqual(SCORE_TOLERANCE);
      expect(p.label).toBe(p.score! > 0.5 ? 'fraud' : 'legit');
      expect(Object.keys(p.features ?? {})).toEqual(fraudModelService.layout.map((f) => f.name));
    }
    // The scores are not all alike: the model separates payments.
    const scores = scored.map((p) => p.score!);
    expect(Math.max(...scores) - Math.min(...scores)).toBeGreaterThan(0.5);
    // u5 was never seen: the configured fallback answers, flagged.
    const unknown = predictions.find((p) => p.request.user_id === 'u5')!;
    expect(unknown).toMatchObject({ status: 200, fallback: 'unknown_entity', label: 'review' });
    expect(result.output).toMatch(/^ {2}u1 +14\.90 {2}200 +0\.\d{6} +(legit|fraud) +0\.\d{6}/m);
  });

  it('times real HTTP calls, all answered 200', () => {
    const { sequential, concurrent } = result.latency;
    expect(sequential).toMatchObject({ calls: 100, ok: 100, concurrency: 1 });
    expect(concurrent).toMatchObject({ calls: 200, ok: 200, concurrency: 16 });
    for (const s of [sequential, concurrent]) {
      expect(s.p50Ms).toBeGreaterThan(0);
      expect(s.p99Ms).toBeGreaterThanOrEqual(s.p50Ms);
    }
    expect(result.output).toMatch(/1 caller : p50 \d+\.\d\d ms, p99 \d+\.\d\d ms/);
  });

  it('reports parity with zero mismatches: online vs offline, served vs offline, SQL vs fold', () => {
    const { parity } = result;
    expect(parity.mismatches).toBe(0);
    const users = 5;
    expect(parity.onlineVsOffline).toMatchObject({
      values: users * (fraudService.features.length + fraudModelService.features.length),
      mismatches: 0,
    });
    expect(parity.servedVsOffline).toMatchObject({
      values: 6 * fraudModelService.features.length,
      mismatches: 0,
    });
    expect(parity.sqlVsFold.mismatches).toBe(0);
    expect(parity.checkParity).toMatchObject({ ok: true, points: 100, disagreements: 0 });
    expect(parity.checkParity.values).toBeGreaterThan(0);
    expect(result.output).toContain('Parity holds: zero mismatches.');
  });
});
