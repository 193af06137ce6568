/**
 * Test support for materialization (not exported): a timeline of ingested events, the TS fold
 * they must read back as, and snapshots of the online store's keys.
 */
import { compileFolder, featureValue, type SourceEvent } from '@tandem/core';
import { sql } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { onlineFeatures, orders } from '../../../test/online-model.js';
import type { SqlExecutor } from '../../executor/executor.js';
import { ingestEvents, type WrittenEvent } from '../../offline/ingest.js';
import type { OnlineStore } from '../store.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** One event to ingest at `arrival`. */
export interface TimedEvent {
  readonly customer: string;
  readonly ts: number;
  readonly arrival: number;
  readonly id: string;
  readonly amount: number;
  readonly items: number;
  readonly channel: string | null;
}

/** Ingests one event into Postgres at its arrival time, then streams it (clock set to arrival). */
export async function ingestAt(
  executor: SqlExecutor,
  schema: string,
  online: OnlineStore,
  setClock: (now: number) => void,
  event: TimedEvent,
): Promise<WrittenEvent[]> {
  setClock(event.arrival);
  const result = await ingestEvents(
    executor,
    schema,
    orders,
    [
      {
        customer_id: event.customer,
        ts: event.ts,
        eventId: event.id,
        amount: event.amount,
        items: event.items,
        channel: event.channel,
      },
    ],
    event.arrival,
    true,
  );
  const written = [...(result.written ?? [])];
  if (written.length > 0) await online.writeEvents('orders', written);
  return written;
}

/** Every online feature of the test model as the TS fold computes it, per customer, as of `q`. */
export function foldValues(
  events: readonly WrittenEvent[],
  customer: string,
  q: number,
): Record<string, unknown> {
  const mine: SourceEvent[] = events.filter((e) => e.key.customer_id === customer);
  return Object.fromEntries(
    onlineFeatures.map((f) => [f.name, featureValue(f.ir, compileFolder(f.ir).fold(mine, q))]),
  );
}

/** Reads every online feature of the model for `customers` at `q` and checks them against the fold. */
export async function expectParity(
  online: OnlineStore,
  events: readonly WrittenEvent[],
  customers: readonly string[],
  q: number,
): Promise<void> {
  const rows = await online.getOnlineFeatures({
    service: [...onlineFeatures],
    entities: customers.map((c) => ({ customer_id: c })),
    at: q,
  });
  for (const row of rows) {
    const customer = String(row.entity.customer_id);
    const actual = Object.fromEntries(Object.entries(row.values).map(([n, v]) => [n, v.value]));
    expect({ customer, q, values: actual }).toEqual({
      customer,
      q,
      values: foldValues(events, customer, q),
    });
    const known = events.some((e) => e.key.customer_id === customer && e.ingestedAt <= q);
    for (const value of Object.values(row.values)) {
      expect(value.status).toBe(known ? 'present' : 'missing');
    }
  }
}

/** Every key under `prefix` with its contents (hash fields sorted; meta `u` dropped), sorted. */
export async function snapshotRedis(
  client: Redis,
  prefix: string,
  layer?: 'b' | 's',
): Promise<Record<string, unknown>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const out: Record<string, unknown> = {};
  for (const key of keys.sort()) {
    if (layer !== undefined && !key.includes(`:t:${layer}:`)) continue;
    const type = await client.type(key);
    if (type === 'hash') {
      const fields = await client.hgetall(key);
      delete fields.u;
      out[key] = Object.fromEntries(Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : 1)));
    } else if (type === 'zset') {
      out[key] = await client.zrange(key, 0, -1, 'WITHSCORES');
    }
  }
  return out;
}

/** Deletes every key under `prefix` (what a FLUSHALL does to one namespace). */
export async function flushPrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (batch.length > 0) await client.del(...batch);
  } while (cursor !== '0');
}

/** Empties the managed table of a test schema between property runs (namespaces are fresh). */
export async function resetData(executor: SqlExecutor, schema: string): Promise<void> {
  await executor.query(sql`TRUNCATE ${sql.identifier(schema)}.events_orders`);
}
