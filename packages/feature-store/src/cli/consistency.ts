import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type AnyFeature,
  type DurationInput,
  type FeatureService,
  isTandemError,
  toMillis,
} from '@tandem/core';
import { type LoadedConfig, loadConfig, openDatabase } from '../config/load.js';
import { createOfflineStore } from '../offline/store.js';
import {
  type CheckConsistencyOptions,
  type ConsistencyReport,
  checkConsistency,
} from '../parity/consistency/backfill.js';
import { renderParityHtml } from '../parity/render/html.js';
import { formatParityTable } from '../parity/render/table.js';

/** Exit codes of `tandem consistency` (those of `tandem parity`). */
export const CONSISTENCY_EXIT = {
  /** Every logged value agrees offline. */
  ok: 0,
  /** Some logged value disagrees. */
  disagreement: 1,
  /** The command line or the config is wrong. */
  usage: 2,
  /** Anything else (the database unreachable, no log table, a bug). */
  unexpected: 3,
} as const;

/** Usage of `tandem consistency` (part of the CLI's help). */
export const CONSISTENCY_USAGE = `  consistency               Backfill the logged online reads (withConsistencyLog) offline and
                            compare: the parity table per logged definition, then the per-feature
                            mismatch rates.
      --service <name>        only reads of this feature service
      --since <duration>      only reads with q in the last <duration> (e.g. 24h, 7d)
      --from <ms> / --to <ms> only reads with from <= q < to (epoch ms)
      --limit <n>             at most the n most recent reads
      --html <file>           also write an HTML report (one file per logged definition:
                              <file>, then <file> with .2, .3, ... before the extension)
      --json <file>           also write the report as JSON
                            Exit codes: 0 all values agree, 1 some disagree, 2 usage or config
                            error, 3 unexpected error.
`;

/** Options `tandem consistency` takes (names as in `parseArgs`). */
export const CONSISTENCY_OPTIONS = [
  'config',
  'service',
  'since',
  'from',
  'to',
  'limit',
  'html',
  'json',
] as const;

/** The parsed arguments of `tandem consistency`. */
export interface ConsistencyArgs {
  readonly config: string;
  readonly service?: string;
  readonly since?: number;
  readonly from?: number;
  readonly to?: number;
  readonly limit?: number;
  readonly html?: string;
  readonly json?: string;
}

/** Where `tandem consistency` writes. */
export interface ConsistencyOutput {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/**
 * Parses the options of `tandem consistency`.
 * @throws {Error} with a usage message for a bad value.
 */
export function consistencyArgs(values: Readonly<Record<string, unknown>>): ConsistencyArgs {
  const integer = (name: string, min: number) => {
    const text = values[name];
    if (text === undefined) return {};
    const n = Number(text);
    if (typeof text !== 'string' || !/^-?\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) {
      throw new Error(`--${name} must be an integer >= ${min}, not ${String(text)}`);
    }
    return { [name]: n };
  };
  const text = (name: string) => {
    const value = values[name];
    if (value === undefined) return {};
    if (typeof value !== 'string' || value === '') throw new Error(`--${name} needs a value`);
    return { [name]: value };
  };
  let since: { since?: number } = {};
  if (values.since !== undefined) {
    try {
      since = { since: toMillis(values.since as DurationInput, 'since') };
    } catch {
      throw new Error(
        `--since must be a duration like 30m, 24h or 7d, not ${String(values.since)}`,
      );
    }
  }
  if (values.since !== undefined && values.from !== undefined) {
    throw new Error('give --since or --from, not both');
  }
  return {
    config: (values.config as string | undefined) ?? 'tandem.config.ts',
    ...text('service'),
    ...since,
    ...integer('from', Number.MIN_SAFE_INTEGER),
    ...integer('to', Number.MIN_SAFE_INTEGER),
    ...integer('limit', 1),
    ...text('html'),
    ...text('json'),
  };
}

/**
 * Runs `tandem consistency`: reads the consistency log of the config's database, backfills and
 * compares it against the config's current definitions, prints a parity table per logged
 * definition and the mismatch rates, writes the HTML / JSON reports, and returns the exit code.
 */
export async function runConsistency(
  args: ConsistencyArgs,
  output: ConsistencyOutput,
  now: () => number = Date.now,
): Promise<number> {
  let loaded: LoadedConfig;
  try {
    loaded = await loadConfig(args.config);
  } catch (error) {
    if (isTandemError(error)) {
      output.stderr.write(
        `tandem consistency: config error [${error.code}]: ${(error as Error).message}\n`,
      );
      return CONSISTENCY_EXIT.usage;
    }
    throw error;
  }
  const { config } = loaded;
  const services: readonly FeatureService[] = config.services ?? [];
  const definitions: (FeatureService | AnyFeature)[] = [...services, ...(config.features ?? [])];
  if (args.service !== undefined && !services.some((s) => s.name === args.service)) {
    output.stderr.write(
      `tandem consistency: config error: no feature service named ${args.service} in the config\n`,
    );
    return CONSISTENCY_EXIT.usage;
  }
  const executor = await openDatabase(config.database, loaded.directory);
  try {
    const offline = createOfflineStore({ executor, schema: config.schema ?? 'tandem' });
    const from = args.since !== undefined ? now() - args.since : args.from;
    const options: CheckConsistencyOptions = {
      offline,
      definitions,
      ...(args.service === undefined ? {} : { service: args.service }),
      range: {
        ...(from === undefined ? {} : { from }),
        ...(args.to === undefined ? {} : { to: args.to }),
        ...(args.limit === undefined ? {} : { limit: args.limit }),
      },
    };
    const report = await checkConsistency(options);
    output.stdout.write(formatConsistency(report));
    if (args.json !== undefined) {
      await writeAtomically(args.json, `${JSON.stringify(report, null, 2)}\n`);
      output.stdout.write(`Wrote the JSON report to ${args.json}.\n`);
    }
    if (args.html !== undefined) {
      const checked = report.groups.filter((g) => g.report !== null);
      for (const [i, group] of checked.entries()) {
        const path = i === 0 ? args.html : args.html.replace(/(\.[^./]*)?$/, `.${i + 1}$1`);
        await writeAtomically(path, renderParityHtml(group.report!));
        output.stdout.write(`Wrote the HTML report to ${path}.\n`);
      }
    }
    return report.ok ? CONSISTENCY_EXIT.ok : CONSISTENCY_EXIT.disagreement;
  } finally {
    await executor.close();
  }
}

/** The report as text: a parity table per logged definition, then the mismatch rates. */
export function formatConsistency(report: ConsistencyReport): string {
  const lines = [
    `Consistency of ${report.records} logged online reads in ${report.log.table}` +
      (report.from === null
        ? ''
        : ` (q from ${new Date(report.from).toISOString()} to ${new Date(report.to!).toISOString()})`) +
      `: ${report.checked} compared, ${report.groups.length} logged definition${report.groups.length === 1 ? '' : 's'}.`,
    '',
  ];
  for (const group of report.groups) {
    lines.push(
      `Definition ${group.fingerprint.slice(0, 12)} (${group.service === null ? 'a feature list' : `service ${group.service}`}): ${group.records} reads`,
    );
    for (const u of group.unmatched) lines.push(`  not checked: ${u.feature}: ${u.reason}`);
    if (group.report === null) {
      lines.push('  nothing to compare: no logged feature matches a current definition', '');
      continue;
    }
    const table = formatParityTable(group.report).split('\n');
    // The second line describes a replay; here the online values are the logged ones.
    table[1] = `Online values: as served and logged (${group.records} reads), ${(group.report.durationMs / 1000).toFixed(1)} s`;
    lines.push(...table.map((l) => (l === '' ? '' : `  ${l}`)));
  }
  if (report.rates.length > 0) {
    lines.push('Mismatch rates (the share of logged values that disagree offline):');
    const width = Math.max(7, ...report.rates.map((r) => r.feature.length));
    lines.push(`  ${'feature'.padEnd(width)}  checked  disagree  rate`);
    for (const r of report.rates) {
      lines.push(
        `  ${r.feature.padEnd(width)}  ${String(r.checked).padStart(7)}  ${String(r.disagreements).padStart(8)}  ${(100 * r.rate).toFixed(3)}%`,
      );
    }
  }
  lines.push(
    '',
    report.ok
      ? 'OK: every logged value agrees offline.'
      : 'FAIL: some logged values disagree offline.',
  );
  return `${lines.join('\n')}\n`;
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}
