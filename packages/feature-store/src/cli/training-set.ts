import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { TandemError } from '@tandem/core';
import { sql } from 'drizzle-orm';
import type { TandemConfig } from '../config/config.js';
import type { SqlExecutor } from '../executor/executor.js';
import { writeCsv, writeJsonl } from '../export/write.js';
import { createOfflineStore } from '../offline/store.js';
import type { EntityRowsInput } from '../offline/training-set/entity-rows.js';
import { planTrainingSet } from '../offline/training-set/plan.js';
import type { TrainingRow } from '../offline/training-set/training-set.js';
import { resolveTable } from '../registry/source-tables.js';
import { startProgress } from './progress.js';
import { formatOfFile, type RowsFormat, stageRowsFile } from './rows-file.js';

/** Arguments of `tandem training-set`. */
export interface TrainingSetArgs {
  /** Feature service name (from the config). */
  readonly service: string;
  /** A table name, or a `.csv` / `.jsonl` file. */
  readonly rows: string;
  /** Output file. */
  readonly out: string;
  /** Output format. */
  readonly format: RowsFormat;
  /** Time column of the entity rows. */
  readonly timeColumn: string;
  /** Unit of the time column of a table. */
  readonly timeUnit: 'epoch_ms' | 'timestamp';
}

const TABLE = /^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/;

/**
 * Writes a point-in-time training set of a configured service to a CSV or JSONL file as rows
 * stream from the database. The file appears only when complete (written under a temporary name,
 * then renamed). Returns the number of rows.
 * @throws {TandemError} for an unknown service, a missing table or a bad entity row.
 */
export async function writeTrainingSet(
  executor: SqlExecutor,
  config: TandemConfig,
  args: TrainingSetArgs,
): Promise<number> {
  const schema = config.schema ?? 'tandem';
  const service = (config.services ?? []).find((s) => s.name === args.service);
  if (service === undefined) {
    const known = (config.services ?? []).map((s) => s.name);
    throw new TandemError(
      'INVALID_ARGUMENT',
      `no feature service named ${args.service} in the config (${known.length === 0 ? 'it has none' : `it has ${known.join(', ')}`})`,
      { path: '--service' },
    );
  }
  const rowsFormat = formatOfFile(args.rows);
  let entityRows: EntityRowsInput;
  let count: number;
  let output = (row: TrainingRow) => row;
  let drop: (() => Promise<unknown>) | null = null;
  if (rowsFormat !== null) {
    if (args.timeUnit !== 'epoch_ms') {
      throw new TandemError('INVALID_ARGUMENT', 'times in a rows file are epoch milliseconds', {
        path: '--time-unit',
      });
    }
    const staged = await stageRowsFile(executor, schema, args.rows, rowsFormat, {
      keys: planTrainingSet(service).keys,
      timeColumn: args.timeColumn,
      features: service.features.map((f) => f.name),
    });
    entityRows = { query: staged.query };
    count = staged.count;
    output = staged.output;
    drop = () => executor.query(staged.drop);
  } else {
    if (!TABLE.test(args.rows)) {
      throw new TandemError(
        'INVALID_ARGUMENT',
        `${args.rows} is neither a .csv / .jsonl file nor a table name`,
        { path: '--rows' },
      );
    }
    const [first, second] = args.rows.split('.') as [string, string | undefined];
    const table = await resolveTable(
      executor,
      second === undefined ? { schema: null, name: first } : { schema: first, name: second },
    );
    if (table === null) {
      throw new TandemError('UNKNOWN_TABLE', `table ${args.rows} does not exist`, {
        path: '--rows',
      });
    }
    entityRows = { table: args.rows };
    const [counted] = await executor.query<{ n: number }>(
      sql`SELECT CAST(count(*) AS double precision) AS n FROM ${sql.identifier(table.schema)}.${sql.identifier(table.name)}`,
    );
    count = counted!.n;
  }
  const temporary = `${args.out}.${process.pid}.tmp`;
  const progress = startProgress('training set', count, 'rows');
  try {
    const store = createOfflineStore({ executor, schema });
    const rows = store.getTrainingSet({
      features: service,
      entityRows,
      timeColumn: args.timeColumn,
      timeUnit: args.timeUnit,
    });
    async function* reported(): AsyncGenerator<TrainingRow> {
      for await (const row of rows) {
        yield output(row);
        progress.increment();
      }
    }
    const write = args.format === 'csv' ? writeCsv : writeJsonl;
    const { rows: written } = await write(reported(), createWriteStream(temporary));
    await rename(temporary, args.out);
    return written;
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  } finally {
    progress.stop();
    await drop?.();
  }
}
