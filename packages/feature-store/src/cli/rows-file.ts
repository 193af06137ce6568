import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { TandemError } from '@tandem/core';
import { CsvError, parse } from 'csv-parse';
import { type SQL, sql } from 'drizzle-orm';
import type { SqlExecutor } from '../executor/executor.js';
import { arrayLiteral } from '../internal/array-literal.js';
import type { TrainingRow } from '../offline/training-set/training-set.js';
import { startProgress } from './progress.js';

/** File formats of entity rows and training sets. */
export type RowsFormat = 'csv' | 'jsonl';

/** The format a file name's extension says (`.csv`, `.jsonl`, `.ndjson`), or null. */
export function formatOfFile(file: string): RowsFormat | null {
  const lower = file.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  return null;
}

/** Entity rows of a file, staged in a scratch table. */
export interface StagedRowsFile {
  /** The query `getTrainingSet` reads the rows from, in file order. */
  readonly query: SQL;
  /** Number of rows. */
  readonly count: number;
  /** Turns a training row back into the file's row (with its own JSON types) plus the features. */
  output(row: TrainingRow): TrainingRow;
  /** Drops the scratch table. */
  readonly drop: SQL;
}

/** What {@link stageRowsFile} needs to know about the training set. */
export interface RowsFileOptions {
  /** Entity keys every row must carry. */
  readonly keys: readonly { readonly name: string; readonly type: 'string' | 'int' }[];
  /** Column of the as-of time (integer epoch ms). */
  readonly timeColumn: string;
  /** Output feature names (a row may not already have them). */
  readonly features: readonly string[];
}

const CHUNK = 5_000;

/**
 * Streams a CSV (header row) or JSON Lines file of entity rows into a scratch table in Tandem's
 * schema, chunk by chunk, so memory stays flat. Keys and the time are checked and typed (CSV
 * values are text: int keys and the time must be integers); every other column is carried through
 * as it is (text in CSV, any JSON in JSON Lines).
 * @throws {TandemError} `INVALID_ARGUMENT` with path `file:line.column` for a bad row;
 * `DUPLICATE_NAME` when a row already has a column named like an output feature.
 */
export async function stageRowsFile(
  executor: SqlExecutor,
  schema: string,
  file: string,
  format: RowsFormat,
  options: RowsFileOptions,
): Promise<StagedRowsFile> {
  const name = `__cli_rows_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 10)}`;
  const table = sql`${sql.identifier(schema)}.${sql.identifier(name)}`;
  const keyColumns = options.keys.map(
    (k) => sql`${sql.identifier(k.name)} ${sql.raw(k.type === 'int' ? 'bigint' : 'text')}`,
  );
  const time = sql.identifier(options.timeColumn);
  await executor.query(sql`CREATE SCHEMA IF NOT EXISTS ${sql.identifier(schema)}`);
  await executor.query(
    sql`CREATE UNLOGGED TABLE ${table} (__line bigint, ${sql.join(keyColumns, sql`, `)}, ${time} bigint, __doc json)`,
  );
  const drop = sql`DROP TABLE IF EXISTS ${table}`;
  const progress = startProgress(`reading ${file}`, (await stat(file)).size, 'bytes');
  const input = createReadStream(file);
  input.on('data', (chunk) => progress.increment(chunk.length));
  let count = 0;
  try {
    let chunk: { line: number; doc: Record<string, unknown> }[] = [];
    for await (const row of format === 'csv' ? csvRows(input, file) : jsonlRows(input, file)) {
      checkRow(row.doc, `${file}:${row.line}`, options, format === 'csv');
      chunk.push(row);
      if (chunk.length === CHUNK) {
        await insert(executor, table, options, chunk);
        count += chunk.length;
        chunk = [];
      }
    }
    await insert(executor, table, options, chunk);
    count += chunk.length;
  } catch (error) {
    input.destroy();
    await executor.query(drop);
    throw error;
  } finally {
    progress.stop();
  }
  const keys = options.keys.map((k) => sql.identifier(k.name));
  return {
    query: sql`SELECT ${sql.join(keys, sql`, `)}, ${time}, __doc FROM ${table} ORDER BY __line`,
    count,
    output(row) {
      const out: TrainingRow = { ...(row.__doc as Record<string, unknown>) };
      for (const feature of options.features) out[feature] = row[feature];
      return out;
    },
    drop,
  };
}

async function* csvRows(
  input: NodeJS.ReadableStream,
  file: string,
): AsyncGenerator<{ line: number; doc: Record<string, unknown> }> {
  const parser = input.pipe(
    parse({ columns: true, bom: true, skip_empty_lines: true, info: true }),
  );
  try {
    for await (const { record, info } of parser) yield { line: info.lines, doc: record };
  } catch (error) {
    if (error instanceof CsvError) {
      throw new TandemError('INVALID_ARGUMENT', `not valid CSV: ${error.message}`, {
        path: `${file}:${(error as CsvError & { lines?: number }).lines ?? 1}`,
        cause: error,
      });
    }
    throw error;
  }
}

async function* jsonlRows(
  input: NodeJS.ReadableStream,
  file: string,
): AsyncGenerator<{ line: number; doc: Record<string, unknown> }> {
  let line = 0;
  for await (const text of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    line++;
    if (text.trim() === '') continue;
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (error) {
      throw new TandemError('INVALID_ARGUMENT', `not valid JSON: ${(error as Error).message}`, {
        path: `${file}:${line}`,
      });
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new TandemError('INVALID_ARGUMENT', 'each line must be a JSON object', {
        path: `${file}:${line}`,
      });
    }
    yield { line, doc: doc as Record<string, unknown> };
  }
}

/** Checks and types a row's keys and time (in place) and rejects columns named like features. */
function checkRow(
  doc: Record<string, unknown>,
  at: string,
  options: RowsFileOptions,
  text: boolean,
): void {
  const integer = (column: string, what: string) => {
    const value = doc[column];
    const parsed =
      text && typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
    if (!Number.isSafeInteger(parsed)) {
      throw new TandemError(
        'INVALID_ARGUMENT',
        `${what} must be a safe integer, got ${JSON.stringify(value) ?? 'nothing'}`,
        { path: `${at}.${column}` },
      );
    }
    doc[column] = parsed;
  };
  for (const key of options.keys) {
    if (key.type === 'int') {
      integer(key.name, `entity key ${key.name}`);
    } else if (typeof doc[key.name] !== 'string' || doc[key.name] === '') {
      throw new TandemError(
        'INVALID_ARGUMENT',
        `entity key ${key.name} must be a non-empty string, got ${JSON.stringify(doc[key.name]) ?? 'nothing'}`,
        { path: `${at}.${key.name}` },
      );
    }
  }
  integer(options.timeColumn, 'the time (epoch milliseconds)');
  for (const feature of options.features) {
    if (feature in doc) {
      throw new TandemError('DUPLICATE_NAME', `the row already has a column named ${feature}`, {
        path: `${at}.${feature}`,
      });
    }
  }
}

async function insert(
  executor: SqlExecutor,
  table: SQL,
  options: RowsFileOptions,
  rows: readonly { line: number; doc: Record<string, unknown> }[],
): Promise<void> {
  if (rows.length === 0) return;
  const columns = [
    sql`CAST(${arrayLiteral(rows.map((r) => r.line))} AS bigint[])`,
    ...options.keys.map(
      (k) =>
        sql`CAST(${arrayLiteral(rows.map((r) => r.doc[k.name]))} AS ${sql.raw(k.type === 'int' ? 'bigint[]' : 'text[]')})`,
    ),
    sql`CAST(${arrayLiteral(rows.map((r) => r.doc[options.timeColumn]))} AS bigint[])`,
    sql`CAST(${arrayLiteral(rows.map((r) => JSON.stringify(r.doc)))} AS json[])`,
  ];
  await executor.query(
    sql`INSERT INTO ${table} SELECT * FROM unnest(${sql.join(columns, sql`, `)})`,
  );
}
