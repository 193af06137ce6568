import { type AnyFeature, canonicalJson, type FeatureService, fingerprint } from '@tandem/core';
import type { OfflineStore } from '../../offline/store.js';
import type { OnlineFeatureRow, OnlineFeatureValue, OnlineStore } from '../../online/store.js';
import { checkParity } from '../check.js';
import type { ParityPoint, ParityProgress, ParityReport } from '../types.js';
import {
  CONSISTENCY_LOG_TABLE,
  type ConsistencyLogRange,
  type LoggedDefinition,
  readConsistencyLog,
  type StoredConsistencyRecord,
} from './table.js';

/** Options of {@link checkConsistency}. */
export interface CheckConsistencyOptions {
  /** The offline store: its SQL gives the offline value at each logged `(entity, q)`. */
  readonly offline: OfflineStore;
  /**
   * The current definitions (services and features): a logged feature is checked when one of
   * them has its name and the same definition fingerprint; otherwise it is reported as skipped.
   */
  readonly definitions: readonly (FeatureService | AnyFeature)[];
  /** Schema of the log tables; default the offline store's schema. */
  readonly schema?: string;
  /** Only reads of this feature service (by the name it was logged with). */
  readonly service?: string;
  /** Which records: a `q` range and/or the most recent `limit`; default every record. */
  readonly range?: ConsistencyLogRange;
  /** Worst examples kept per feature; default 5. */
  readonly examples?: number;
  /** Progress of each group's offline phase. */
  readonly onProgress?: (progress: ParityProgress & { readonly group: string }) => void;
}

/** The records of one logged definition and how they compared. */
export interface ConsistencyGroup {
  /** The definition fingerprint the reads were logged under. */
  readonly fingerprint: string;
  /** The service read, or null for a feature list. */
  readonly service: string | null;
  /** Records of this definition. */
  readonly records: number;
  /** Logged features not checked, and why (renamed, removed or redefined since). */
  readonly unmatched: readonly { readonly feature: string; readonly reason: string }[];
  /** The comparison (checkParity's report over the logged points); null when nothing matched. */
  readonly report: ParityReport | null;
}

/** The mismatch rate of one feature: the share of its logged values that disagree offline. */
export interface ConsistencyRate {
  readonly feature: string;
  /** Logged values compared. */
  readonly checked: number;
  /** Of those: mismatch, offline_null or online_null. */
  readonly disagreements: number;
  /** `disagreements / checked` (0 when nothing was checked). */
  readonly rate: number;
}

/** The result of {@link checkConsistency}: JSON-serializable. */
export interface ConsistencyReport {
  readonly version: 1;
  /** True when every compared value agrees. */
  readonly ok: boolean;
  /** When the check started (wall clock), epoch ms. */
  readonly startedAt: number;
  /** Run time, ms. */
  readonly durationMs: number;
  /** The log table read (`schema.table`) and the range asked for. */
  readonly log: { readonly table: string; readonly range: ConsistencyLogRange };
  /** Records read. */
  readonly records: number;
  /** Records compared (in groups with matching features). */
  readonly checked: number;
  /** Earliest and latest logged `q`; null without records. */
  readonly from: number | null;
  readonly to: number | null;
  /** One group per logged definition, the largest first. */
  readonly groups: readonly ConsistencyGroup[];
  /** Per-feature mismatch rates over every group (the metric serving exports). */
  readonly rates: readonly ConsistencyRate[];
}

/**
 * Backfills the logged online reads offline and compares (production consistency, issue 5): reads
 * the records of `withConsistencyLog`, groups them by logged definition, matches each logged
 * feature with the current definition of the same name and fingerprint, and runs `checkParity`
 * on the logged `(entity, q)` points with the logged values as the online side (the events are
 * still loaded, so tolerances and examples are those of a parity run). Reports checkParity's
 * metrics per group, and per-feature mismatch rates over all of them.
 * @throws {TandemError} `UNKNOWN_TABLE` when the schema has no consistency log.
 */
export async function checkConsistency(
  options: CheckConsistencyOptions,
): Promise<ConsistencyReport> {
  const startedAt = Date.now();
  const schema = options.schema ?? options.offline.schema;
  const range = options.range ?? {};
  const log = await readConsistencyLog(options.offline.executor, schema, range);
  const { definitions } = log;
  const records =
    options.service === undefined
      ? log.records
      : log.records.filter((r) => definitions.get(r.fingerprint)?.service === options.service);
  const current = currentFeatures(options.definitions);
  const byFingerprint = new Map<string, StoredConsistencyRecord[]>();
  for (const record of records) {
    const list = byFingerprint.get(record.fingerprint) ?? [];
    list.push(record);
    byFingerprint.set(record.fingerprint, list);
  }
  const groups: ConsistencyGroup[] = [];
  for (const [fp, list] of [...byFingerprint].sort((a, b) => b[1].length - a[1].length)) {
    const definition = definitions.get(fp);
    const { matched, unmatched } = matchFeatures(definition, current);
    let report: ParityReport | null = null;
    if (matched.length > 0) {
      report = await compareGroup(options, matched, list, fp.slice(0, 12));
    }
    groups.push({
      fingerprint: fp,
      service: definition?.service ?? null,
      records: list.length,
      unmatched,
      report,
    });
  }
  const qs = records.map((r) => r.q);
  const rates = ratesOf(groups);
  return {
    version: 1,
    ok: groups.every((g) => g.report === null || g.report.ok),
    startedAt,
    durationMs: Date.now() - startedAt,
    log: { table: `${schema}.${CONSISTENCY_LOG_TABLE}`, range },
    records: records.length,
    checked: groups.reduce((n, g) => n + (g.report === null ? 0 : g.records), 0),
    from: qs.length === 0 ? null : Math.min(...qs),
    to: qs.length === 0 ? null : Math.max(...qs),
    groups,
    rates,
  };
}

/**
 * The per-feature mismatch rates of a consistency report: the share of logged values of each
 * feature that disagree with the offline value. A gauge callback in serving can export them
 * (e.g. prom-client `tandem_consistency_mismatch_rate{feature}`).
 */
export function consistencyRates(report: ConsistencyReport): readonly ConsistencyRate[] {
  return report.rates;
}

function ratesOf(groups: readonly ConsistencyGroup[]): ConsistencyRate[] {
  const sums = new Map<string, { checked: number; disagreements: number }>();
  for (const group of groups) {
    for (const f of group.report?.features ?? []) {
      const sum = sums.get(f.name) ?? { checked: 0, disagreements: 0 };
      sum.checked += f.total;
      sum.disagreements += f.mismatch + f.offlineNull + f.onlineNull;
      sums.set(f.name, sum);
    }
  }
  return [...sums].map(([feature, s]) => ({
    feature,
    checked: s.checked,
    disagreements: s.disagreements,
    rate: s.checked === 0 ? 0 : s.disagreements / s.checked,
  }));
}

/** Every feature the definitions name (services' outputs and dependencies too), by name. */
function currentFeatures(
  definitions: readonly (FeatureService | AnyFeature)[],
): Map<string, AnyFeature> {
  const byName = new Map<string, AnyFeature>();
  const add = (feature: AnyFeature) => {
    if (!byName.has(feature.name)) byName.set(feature.name, feature);
    for (const input of feature.inputs) add(input);
  };
  for (const item of definitions) {
    if ('dependencies' in item) {
      for (const f of item.features) add(f);
      for (const f of item.dependencies) add(f);
    } else {
      add(item);
    }
  }
  return byName;
}

function matchFeatures(
  definition: LoggedDefinition | undefined,
  current: ReadonlyMap<string, AnyFeature>,
): { matched: AnyFeature[]; unmatched: { feature: string; reason: string }[] } {
  if (definition === undefined) {
    return {
      matched: [],
      unmatched: [{ feature: '*', reason: 'the definition of these records was not logged' }],
    };
  }
  const matched: AnyFeature[] = [];
  const unmatched: { feature: string; reason: string }[] = [];
  for (const logged of definition.features) {
    const feature = current.get(logged.name);
    if (feature === undefined) {
      unmatched.push({ feature: logged.name, reason: 'no current feature has this name' });
    } else if (fingerprint(feature) !== logged.fingerprint) {
      unmatched.push({
        feature: logged.name,
        reason: 'its definition changed since the reads were logged (another fingerprint)',
      });
    } else {
      matched.push(feature);
    }
  }
  return { matched, unmatched };
}

async function compareGroup(
  options: CheckConsistencyOptions,
  features: readonly AnyFeature[],
  records: readonly StoredConsistencyRecord[],
  group: string,
): Promise<ParityReport> {
  const points: ParityPoint[] = records.map((r) => ({ entity: r.entity, q: r.q }));
  // The logged values, by entity and q, in log order (repeated reads of one point keep theirs).
  const queues = new Map<string, StoredConsistencyRecord[]>();
  const tagOf = (entity: object, q: number) => `${q}\u0000${canonicalJson(entity)}`;
  for (const record of records) {
    const tag = tagOf(record.entity, record.q);
    const list = queues.get(tag) ?? [];
    list.push(record);
    queues.set(tag, list);
  }
  const report = await checkParity({
    offline: options.offline,
    features,
    sample: points,
    // The logged values are the online side: no replay, no batch layer to exercise.
    materialize: false,
    ...(options.examples === undefined ? {} : { examples: options.examples }),
    onProgress: (p) => options.onProgress?.({ ...p, group }),
    online: ({ namespace }) => loggedValuesStore(namespace, features, queues, tagOf),
  });
  return {
    ...report,
    replay: {
      ...report.replay,
      writes: 0,
      notes: [
        `Compared ${records.length} logged online reads (values as served, from the consistency log) with the offline values at the same (entity, q); the events of their ${report.sample.entities} entities were loaded for tolerances and examples, not replayed.`,
        ...report.replay.notes
          .slice(1)
          .filter((n) => !/allowed lateness|materializ|stream layer/.test(n)),
      ],
    },
  };
}

/**
 * An online store that serves the logged values: writes are ignored (counted as applied), a read
 * at `q` returns, for each entity, the next logged record of that `(entity, q)`.
 */
function loggedValuesStore(
  namespace: string,
  features: readonly AnyFeature[],
  queues: Map<string, StoredConsistencyRecord[]>,
  tagOf: (entity: object, q: number) => string,
): OnlineStore {
  const served = new Map<string, number>();
  return {
    namespace,
    allowedLateness: Number.MAX_SAFE_INTEGER,
    features: new Map(),
    async writeEvents(_source, events) {
      return { applied: events.length, duplicates: 0, late: 0 };
    },
    async writeTiles() {},
    async getOnlineFeatures(request): Promise<OnlineFeatureRow[]> {
      const q = request.at ?? 0;
      return request.entities.map((entity) => {
        const tag = tagOf(entity, q);
        const at = served.get(tag) ?? 0;
        served.set(tag, at + 1);
        const record = queues.get(tag)?.[at];
        const values: Record<string, OnlineFeatureValue> = {};
        for (const f of features) {
          values[f.name] = {
            value: (record?.values[f.name] ?? null) as OnlineFeatureValue['value'],
            status: (record?.statuses[f.name] ?? 'missing') as OnlineFeatureValue['status'],
            freshnessMs: null,
          };
        }
        return { entity, values };
      });
    },
    async watermark() {
      return null;
    },
    async setWatermark() {},
    async lateEvents() {
      return {};
    },
    async clear() {},
    async close() {},
  } as OnlineStore;
}
