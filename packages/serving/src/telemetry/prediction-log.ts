import type { SqlExecutor } from '@tandem/feature-store';
import { type SQL, sql } from 'drizzle-orm';
import { ServingError } from '../errors/errors.js';
import type { EntityKeyValue } from '../features/source.js';
import { redactRecord } from './logger.js';

/** One logged prediction. */
export interface PredictionRecord {
  /** Prediction id (returned to the client as `id`; labels are attached by it). */
  readonly id: string;
  /** When the prediction was made, epoch ms. */
  readonly ts: number;
  /** Model name and the version that answered. */
  readonly model: string;
  readonly version: string;
  /** Entity keys of the request. */
  readonly entity: Readonly<Record<string, EntityKeyValue>>;
  /** The validated request (entity keys and request data), PII redacted before writing. */
  readonly request: Readonly<Record<string, unknown>>;
  /** The feature vector (name -> value), or null when none was fetched. */
  readonly features: Readonly<Record<string, unknown>> | null;
  /** The prediction sent back. */
  readonly prediction: unknown;
  /** The fallback reason, or null for a model answer. */
  readonly fallback: string | null;
  /** Request latency, ms. */
  readonly latencyMs: number;
}

/** A logged prediction as read back, with its label. */
export interface StoredPrediction extends PredictionRecord {
  /** The label attached later (ground truth), or null. */
  readonly label: unknown;
  /** When the label was attached, epoch ms, or null. */
  readonly labeledAt: number | null;
}

/** Options of {@link createPredictionLog}. */
export interface PredictionLogOptions {
  /** Where to write (`postgresExecutor(...)` or `pgliteExecutor(...)` of `@tandem/feature-store`). */
  readonly executor: SqlExecutor;
  /** Schema of the table (created on first use). */
  readonly schema: string;
  /** Table name; default `prediction_log`. */
  readonly table?: string;
  /**
   * Share of entities whose predictions are logged, 0..1, decided by a hash of the entity keys
   * (an entity is always in or always out, so its whole history is logged). Default 0.01.
   */
  readonly sampleRate?: number;
  /** Salt of the sampling hash (another salt samples another set of entities). */
  readonly salt?: string;
  /** Request fields to redact (dotted paths) before writing. */
  readonly redact?: readonly string[];
  /** Records buffered before a write; default 256. */
  readonly maxBatch?: number;
  /** Longest time a record waits in the buffer, ms; default 1000. */
  readonly flushIntervalMs?: number;
  /** Records held at most (unwritten); more are dropped and counted. Default 10 000. */
  readonly maxBuffer?: number;
  /** Called with counts (metrics): sampled, written, dropped, failed. */
  readonly onCount?: (outcome: 'sampled' | 'written' | 'dropped' | 'failed', n: number) => void;
  /** Called when a write fails (the records are dropped, never retried forever). */
  readonly onError?: (error: unknown) => void;
}

/**
 * Sampled prediction logging to Postgres (or PGlite) for the feedback loop: records are buffered
 * and written in batches off the request path; labels are attached later by prediction id.
 */
export interface PredictionLog {
  /** True when the entity is in the sample (key-hash sampling). */
  sampled(entity: Readonly<Record<string, EntityKeyValue>>): boolean;
  /** Buffers a record when its entity is sampled; returns whether it was. Never throws. */
  record(record: PredictionRecord): boolean;
  /** Writes what is buffered; resolves to the number of records written. */
  flush(): Promise<number>;
  /**
   * Attaches a label (ground truth) to a logged prediction; false when no prediction with that id
   * was logged (not sampled, or unknown).
   */
  attachLabel(id: string, label: unknown, at?: number): Promise<boolean>;
  /** Reads a logged prediction back, or null. */
  get(id: string): Promise<StoredPrediction | null>;
  /** The qualified table name (`"schema"."table"`). */
  readonly table: string;
  /** Flushes and stops the timer. */
  close(): Promise<void>;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Creates a {@link PredictionLog}; the table is created on the first write or read. */
export function createPredictionLog(options: PredictionLogOptions): PredictionLog {
  const tableName = options.table ?? 'prediction_log';
  for (const [what, name] of [
    ['schema', options.schema],
    ['table', tableName],
  ] as const) {
    if (typeof name !== 'string' || !IDENTIFIER.test(name)) {
      throw new ServingError(
        'INVALID_OPTIONS',
        `prediction log ${what} ${JSON.stringify(name)} is not a valid identifier`,
      );
    }
  }
  const sampleRate = options.sampleRate ?? 0.01;
  if (!(sampleRate >= 0 && sampleRate <= 1)) {
    throw new ServingError('INVALID_OPTIONS', 'prediction log sampleRate must be between 0 and 1');
  }
  const maxBatch = options.maxBatch ?? 256;
  const maxBuffer = options.maxBuffer ?? 10_000;
  const flushIntervalMs = options.flushIntervalMs ?? 1000;
  const redact = options.redact ?? [];
  const salt = options.salt ?? '';
  const executor = options.executor;
  const table = sql`${sql.identifier(options.schema)}.${sql.identifier(tableName)}`;
  const threshold = Math.floor(sampleRate * 0x1_0000_0000);
  const count = (outcome: 'sampled' | 'written' | 'dropped' | 'failed', n: number) => {
    if (n > 0) options.onCount?.(outcome, n);
  };

  let buffer: PredictionRecord[] = [];
  let ready: Promise<void> | undefined;
  let writing: Promise<number> = Promise.resolve(0);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const ensureTable = () => {
    ready ??= (async () => {
      for (const statement of ddl(options.schema, tableName, table)) {
        await executor.query(statement);
      }
    })().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };

  const writeBatch = async (batch: PredictionRecord[]): Promise<number> => {
    if (batch.length === 0) return 0;
    try {
      await ensureTable();
      const rows = JSON.stringify(
        batch.map((r) => ({
          id: r.id,
          ts: r.ts,
          model: r.model,
          version: r.version,
          entity: r.entity,
          request: redactRecord(r.request, redact),
          features: r.features === null ? null : redactRecord(r.features, redact),
          prediction: r.prediction ?? null,
          fallback: r.fallback,
          latency_ms: r.latencyMs,
        })),
      );
      await executor.query(sql`INSERT INTO ${table}
        (id, ts, model, version, entity, request, features, prediction, fallback, latency_ms)
        SELECT id, ts, model, version, entity, request, features, prediction, fallback, latency_ms
        FROM jsonb_to_recordset(CAST(${rows} AS jsonb)) AS r(
          id text, ts bigint, model text, version text, entity jsonb, request jsonb,
          features jsonb, prediction jsonb, fallback text, latency_ms double precision)
        ON CONFLICT (id) DO NOTHING`);
      count('written', batch.length);
      return batch.length;
    } catch (error) {
      count('failed', batch.length);
      try {
        options.onError?.(error);
      } catch {
        // Telemetry never throws into the caller.
      }
      return 0;
    }
  };

  const flush = (): Promise<number> => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    const batch = buffer;
    buffer = [];
    writing = writing.then(async () => {
      let written = 0;
      for (let i = 0; i < batch.length; i += maxBatch) {
        written += await writeBatch(batch.slice(i, i + maxBatch));
      }
      return written;
    });
    return writing;
  };

  const log: PredictionLog = {
    table: `"${options.schema}"."${tableName}"`,
    sampled(entity) {
      if (threshold === 0) return false;
      if (threshold >= 0x1_0000_0000) return true;
      return fnv1a(salt + entityKeyText(entity)) < threshold;
    },
    record(record) {
      if (closed || !log.sampled(record.entity)) return false;
      count('sampled', 1);
      if (buffer.length >= maxBuffer) {
        count('dropped', 1);
        return true;
      }
      buffer.push(record);
      if (buffer.length >= maxBatch) void flush();
      else if (timer === undefined) {
        timer = setTimeout(() => void flush(), flushIntervalMs);
        timer.unref?.();
      }
      return true;
    },
    flush,
    async attachLabel(id, label, at = Date.now()) {
      if (buffer.some((r) => r.id === id)) await flush();
      await writing;
      await ensureTable();
      const updated = await executor.query(
        sql`UPDATE ${table} SET label = CAST(${JSON.stringify(label ?? null)} AS jsonb), labeled_at = ${at}
          WHERE id = ${id} RETURNING id`,
      );
      return updated.length > 0;
    },
    async get(id) {
      if (buffer.some((r) => r.id === id)) await flush();
      await writing;
      await ensureTable();
      const [row] = await executor.query<Record<string, unknown>>(
        sql`SELECT id, ts, model, version, entity, request, features, prediction, fallback,
          latency_ms, label, labeled_at FROM ${table} WHERE id = ${id}`,
      );
      if (row === undefined) return null;
      return {
        id: row.id as string,
        ts: Number(row.ts),
        model: row.model as string,
        version: row.version as string,
        entity: json(row.entity) as Record<string, EntityKeyValue>,
        request: json(row.request) as Record<string, unknown>,
        features: json(row.features) as Record<string, unknown> | null,
        prediction: json(row.prediction),
        fallback: (row.fallback as string | null) ?? null,
        latencyMs: Number(row.latency_ms),
        label: json(row.label),
        labeledAt: row.labeled_at === null ? null : Number(row.labeled_at),
      };
    },
    async close() {
      closed = true;
      await flush();
    },
  };
  return log;
}

function ddl(schema: string, tableName: string, table: SQL): SQL[] {
  return [
    sql`CREATE SCHEMA IF NOT EXISTS ${sql.identifier(schema)}`,
    sql`CREATE TABLE IF NOT EXISTS ${table} (
      id text PRIMARY KEY,
      ts bigint NOT NULL,
      model text NOT NULL,
      version text NOT NULL,
      entity jsonb NOT NULL,
      request jsonb NOT NULL,
      features jsonb,
      prediction jsonb,
      fallback text,
      latency_ms double precision NOT NULL,
      label jsonb,
      labeled_at bigint
    )`,
    sql`CREATE INDEX IF NOT EXISTS ${sql.identifier(`${tableName}_model_ts`)} ON ${table} (model, ts)`,
  ];
}

function json(value: unknown): unknown {
  return typeof value === 'string' ? JSON.parse(value) : (value ?? null);
}

/** Canonical text of entity keys: sorted `name=value` pairs (type-tagged so 1 and "1" differ). */
function entityKeyText(entity: Readonly<Record<string, EntityKeyValue>>): string {
  const names = Object.keys(entity).sort();
  let text = '';
  for (const name of names) {
    const value = entity[name];
    text += `${name}=${typeof value === 'number' ? 'i' : 's'}${String(value)}\u0000`;
  }
  return text;
}

/** 32-bit FNV-1a over UTF-16 code units, as an unsigned integer. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  // Final avalanche so nearby keys spread over the whole range.
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return hash >>> 0;
}
