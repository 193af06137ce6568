import { accumulate, emptyIntermediate, finalize } from '../aggregations/fold.js';
import type { Intermediate, TimedValue } from '../aggregations/spec.js';
import type { FeatureIR } from '../definitions/feature.js';
import { TandemError } from '../errors/errors.js';
import { compileJs, type EvalScope } from '../expr/evaluate.js';
import type { ScalarValue } from '../expr/types.js';
import { inWindow } from '../time/window.js';

/** One event (or attribute row) of one entity, as the TS engines see it. */
export interface SourceEvent {
  /** Event time, epoch ms. */
  readonly ts: number;
  /** Unique event id, if the source has one. */
  readonly eventId?: string | null;
  /** Ingestion sequence, if known. */
  readonly seq?: number | null;
  /** Ingestion time, epoch ms, if known. */
  readonly ingestedAt?: number | null;
  /** Field values by field name. */
  readonly values: Readonly<Record<string, ScalarValue>>;
}

/**
 * Drops repeated event ids, keeping the earliest ingested copy (by ingestion time, then
 * sequence, then event time; unknown last) — the same rule as the SQL relation.
 */
export function dedupeEvents(events: readonly SourceEvent[]): SourceEvent[] {
  const kept = new Map<string, SourceEvent>();
  const result: SourceEvent[] = [];
  for (const event of events) {
    const id = event.eventId ?? null;
    if (id === null) {
      result.push(event);
      continue;
    }
    const previous = kept.get(id);
    if (previous === undefined || copyOrder(event, previous) < 0) kept.set(id, event);
  }
  return [...result, ...kept.values()];
}

function copyOrder(a: SourceEvent, b: SourceEvent): number {
  return (
    nullableOrder(a.ingestedAt ?? null, b.ingestedAt ?? null) ||
    nullableOrder(a.seq ?? null, b.seq ?? null) ||
    a.ts - b.ts
  );
}

function nullableOrder(a: number | null, b: number | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a - b;
}

/** A compiled TS evaluator of one aggregation feature: events in, intermediate out. */
export interface FeatureFolder {
  /** True when the event counts as of `q` (window, as-of rule and `where`). */
  readonly counts: (event: SourceEvent, q: number) => boolean;
  /** True when the event passes the feature's `where` filter (whatever the time). */
  readonly matches: (event: SourceEvent) => boolean;
  /** The aggregated value of an event (null is ignored, except by `latest`). */
  readonly eventValue: (event: SourceEvent) => ScalarValue;
  /** Adds an event that counts to an intermediate. */
  readonly add: (state: Intermediate, event: SourceEvent) => Intermediate;
  /** The intermediate over a set of events of one entity as of `q` (dedupe included). */
  readonly fold: (events: readonly SourceEvent[], q: number) => Intermediate;
}

/** Compiles the TS fold of an aggregation feature; the reference both engines must match. */
export function compileFolder(feature: FeatureIR): FeatureFolder {
  if (feature.kind !== 'aggregation') {
    throw new TandemError(
      'INVALID_ARGUMENT',
      `feature ${feature.name} is ${feature.kind}, not an aggregation`,
    );
  }
  const spec = feature.aggregation;
  const value = feature.value === null ? null : compileJs(feature.value);
  const where = feature.where === null ? null : compileJs(feature.where);
  const knowsIngestion = feature.source.ingestedAt !== null;
  const scopeOf = (event: SourceEvent): EvalScope => ({
    column: (name) => event.values[name] ?? null,
    feature: () => null,
  });
  const matches = (event: SourceEvent) => where === null || where(scopeOf(event)) === true;
  const counts = (event: SourceEvent, q: number) => {
    if (!inWindow(feature.window, q, event.ts)) return false;
    if (knowsIngestion && event.ingestedAt != null && event.ingestedAt > q) return false;
    return matches(event);
  };
  const eventValue = (event: SourceEvent) => (value === null ? true : value(scopeOf(event)));
  const add = (state: Intermediate, event: SourceEvent) => {
    const v = eventValue(event);
    if (v === null && spec.fn !== 'latest') return state;
    const input: TimedValue = {
      ts: event.ts,
      eventId: event.eventId ?? null,
      seq: event.seq ?? null,
      value: v,
    };
    return accumulate(spec, state as never, input);
  };
  const fold = (events: readonly SourceEvent[], q: number) => {
    let state = emptyIntermediate(spec) as Intermediate;
    for (const event of dedupeEvents(events)) if (counts(event, q)) state = add(state, event);
    return state;
  };
  return { counts, matches, eventValue, add, fold };
}

/** The value of an aggregation feature from its intermediate: `finalize`, then the default. */
export function featureValue(
  feature: FeatureIR,
  state: Intermediate,
): ScalarValue | readonly ScalarValue[] {
  if (feature.kind !== 'aggregation') {
    throw new TandemError(
      'INVALID_ARGUMENT',
      `feature ${feature.name} is ${feature.kind}, not an aggregation`,
    );
  }
  const value = finalize(feature.aggregation, state as never);
  return value === null ? feature.default : value;
}
