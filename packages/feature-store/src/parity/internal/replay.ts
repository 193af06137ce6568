import type { AnyFeature } from '@tandem/core';
import type { OnlineEvent, OnlineFeatureRow, OnlineStore } from '../../online/store.js';
import type { ParityPoint } from '../types.js';
import type { TimelineEvent } from './timeline.js';

/** A settable clock: the replay's simulated time. */
export interface ReplayClock {
  readonly now: () => number;
  set(time: number): void;
}

/** Creates a {@link ReplayClock} starting at `start`. */
export function replayClock(start = 0): ReplayClock {
  let time = start;
  return {
    now: () => time,
    set(next) {
      time = next;
    },
  };
}

/** What the replay streamed. */
export interface ReplayCounts {
  events: number;
  applied: number;
  duplicates: number;
  late: number;
  writes: number;
  reads: number;
}

/** Inputs of {@link replayTimeline}. */
export interface ReplayInput {
  readonly store: OnlineStore;
  readonly clock: ReplayClock;
  /** The features read at every point. */
  readonly selection: readonly AnyFeature[];
  readonly points: readonly ParityPoint[];
  /** Every event of the sampled entities, any order. */
  readonly events: readonly TimelineEvent[];
  /** Allowed lateness of the store, ms: decides how streamed events are batched. */
  readonly allowedLateness: number;
  /** Simulated times at which to run the batch hook (after streaming what arrived by then). */
  readonly batchAt: readonly number[];
  /** The batch hook (materialization), run with the clock at its time. */
  readonly batch?: (at: number) => Promise<void>;
  /** Receives the rows read at each point (indices into `points`). */
  readonly onRead: (indices: readonly number[], rows: readonly OnlineFeatureRow[]) => void;
  readonly onProgress?: (done: number, total: number) => void;
}

const MAX_BATCH = 5000;
const MAX_READ = 500;

/** True when the stream layer takes `event` as late when written at its own arrival time. */
export function isLate(event: TimelineEvent, allowedLateness: number): boolean {
  return event.ts < event.arrival - allowedLateness;
}

/**
 * Replays the timeline into the (scratch) online store: reads go in increasing `q`; before each
 * read, every event that arrived at or before `q` is streamed, in arrival order (ingestion time,
 * then sequence), with the clock at its arrival time; then the read runs with the clock at `q`.
 * Consecutive events of a source are written in one call while that changes nothing: a batch is
 * cut before an event whose arrival would make an earlier event of the batch late.
 */
export async function replayTimeline(input: ReplayInput): Promise<ReplayCounts> {
  const { store, clock, allowedLateness } = input;
  const events = [...input.events].sort(
    (a, b) =>
      a.arrival - b.arrival ||
      (a.storedSeq ?? Infinity) - (b.storedSeq ?? Infinity) ||
      a.ts - b.ts ||
      (a.seq ?? 0) - (b.seq ?? 0),
  );
  const order = input.points
    .map((_, i) => i)
    .sort((a, b) => input.points[a]!.q - input.points[b]!.q);
  const batchAt = [...input.batchAt].sort((a, b) => a - b);
  const counts: ReplayCounts = {
    events: 0,
    applied: 0,
    duplicates: 0,
    late: 0,
    writes: 0,
    reads: 0,
  };
  let next = 0;

  const streamUntil = async (time: number) => {
    const pending: TimelineEvent[] = [];
    while (next < events.length && events[next]!.arrival <= time) pending.push(events[next++]!);
    if (pending.length === 0) return;
    const batches: { source: string; events: TimelineEvent[]; clock: number }[] = [];
    const open = new Map<string, { events: TimelineEvent[]; minOnTime: number }>();
    const close = (source: string) => {
      const batch = open.get(source);
      if (batch === undefined) return;
      open.delete(source);
      batches.push({ source, events: batch.events, clock: batch.events.at(-1)!.arrival });
    };
    for (const event of pending) {
      let batch = open.get(event.source);
      const limit = event.arrival - allowedLateness;
      if (batch !== undefined && (batch.minOnTime < limit || batch.events.length >= MAX_BATCH)) {
        close(event.source);
        batch = undefined;
      }
      if (batch === undefined) {
        batch = { events: [], minOnTime: Infinity };
        open.set(event.source, batch);
      }
      batch.events.push(event);
      if (!isLate(event, allowedLateness)) batch.minOnTime = Math.min(batch.minOnTime, event.ts);
    }
    for (const source of [...open.keys()]) close(source);
    batches.sort((a, b) => a.clock - b.clock);
    for (const batch of batches) {
      clock.set(batch.clock);
      const result = await store.writeEvents(batch.source, batch.events.map(toOnlineEvent));
      counts.events += batch.events.length;
      counts.applied += result.applied;
      counts.duplicates += result.duplicates;
      counts.late += result.late;
      counts.writes++;
    }
  };

  let batchNext = 0;
  let done = 0;
  for (let i = 0; i < order.length; ) {
    const q = input.points[order[i]!]!.q;
    let end = i;
    while (end < order.length && input.points[order[end]!]!.q === q) end++;
    while (batchNext < batchAt.length && batchAt[batchNext]! <= q) {
      const at = batchAt[batchNext++]!;
      await streamUntil(at);
      clock.set(at);
      await input.batch?.(at);
    }
    await streamUntil(q);
    clock.set(q);
    for (let from = i; from < end; from += MAX_READ) {
      const indices = order.slice(from, Math.min(end, from + MAX_READ));
      const rows = await store.getOnlineFeatures({
        service: input.selection,
        entities: indices.map((p) => input.points[p]!.entity),
        at: q,
      });
      counts.reads++;
      input.onRead(indices, rows);
      done += indices.length;
      input.onProgress?.(done, order.length);
    }
    i = end;
  }
  return counts;
}

function toOnlineEvent(event: TimelineEvent): OnlineEvent {
  return {
    key: event.key,
    ts: event.ts,
    eventId: event.eventId,
    seq: event.seq,
    ingestedAt: event.ingestedAt,
    values: event.values,
  };
}
