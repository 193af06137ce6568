import { parseArgs } from 'node:util';
import { isTandemError } from '@tandem/core';
import { loadConfig, openDatabase } from '../config/load.js';
import { applyDefinitions, planDefinitions } from '../registry/registry.js';
import {
  CONSISTENCY_OPTIONS,
  CONSISTENCY_USAGE,
  consistencyArgs,
  runConsistency,
} from './consistency.js';
import {
  MATERIALIZE_OPTIONS,
  MATERIALIZE_USAGE,
  materializeArgs,
  runMaterialize,
} from './materialize.js';
import { PARITY_OPTIONS, PARITY_USAGE, parityArgs, runParity } from './parity.js';
import { formatPlan } from './report.js';
import { formatOfFile, type RowsFormat } from './rows-file.js';
import { writeTrainingSet } from './training-set.js';

/** Exit codes of the `tandem` CLI. */
export const EXIT = {
  /** Done. */
  ok: 0,
  /** The user's definitions, data or database state are at fault: a refused apply, a bad row. */
  userError: 1,
  /** The command line is wrong. */
  usage: 2,
  /** Anything else (a bug, the database unreachable, ...). */
  unexpected: 3,
} as const;

/** Usage of the `tandem` CLI. */
export const USAGE = `Usage: tandem <command> [options]

Commands:
  plan                      Show what apply would change: added, changed and removed features,
                            managed tables to create, indexes to add to your own tables, and
                            problems with source tables. Writes nothing.
  apply [--force]           Create managed tables and register the definitions (one transaction).
                            Refuses to change a materialized feature unless --force, which resets
                            its materialization.
  training-set              Write a point-in-time training set to a file, streaming.
      --service <name>        feature service (from the config's services)
      --rows <source>         entity rows: a table name (schema.table), or a .csv / .jsonl file
                              with the entity keys and the time column (epoch ms)
      --out <file>            output file, .csv or .jsonl
      --format csv|jsonl      output format (default: from --out's extension)
      --time-column <name>    time column of the entity rows (default ts)
      --time-unit epoch_ms|timestamp
                              unit of a table's time column (default epoch_ms)
${PARITY_USAGE}${CONSISTENCY_USAGE}${MATERIALIZE_USAGE}
Options:
  --config <path>           config file (default ./tandem.config.ts)
  -h, --help                show this help

Exit codes: 0 ok, 1 refused or invalid input (the error code and path are printed),
2 usage error, 3 unexpected error.
`;

class UsageError extends Error {}

/** Where the CLI writes: stdout for results, stderr for errors and progress. */
export interface CliOutput {
  /** Results. */
  readonly stdout: NodeJS.WritableStream;
  /** Errors. */
  readonly stderr: NodeJS.WritableStream;
}

/** Runs the `tandem` CLI on `argv` (without `node` and the script) and returns the exit code. */
export async function runCli(
  argv: readonly string[],
  output: CliOutput = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  try {
    return await run(argv, output);
  } catch (error) {
    if (error instanceof UsageError) {
      output.stderr.write(`tandem: ${error.message}\nRun 'tandem --help' for usage.\n`);
      return EXIT.usage;
    }
    if (isTandemError(error)) {
      output.stderr.write(`error [${error.code}] ${error.message}\n`);
      return EXIT.userError;
    }
    output.stderr.write(
      `unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return EXIT.unexpected;
  }
}

async function run(argv: readonly string[], output: CliOutput): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    output.stdout.write(USAGE);
    return EXIT.ok;
  }
  const [command, ...extra] = positionals;
  if (command === undefined)
    throw new UsageError(
      'missing command (plan, apply, training-set, parity, consistency, materialize, repair)',
    );
  if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0]}`);
  const allowed: Record<string, readonly string[]> = {
    plan: ['config'],
    apply: ['config', 'force'],
    'training-set': ['config', 'service', 'rows', 'out', 'format', 'time-column', 'time-unit'],
    parity: PARITY_OPTIONS,
    consistency: CONSISTENCY_OPTIONS,
    materialize: MATERIALIZE_OPTIONS.materialize,
    repair: MATERIALIZE_OPTIONS.repair,
  };
  const options = allowed[command];
  if (options === undefined) throw new UsageError(`unknown command ${command}`);
  for (const option of Object.keys(values)) {
    if (!options.includes(option)) throw new UsageError(`${command} takes no --${option}`);
  }
  const training = command === 'training-set' ? trainingArgs(values) : null;
  let materializing: ReturnType<typeof materializeArgs> | null = null;
  if (command === 'materialize' || command === 'repair') {
    try {
      materializing = materializeArgs(command, values);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  if (command === 'consistency') {
    let args: ReturnType<typeof consistencyArgs>;
    try {
      args = consistencyArgs(values);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    return runConsistency(args, output);
  }
  if (command === 'parity') {
    let args: ReturnType<typeof parityArgs>;
    try {
      args = parityArgs(values);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    return runParity(args, output);
  }

  const loaded = await loadConfig(values.config ?? 'tandem.config.ts');
  const { config } = loaded;
  const schema = config.schema ?? 'tandem';
  const executor = await openDatabase(config.database, loaded.directory);
  try {
    if (training !== null) {
      const started = Date.now();
      const rows = await writeTrainingSet(executor, config, training);
      const seconds = (Date.now() - started) / 1000;
      output.stdout.write(
        `Wrote ${rows} rows to ${training.out} in ${seconds.toFixed(1)} s (${Math.round(rows / Math.max(seconds, 0.001))} rows/s).\n`,
      );
      return EXIT.ok;
    }
    if (materializing !== null) {
      await runMaterialize(executor, config, materializing, output);
      return EXIT.ok;
    }
    if (command === 'apply') {
      const plan = await applyDefinitions(executor, schema, config, {
        force: values.force === true,
      });
      output.stdout.write(formatPlan(plan, true));
      return EXIT.ok;
    }
    const plan = await planDefinitions(executor, schema, config);
    output.stdout.write(formatPlan(plan, false));
    return plan.issues.length > 0 ? EXIT.userError : EXIT.ok;
  } finally {
    await executor.close();
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string' },
      force: { type: 'boolean' },
      service: { type: 'string' },
      rows: { type: 'string' },
      out: { type: 'string' },
      format: { type: 'string' },
      'time-column': { type: 'string' },
      'time-unit': { type: 'string' },
      sample: { type: 'string' },
      'per-entity': { type: 'string' },
      seed: { type: 'string' },
      html: { type: 'string' },
      json: { type: 'string' },
      since: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      limit: { type: 'string' },
      full: { type: 'boolean' },
      end: { type: 'string' },
      source: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function trainingArgs(values: ReturnType<typeof parse>['values']) {
  const required = (name: 'service' | 'rows' | 'out') => {
    const value = values[name];
    if (value === undefined || value === '') throw new UsageError(`training-set needs --${name}`);
    return value;
  };
  const out = required('out');
  const format = values.format ?? formatOfFile(out);
  if (format !== 'csv' && format !== 'jsonl') {
    throw new UsageError(
      format === null
        ? `cannot tell the format of ${out} (use a .csv or .jsonl name, or --format)`
        : `--format must be csv or jsonl, not ${format}`,
    );
  }
  const timeUnit = values['time-unit'] ?? 'epoch_ms';
  if (timeUnit !== 'epoch_ms' && timeUnit !== 'timestamp') {
    throw new UsageError(`--time-unit must be epoch_ms or timestamp, not ${timeUnit}`);
  }
  return {
    service: required('service'),
    rows: required('rows'),
    out,
    format: format as RowsFormat,
    timeColumn: values['time-column'] ?? 'ts',
    timeUnit,
  } as const;
}
