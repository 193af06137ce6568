import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { TandemError } from '@tandem/core';
import { stringify } from 'csv-stringify';
import type { TrainingRow } from '../offline/training-set/training-set.js';

/** Options of {@link writeCsv} and {@link writeJsonl}. */
export interface WriteOptions {
  /** End the writable when done (default true); false to keep e.g. `process.stdout` open. */
  readonly end?: boolean;
}

/** What was written. */
export interface WriteResult {
  /** Rows written. */
  readonly rows: number;
}

/**
 * Streams training rows to a writable as CSV, with backpressure (rows are pulled only as fast as
 * the writable drains, through small stream buffers). The header is the first row's keys; RFC 4180 quoting; lists (and other
 * objects) as JSON; null as an empty field, an empty string as `""` (as Postgres `COPY` does);
 * booleans `true`/`false`. No rows: nothing is written.
 * @throws {TandemError} `UNKNOWN_COLUMN` naming `rows[i].column` when a later row has a column
 * the header lacks.
 */
export async function writeCsv(
  rows: AsyncIterable<TrainingRow> | Iterable<TrainingRow>,
  writable: Writable,
  options: WriteOptions = {},
): Promise<WriteResult> {
  let written = 0;
  async function* records(): AsyncGenerator<readonly (string | null)[]> {
    let header: string[] | null = null;
    for await (const row of rows) {
      if (header === null) {
        header = Object.keys(row);
        yield header;
      }
      yield csvRecord(header, row, written++);
    }
  }
  const csv = stringify({ quoted_match: /^$/ });
  await pipeline(Readable.from(records()), csv, writable, { end: options.end ?? true });
  return { rows: written };
}

/**
 * Streams training rows to a writable as JSON Lines (one JSON object per line), with
 * backpressure.
 */
export async function writeJsonl(
  rows: AsyncIterable<TrainingRow> | Iterable<TrainingRow>,
  writable: Writable,
  options: WriteOptions = {},
): Promise<WriteResult> {
  let written = 0;
  async function* lines(): AsyncGenerator<string> {
    for await (const row of rows) {
      written++;
      yield `${JSON.stringify(row)}\n`;
    }
  }
  await pipeline(Readable.from(lines()), writable, { end: options.end ?? true });
  return { rows: written };
}

function csvRecord(header: readonly string[], row: TrainingRow, index: number): (string | null)[] {
  let present = 0;
  const record = header.map((column) => {
    const value = row[column];
    if (column in row) present++;
    if (value === null || value === undefined) return null;
    if (typeof value === 'string') return value;
    if (value instanceof Date) return value.toISOString();
    if (typeof value === 'object') return JSON.stringify(value);
    return String(value);
  });
  if (present !== Object.keys(row).length) {
    const extra = Object.keys(row).find((key) => !header.includes(key))!;
    throw new TandemError('UNKNOWN_COLUMN', `column ${extra} is not in the CSV header`, {
      path: `rows[${index}].${extra}`,
    });
  }
  return record;
}
