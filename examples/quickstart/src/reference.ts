/**
 * The TypeScript reference: every feature of a service for one entity row, computed in memory
 * from the raw deliveries by core's fold, the semantics the offline store's SQL must match.
 * Aggregations: `compileFolder(ir).fold(events, q)` (dedupe, as-of and window rules included)
 * and `featureValue`; derived features: `compileJs`; request features: their `compute`.
 */
import {
  compileFolder,
  compileJs,
  type FeatureService,
  featureValue,
  type Intermediate,
  type ScalarValue,
  type SourceEvent,
} from '@tandem/core';
import type { DemoData, QueryPair } from './data.js';
import { profiles, transactions } from './features.js';

/** A feature value: a scalar, or a list for `lastK` / `firstK`. */
export type Value = ScalarValue | readonly ScalarValue[];

/** One feature computed by the reference. */
export interface Computed {
  /** The aggregation intermediate (aggregation features only). */
  readonly intermediate?: Intermediate;
  /** The value, default applied. */
  readonly value: Value;
}

/** The reference computation of `service`: an entity row in, every feature by name out. */
export function referenceEngine(
  service: FeatureService,
  data: DemoData,
): (row: QueryPair) => Map<string, Computed> {
  const eventsOf = eventsByUser(data);
  const steps = service.dependencies.map((feature) => {
    const ir = feature.ir;
    if (ir.kind === 'aggregation') {
      const { fold } = compileFolder(ir);
      return (row: QueryPair): Computed => {
        const intermediate = fold(eventsOf(ir.source.name, row.user_id), row.q);
        return { intermediate, value: featureValue(ir, intermediate) };
      };
    }
    if (ir.kind === 'derived') {
      const evaluate = compileJs(ir.expr);
      return (_row: QueryPair, computed: Map<string, Computed>): Computed => ({
        value: evaluate({
          column: () => null,
          feature: (name) => computed.get(name)!.value as ScalarValue,
        }),
      });
    }
    return (row: QueryPair, computed: Map<string, Computed>): Computed => {
      const inputs = feature.inputs.map((f) => [f.name, computed.get(f.name)!.value]);
      const request = feature.inputSchema!.parse(row);
      return { value: feature.compute!(request as never, Object.fromEntries(inputs) as never) };
    };
  });
  return (row) => {
    const computed = new Map<string, Computed>();
    service.dependencies.forEach((feature, i) => {
      computed.set(feature.name, steps[i]!(row, computed));
    });
    return computed;
  };
}

/**
 * The rows as the reference sees them, by source and user: every delivery of a transaction
 * stamped with its batch's arrival time (redelivered copies included: the fold dedupes them),
 * and the profile rows.
 */
function eventsByUser(data: DemoData): (source: string, user: string) => readonly SourceEvent[] {
  const lists = new Map<string, SourceEvent[]>();
  const add = (source: string, user: string, event: SourceEvent) => {
    const list = lists.get(`${source}/${user}`) ?? [];
    list.push(event);
    lists.set(`${source}/${user}`, list);
  };
  for (const { arrivedAt, events } of data.batches) {
    for (const { user_id, ts, eventId, ...values } of events) {
      add(transactions.name, user_id, { ts, eventId, ingestedAt: arrivedAt, values });
    }
  }
  for (const { id, updated_at, ...values } of data.profiles) {
    add(profiles.name, id, { ts: updated_at, values });
  }
  return (source, user) => lists.get(`${source}/${user}`) ?? [];
}
