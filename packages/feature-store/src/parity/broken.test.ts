import { entity, eventSource } from '@tandem/core';
import {
  openPostgres,
  openRedis,
  redisUnavailableReason,
  type TestDatabase,
  type TestRedis,
} from '@tandem/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../test/executor-of.js';
import { parityExitCode } from '../cli/parity.js';
import { createOfflineStore, type OfflineStore } from '../offline/store.js';
import type { OnlineAdapter } from '../online/adapter.js';
import { memoryAdapter } from '../online/memory/adapter.js';
import { redisAdapter } from '../online/redis/adapter.js';
import { createOnlineStore, type OnlineStore } from '../online/store.js';
import { checkParity } from './check.js';
import { formatParityTable } from './render/table.js';
import type { OnlineStoreFactory, ParityPoint } from './types.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const BASE = Date.UTC(2026, 4, 1);

const account = entity({ name: 'account', keys: { account_id: 'string' } });
const logins = eventSource({
  name: 'logins',
  entity: account,
  fields: { amount: 'float' },
});
/** W = 1h, h = 5m: T(q) = floor((q - 1h) / 5m) * 5m. */
const count1h = logins.count().window('1h').as('logins_1h');
const sum1h = logins.sum('amount').window('1h').as('amount_1h');

/**
 * q0: an event exactly at q0 (the exclusive head). q1 = 1h + k*5m - 1, so T(q1 + 1) = T(q1) + 5m:
 * an event exactly at T(q1) leaves the window 1 ms after q1. q2: no edge involved.
 */
const q0 = BASE + 3 * HOUR + 17 * MINUTE + 123;
const q1 = BASE + 5 * HOUR + 35 * MINUTE - 1;
const t1 = q1 - HOUR - 5 * MINUTE + 1; // T(q1)
const q2 = BASE + 8 * HOUR + 2 * MINUTE + 1;
const points: ParityPoint[] = [
  { entity: { account_id: 'head' }, q: q0 },
  { entity: { account_id: 'tail' }, q: q1 },
  { entity: { account_id: 'calm' }, q: q2 },
];

/** A real online store whose reads are shifted 1 ms late: `at: q + 1` instead of `q`. */
function shifted(adapter: () => OnlineAdapter): OnlineStoreFactory {
  return (scratch) => {
    const store: OnlineStore = createOnlineStore({ adapter: adapter(), ...scratch });
    return {
      ...store,
      getOnlineFeatures: (request) =>
        store.getOnlineFeatures({ ...request, at: (request.at ?? scratch.clock()) + 1 }),
    };
  };
}

const redisReason = await redisUnavailableReason();
let redis: TestRedis | undefined;
let database: TestDatabase;
let offline: OfflineStore;
beforeAll(async () => {
  if (!redisReason) redis = await openRedis('parity broken');
  database = await openPostgres('fs_parity_broken');
  offline = createOfflineStore({
    executor: pgliteOrPostgresExecutor(database),
    schema: database.schema,
    clock: () => BASE,
  });
  await offline.apply([logins]);
  await offline.ingest(logins, [
    { account_id: 'head', ts: q0 - 10 * MINUTE, eventId: 'h1', amount: 1.5 },
    { account_id: 'head', ts: q0, eventId: 'h-at-q', amount: 100 },
    { account_id: 'tail', ts: t1, eventId: 't-at-T', amount: 7 },
    { account_id: 'tail', ts: t1 + 30 * MINUTE, eventId: 't2', amount: 0.25 },
    { account_id: 'calm', ts: q2 - 20 * MINUTE, eventId: 'c1', amount: 3 },
  ]);
});
afterAll(async () => {
  await offline?.executor.close();
  await database?.close();
  await redis?.close();
});

const engines: [string, () => OnlineAdapter][] = [
  ['in-process', () => memoryAdapter()],
  ...(redisReason
    ? []
    : [['redis', () => redisAdapter({ client: redis!.client })] as [string, () => OnlineAdapter]]),
];

describe.each(engines)('a window edge shifted by 1 ms (%s)', (_name, adapter) => {
  it('is caught and reported with the offending events', async () => {
    const healthy = await checkParity({
      offline,
      online: adapter(),
      features: [count1h, sum1h],
      sample: points,
      namespace: redis?.prefix ?? 'test',
    });
    expect(healthy.ok).toBe(true);
    expect(parityExitCode(healthy)).toBe(0);

    const report = await checkParity({
      offline,
      online: shifted(adapter),
      features: [count1h, sum1h],
      sample: points,
      namespace: redis?.prefix ?? 'test',
    });
    expect(report.ok).toBe(false);
    expect(parityExitCode(report)).toBe(1);
    expect(report.replay.engine).toBe('factory');
    const count = report.features.find((f) => f.name === 'logins_1h')!;
    expect(count).toMatchObject({ total: 3, agree: 1, mismatch: 2, bothNull: 0 });
    const byEntity = new Map(count.examples.map((e) => [e.entity.account_id, e]));
    expect([...byEntity.keys()].sort()).toEqual(['head', 'tail']);

    // The event at q0 is read online (q0 + 1 > its ts) but excluded offline: the head is exclusive.
    const head = byEntity.get('head')!;
    expect(head).toMatchObject({ kind: 'mismatch', q: q0, offline: 1, online: 2, reference: 1 });
    const atQ = head.windows[0]!.events.find((e) => e.eventId === 'h-at-q')!;
    expect(atQ).toMatchObject({ ts: q0, position: 'after', counts: false, edge: 'q' });

    // The event at T(q1) counts offline, but the shifted read's window starts 5 min later.
    const tail = byEntity.get('tail')!;
    expect(tail).toMatchObject({ kind: 'mismatch', q: q1, offline: 2, online: 1, reference: 2 });
    expect(tail.windows[0]!.start).toBe(t1);
    const atT = tail.windows[0]!.events.find((e) => e.eventId === 't-at-T')!;
    expect(atT).toMatchObject({ ts: t1, position: 'window', counts: true, edge: 'T(q)' });

    // The float sum differs far beyond its tolerance.
    const sum = report.features.find((f) => f.name === 'amount_1h')!;
    expect(sum.mismatch).toBe(2);
    expect(sum.examples[0]!.difference).toBeGreaterThan(sum.examples[0]!.tolerance);

    const table = formatParityTable(report, { examples: 2 });
    expect(table).toMatch(/FAIL: 4 of 6 values disagree/);
    expect(table).toMatch(/id=h-at-q .*\[after, excluded, at q\]/);
    expect(table).toMatch(/id=t-at-T .*\[window, counts, at T\(q\)\]/);
  });
});
