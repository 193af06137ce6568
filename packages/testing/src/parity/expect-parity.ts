import {
  type CheckParityOptions,
  checkParity,
  type ExampleEvent,
  type FeatureParity,
  type ParityExample,
  type ParityReport,
} from '@tandem/feature-store';

/** Options of {@link expectParity}: those of `checkParity`, plus what the assertion requires. */
export interface ExpectParityOptions extends CheckParityOptions {
  /** Fails unless at least this many `(entity, q)` points were checked; default 1. */
  readonly minPoints?: number;
  /** Disagreeing examples shown per feature in the failure message; default 3. */
  readonly show?: number;
}

/** The error {@link expectParity} throws: its message is the readable diff; `report` is the run. */
export class ParityAssertionError extends Error {
  /** The full report of the failed run. */
  readonly report: ParityReport;

  constructor(message: string, report: ParityReport) {
    super(message);
    this.name = 'ParityAssertionError';
    this.report = report;
  }
}

/**
 * Asserts that the offline and online paths agree (for vitest, or any test runner): runs
 * `checkParity` and throws a {@link ParityAssertionError} when any value disagrees (a mismatch,
 * or null on one side only) or fewer than `minPoints` points were checked. Its message is a
 * readable diff: the per-feature counts of the disagreeing features, then their worst examples
 * with the offline, online and reference values and the events around each window (time, id,
 * sequence, ingestion time, whether it counts and whether the stream layer took it as late).
 * Resolves to the report when everything agrees.
 *
 * @example
 * const report = await expectParity({ offline, online: redisAdapter({ client }), service, sample: points });
 * expect(report.sample.points).toBeGreaterThan(1000);
 */
export async function expectParity(options: ExpectParityOptions): Promise<ParityReport> {
  const { minPoints = 1, show = 3, ...check } = options;
  const report = await checkParity(check);
  if (report.ok && report.sample.points >= minPoints) return report;
  throw new ParityAssertionError(formatParityFailure(report, { show, minPoints }), report);
}

/** The failure message of {@link expectParity} for a report (also usable on its own). */
export function formatParityFailure(
  report: ParityReport,
  options: { readonly show?: number; readonly minPoints?: number } = {},
): string {
  const show = options.show ?? 3;
  const lines: string[] = [];
  const t = report.totals;
  if (!report.ok) {
    lines.push(
      `offline and online disagree: ${t.disagreements} of ${t.values} values (${t.mismatch} mismatch, ${t.offlineNull} offline_null, ${t.onlineNull} online_null) over ${report.sample.points} points`,
    );
  }
  if (options.minPoints !== undefined && report.sample.points < options.minPoints) {
    lines.push(
      `only ${report.sample.points} points checked; expected at least ${options.minPoints}`,
    );
  }
  lines.push(
    `replay: ${report.replay.engine} engine, ${report.replay.events} events (${report.replay.late} late, ${report.replay.duplicates} duplicates), ${report.replay.materializations.length} materializations`,
  );
  const bad = report.features.filter((f) => f.mismatch + f.offlineNull + f.onlineNull > 0);
  if (bad.length > 0) {
    lines.push('', featureTable(bad));
    for (const feature of bad) {
      for (const example of feature.examples.slice(0, show)) {
        lines.push('', ...exampleLines(feature, example));
      }
    }
  }
  for (const note of report.replay.notes) lines.push(`note: ${note}`);
  return lines.join('\n');
}

function featureTable(features: readonly FeatureParity[]): string {
  const header = [
    'feature',
    'comparison',
    'total',
    'agree',
    'both_null',
    'offline_null',
    'online_null',
    'mismatch',
    'smape%',
  ];
  const rows = features.map((f) => [
    f.name,
    f.comparison,
    String(f.total),
    String(f.agree),
    String(f.bothNull),
    String(f.offlineNull),
    String(f.onlineNull),
    String(f.mismatch),
    f.smape === null ? '-' : f.smape.toPrecision(3),
  ]);
  return table([header, ...rows]);
}

function exampleLines(feature: FeatureParity, example: ParityExample): string[] {
  const entity = Object.entries(example.entity)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ');
  const lines = [
    `${feature.name}: ${example.kind} at ${entity}, q=${iso(example.q)} (${example.q})`,
    `  offline ${show(example.offline)} | online ${show(example.online)} (${example.onlineStatus}) | reference ${show(example.reference)}` +
      (example.difference === null
        ? ''
        : ` | diff ${example.difference} (tolerance ${example.tolerance})`),
  ];
  for (const w of example.windows) {
    const start = w.start === null ? 'lifetime' : `T(q)=${iso(w.start)} (${w.start})`;
    lines.push(`  ${w.feature} over ${w.source}, window [${start}, q):`);
    const rows = [
      ['', 'ts', 'q-ts', 'edge', 'eventId', 'seq', 'ingestedAt', 'counts', 'late', 'values'],
      ...w.events.map((e) => eventRow(e, example.q)),
    ];
    lines.push(
      ...table(rows)
        .split('\n')
        .map((l) => `    ${l}`),
    );
    if (w.omitted > 0) lines.push(`    (${w.omitted} more events inside the window not shown)`);
  }
  return lines;
}

function eventRow(e: ExampleEvent, q: number): string[] {
  return [
    e.position === 'window' ? 'in' : e.position,
    `${iso(e.ts)} ${e.ts}`,
    String(q - e.ts),
    e.edge ?? '',
    e.eventId === null ? '(null)' : JSON.stringify(e.eventId),
    e.seq === null ? '' : String(e.seq),
    e.ingestedAt === null ? '' : `${e.ingestedAt}${e.ingestedAt > q ? ' (after q)' : ''}`,
    e.counts ? 'yes' : 'no',
    e.late ? 'LATE' : '',
    JSON.stringify(e.values),
  ];
}

function show(value: unknown): string {
  return JSON.stringify(value) ?? 'undefined';
}

function iso(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? String(ms) : date.toISOString();
}

function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, [...cell].length);
    });
  }
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell + ' '.repeat((widths[i] ?? 0) - [...cell].length))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
