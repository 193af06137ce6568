import type {
  AggregationFn,
  AnyFeature,
  DurationInput,
  FeatureService,
  ScalarValue,
  ValueType,
} from '@tandem/core';
import type { OfflineStore } from '../offline/store.js';
import type { OnlineAdapter } from '../online/adapter.js';
import type { OnlineStore } from '../online/store.js';

/** Entity keys of one sampled row: every key of every entity the checked features use. */
export type EntityKey = Readonly<Record<string, string | number>>;

/** One checked point: an entity and the time `q` both paths are read as of. */
export interface ParityPoint {
  /** Entity keys (of every entity the features use). */
  readonly entity: EntityKey;
  /** As-of time, epoch ms. */
  readonly q: number;
}

/**
 * Points sampled from the data: `entities` distinct entities (a seeded hash order over the keys
 * found in the sources), `perEntity` times each. Times are biased towards the places where
 * windows change: event times and 1 ms after them, arrival (ingestion) times, window edges
 * (`T(q)` reaching an event) and their neighbours; the rest are spread uniformly over the
 * data's time range (or `[from, to]`).
 */
export interface SampledPoints {
  /** Entities to sample. */
  readonly entities: number;
  /** Times per entity. */
  readonly perEntity: number;
  /** Seed of the sample; the same seed over the same data gives the same points. Default 1. */
  readonly seed?: number;
  /** Earliest uniform time, epoch ms; default the data's first event time. */
  readonly from?: number;
  /** Latest uniform time, epoch ms; default the data's last event (or arrival) time + 1. */
  readonly to?: number;
}

/** The points of a parity run: explicit `(entity, q)` pairs, or a sample drawn from the data. */
export type ParitySample = readonly ParityPoint[] | SampledPoints;

/** What a {@link OnlineStoreFactory} is given to build the scratch store of a replay. */
export interface ScratchStoreOptions {
  /** The scratch namespace (`<namespace>:parity:<run id>`): use it, the run clears it. */
  readonly namespace: string;
  /** The replay's simulated clock: pass it as the store's `clock`. */
  readonly clock: () => number;
  /** The features to keep online. */
  readonly features: readonly AnyFeature[];
  /** The allowed lateness of the run, ms. */
  readonly allowedLateness: number;
}

/**
 * Builds the online store a parity run replays into, e.g. to wrap a real store. It must use the
 * given namespace and clock (see `createOnlineStore`).
 */
export type OnlineStoreFactory = (options: ScratchStoreOptions) => OnlineStore;

/** When the replay runs batch materialization (the batch layer), besides streaming. */
export interface ParityMaterializeOptions {
  /**
   * Simulated times at which to materialize (each with the default end, the time minus the allowed
   * lateness), or `'middle'`: once, at the median sampled time. Default `'middle'`.
   */
  readonly at?: 'middle' | readonly number[];
}

/** Options of {@link checkParity}. */
export interface CheckParityOptions {
  /** The offline store (Postgres or PGlite): its events are the timeline, its SQL the offline values. */
  readonly offline: OfflineStore;
  /**
   * The online engine the timeline is replayed into: an adapter (a scratch namespace is used on
   * it and cleared afterwards; the adapter is not closed), or a factory building the online store.
   * Default: a fresh in-process engine whose key expiry runs on the replay's clock.
   */
  readonly online?: OnlineAdapter | OnlineStoreFactory;
  /** The feature service to check (its output features). Give this or `features`. */
  readonly service?: FeatureService;
  /** The features to check. Give this or `service`. */
  readonly features?: readonly AnyFeature[];
  /** The points to check. */
  readonly sample: ParitySample;
  /** Allowed lateness of the replayed online store; default `1h` (the online store's default). */
  readonly allowedLateness?: DurationInput;
  /** Namespace the scratch namespace is made under; default `tandem`. */
  readonly namespace?: string;
  /**
   * Batch materialization during the replay (the batch layer that repairs late events), or
   * `false` for streaming only. Default `false` until materialization is available to the run.
   */
  readonly materialize?: false | ParityMaterializeOptions;
  /** Worst examples kept per feature; default 5. */
  readonly examples?: number;
  /** Events shown just outside the window on each side of an example; default 3. */
  readonly context?: number;
  /** Events shown inside the window of an example (the ones nearest its edges); default 40. */
  readonly windowEvents?: number;
  /** Progress of the run's phases. */
  readonly onProgress?: (progress: ParityProgress) => void;
}

/** Progress of a parity run. */
export interface ParityProgress {
  readonly phase: 'sample' | 'offline' | 'replay';
  readonly done: number;
  readonly total: number;
}

/** How a feature's values are compared. */
export type ParityComparison =
  /** Bitwise equal (lists element-wise). */
  | 'exact'
  /** Float sums and the means, variances and deviations made of them: the DESIGN §3 bound. */
  | 'float-sum-bound'
  /** Derived features: a tolerance propagated from their inputs' bounds. */
  | 'derived-tolerance';

/** Why one side of a compared value disagrees. */
export type DisagreementKind = 'mismatch' | 'offline_null' | 'online_null';

/** Where an event of an example lies relative to its window `[T(q), q)`. */
export type EventPosition = 'before' | 'window' | 'after';

/** One event of an example's entity near the window. */
export interface ExampleEvent {
  /** Event time, epoch ms. */
  readonly ts: number;
  readonly eventId: string | null;
  readonly seq: number | null;
  /** Ingestion time, epoch ms; null when the source has none. */
  readonly ingestedAt: number | null;
  /** Field values. */
  readonly values: Readonly<Record<string, ScalarValue>>;
  /** By time: before `T(q)`, inside `[T(q), q)`, or at/after `q`. */
  readonly position: EventPosition;
  /** True when the event counts as of q (window, as-of rule on ingestion, `where`). */
  readonly counts: boolean;
  /** True when the replay streamed it later than the allowed lateness (the stream layer skipped it). */
  readonly late: boolean;
  /** For a late event: true when a batch materialization before q covered it (repaired online). */
  readonly repaired: boolean;
  /** `'T(q)'`, `'T(q)-1'`, `'q-1'` or `'q'` when the event sits exactly on a window edge. */
  readonly edge: string | null;
}

/** The events of one aggregation behind an example (a derived feature has one per input). */
export interface ExampleWindow {
  /** The aggregation feature. */
  readonly feature: string;
  /** Its source. */
  readonly source: string;
  /** `T(q)`; null for lifetime windows. */
  readonly start: number | null;
  /** `q`: the window's exclusive end. */
  readonly end: number;
  /** Events: the few just before the window, those inside it (nearest its edges), the few after. */
  readonly events: readonly ExampleEvent[];
  /** Events inside the window left out of `events` (only the ones nearest its edges are kept). */
  readonly omitted: number;
}

/** One disagreeing value, with what it rests on. */
export interface ParityExample {
  readonly kind: DisagreementKind;
  readonly entity: EntityKey;
  /** As-of time, epoch ms. */
  readonly q: number;
  /** The offline (SQL) value. */
  readonly offline: ScalarValue | readonly ScalarValue[];
  /** The online value. */
  readonly online: ScalarValue | readonly ScalarValue[];
  /** The value of the TypeScript reference fold over the same events (the tie-breaker). */
  readonly reference: ScalarValue | readonly ScalarValue[];
  /** Online status of the value (`present`, `missing`, ...). */
  readonly onlineStatus: string;
  /** `|offline - online|` for numbers, else null. */
  readonly difference: number | null;
  /** The tolerance the difference was held to (0 when exact). */
  readonly tolerance: number;
  /**
   * True when a window holds an event that counts offline but arrived later than the allowed
   * lateness and was not repaired by a materialization before q: expected online staleness.
   */
  readonly unrepairedLate: boolean;
  /** The events near the window(s). */
  readonly windows: readonly ExampleWindow[];
}

/** Parity of one feature over every sampled point. */
export interface FeatureParity {
  readonly name: string;
  /** `aggregation` or `derived`. */
  readonly kind: 'aggregation' | 'derived';
  /** The aggregation function, for aggregations. */
  readonly aggregation: AggregationFn | null;
  readonly valueType: ValueType;
  readonly list: boolean;
  readonly comparison: ParityComparison;
  /** Points checked. */
  readonly total: number;
  /** Both values non-null and equal (within the tolerance). */
  readonly agree: number;
  /** Both null. */
  readonly bothNull: number;
  /** Offline null, online not. */
  readonly offlineNull: number;
  /** Online null, offline not. */
  readonly onlineNull: number;
  /** Both non-null, different beyond the tolerance. */
  readonly mismatch: number;
  /** Of `agree`: equal only within the tolerance, not bitwise. */
  readonly withinTolerance: number;
  /**
   * Of the disagreements: those whose window holds an event that arrived later than the allowed
   * lateness and that no materialization had repaired by q (expected online staleness, not an
   * engine bug; see docs/parity.md).
   */
  readonly unrepairedLate: number;
  /** Numeric pairs (both values numbers) that `smape` is over. */
  readonly numericPairs: number;
  /**
   * Symmetric mean absolute percentage error over the numeric pairs, in percent (0 to 200):
   * `100 * mean(2 |a - b| / (|a| + |b|))`, a pair of zeros counting 0. Null without numeric pairs.
   */
  readonly smape: number | null;
  /** Largest `|offline - online|` over numeric pairs. */
  readonly maxDifference: number;
  /** The worst disagreements, worst first: null against a value, then by relative difference. */
  readonly examples: readonly ParityExample[];
}

/** What the replay did to the scratch online store. */
export interface ParityReplay {
  /** `memory` (the default in-process engine), `adapter` (the one given) or `factory`. */
  readonly engine: 'memory' | 'adapter' | 'factory';
  /** The scratch namespace (cleared after the run). */
  readonly namespace: string;
  /** Allowed lateness, ms. */
  readonly allowedLateness: number;
  /** Events of the sampled entities streamed, in arrival order (ingestion time, then sequence). */
  readonly events: number;
  /** Of those, applied by the stream layer. */
  readonly applied: number;
  /** Of those, duplicates of an event id already applied. */
  readonly duplicates: number;
  /** Of those, later than the allowed lateness: skipped by the stream layer (batch layer's job). */
  readonly late: number;
  /** `writeEvents` calls. */
  readonly writes: number;
  /** `getOnlineFeatures` calls (one per distinct q). */
  readonly reads: number;
  /** Batch materializations run during the replay (simulated time and end). */
  readonly materializations: readonly { readonly at: number; readonly end: number }[];
  /** Sources whose events have neither an event id nor a sequence: replayed with a synthetic one. */
  readonly syntheticSequence: readonly string[];
  /** Plain-language notes on what the run did. */
  readonly notes: readonly string[];
}

/** The result of {@link checkParity}: JSON-serializable. */
export interface ParityReport {
  /** Report format version. */
  readonly version: 1;
  /** True when no value disagrees (no mismatch and no null on one side only). */
  readonly ok: boolean;
  /** When the run started, epoch ms (wall clock). */
  readonly startedAt: number;
  /** Run time, ms. */
  readonly durationMs: number;
  /** The service checked, or null for a feature list. */
  readonly service: string | null;
  /** The points. */
  readonly sample: {
    readonly mode: 'explicit' | 'sampled';
    readonly points: number;
    readonly entities: number;
    readonly seed: number | null;
    /** Earliest and latest q. */
    readonly from: number | null;
    readonly to: number | null;
  };
  /** What the online replay did. */
  readonly replay: ParityReplay;
  /** Sums over every feature. */
  readonly totals: {
    readonly values: number;
    readonly agree: number;
    readonly bothNull: number;
    readonly offlineNull: number;
    readonly onlineNull: number;
    readonly mismatch: number;
    /** `mismatch + offlineNull + onlineNull`. */
    readonly disagreements: number;
    /** Of the disagreements, those explained by late events not yet repaired at q. */
    readonly unrepairedLate: number;
  };
  /** Per feature, in the order checked. */
  readonly features: readonly FeatureParity[];
  /** Features not checked (request-time features: computed by the same code on both paths). */
  readonly skipped: readonly { readonly feature: string; readonly reason: string }[];
}
