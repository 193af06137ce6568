import type { ParityExample, ParityReport } from '../types.js';
import {
  disagreements,
  formatDifference,
  formatEntity,
  formatSmape,
  formatTime,
  formatValue,
} from './format.js';

/** Options of {@link formatParityTable}. */
export interface ParityTableOptions {
  /** ANSI colours (disagreement counts red, a clean result green); default false. */
  readonly color?: boolean;
  /** Examples printed per disagreeing feature, with their events; default 1. */
  readonly examples?: number;
}

const RED = '\u001b[31;1m';
const GREEN = '\u001b[32;1m';
const DIM = '\u001b[2m';
const RESET = '\u001b[0m';

/**
 * The report as a terminal table: one row per feature (comparison, total, agree, both_null,
 * offline_null, online_null, mismatch, sMAPE, largest difference) with aligned columns and
 * non-zero disagreement counts highlighted, a total row, the verdict, and the worst example(s) of
 * every disagreeing feature with the events around its window.
 */
export function formatParityTable(report: ParityReport, options: ParityTableOptions = {}): string {
  const color = options.color ?? false;
  const paint = (code: string, text: string) => (color ? `${code}${text}${RESET}` : text);
  const header = [
    'feature',
    'comparison',
    'total',
    'agree',
    'both_null',
    'offline_null',
    'online_null',
    'mismatch',
    'within_tol',
    'smape_%',
    'max_diff',
  ];
  const numeric = new Set([2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const highlight = new Set([5, 6, 7]);
  const rows = report.features.map((f) => [
    f.name,
    f.comparison,
    String(f.total),
    String(f.agree),
    String(f.bothNull),
    String(f.offlineNull),
    String(f.onlineNull),
    String(f.mismatch),
    String(f.withinTolerance),
    formatSmape(f.smape),
    formatDifference(f.maxDifference),
  ]);
  const t = report.totals;
  const total = [
    'TOTAL',
    '',
    String(t.values),
    String(t.agree),
    String(t.bothNull),
    String(t.offlineNull),
    String(t.onlineNull),
    String(t.mismatch),
    String(report.features.reduce((n, f) => n + f.withinTolerance, 0)),
    '',
    '',
  ];
  const widths = header.map((h, i) =>
    Math.max(h.length, ...[...rows, total].map((r) => r[i]!.length)),
  );
  const line = (cells: readonly string[], paintCells: boolean) =>
    cells
      .map((cell, i) => {
        const padded = numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!);
        return paintCells && highlight.has(i) && cell !== '0' && cell !== ''
          ? paint(RED, padded)
          : padded;
      })
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  const replay = report.replay;
  const lines = [
    `Parity ${report.service === null ? 'of a feature list' : `of service ${report.service}`}: ${report.sample.points} points (${report.sample.entities} entities, ${report.sample.mode}${report.sample.seed === null ? '' : `, seed ${report.sample.seed}`})`,
    `Replay: ${replay.engine} online store, ${replay.events} events streamed (${replay.late} late, ${replay.duplicates} duplicates), ${replay.reads} reads${replay.materializations.length > 0 ? `, ${replay.materializations.length} materialization${replay.materializations.length === 1 ? '' : 's'}` : ''}, ${(report.durationMs / 1000).toFixed(1)} s`,
    '',
    line(header, false),
    rule,
    ...rows.map((r) => line(r, true)),
    rule,
    line(total, true),
    '',
  ];
  for (const skipped of report.skipped) {
    lines.push(paint(DIM, `skipped ${skipped.feature}: ${skipped.reason}`));
  }
  for (const note of replay.notes.slice(1)) lines.push(paint(DIM, `note: ${note}`));
  if (report.skipped.length > 0 || replay.notes.length > 1) lines.push('');
  if (report.ok) {
    lines.push(
      paint(GREEN, `OK: all ${t.values} values agree (${t.bothNull} null on both sides).`),
    );
  } else {
    const failing = report.features.filter((f) => disagreements(f) > 0);
    lines.push(
      paint(
        RED,
        `FAIL: ${t.disagreements} of ${t.values} values disagree (${t.mismatch} mismatch, ${t.offlineNull} offline_null, ${t.onlineNull} online_null) in ${failing.length} feature${failing.length === 1 ? '' : 's'}: ${failing.map((f) => f.name).join(', ')}.`,
      ),
    );
    if (t.unrepairedLate > 0) {
      lines.push(
        `${t.unrepairedLate} of them rest on events later than the allowed lateness that no materialization had repaired by their q (expected online staleness; see the notes).`,
      );
    }
    const perFeature = options.examples ?? 1;
    for (const feature of failing) {
      for (const example of feature.examples.slice(0, perFeature)) {
        lines.push('', ...formatExample(feature.name, example));
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

/** One example as text lines: the values, then each window's events with their markers. */
export function formatExample(feature: string, example: ParityExample): string[] {
  const lines = [
    `${feature} [${example.kind}${example.unrepairedLate ? ', unrepaired late event' : ''}] ${formatEntity(example.entity)} q=${formatTime(example.q)}`,
    `  offline=${formatValue(example.offline)}  online=${formatValue(example.online)} (${example.onlineStatus})  reference=${formatValue(example.reference)}${example.difference === null ? '' : `  |diff|=${formatDifference(example.difference)} tolerance=${formatDifference(example.tolerance)}`}`,
  ];
  for (const window of example.windows) {
    lines.push(
      `  ${window.feature} over ${window.source}: window [${window.start === null ? '-inf' : formatTime(window.start)}, ${formatTime(window.end)})`,
    );
    for (const e of window.events) {
      const marks = [
        e.position,
        e.counts ? 'counts' : 'excluded',
        ...(e.edge === null ? [] : [`at ${e.edge}`]),
        ...(e.late ? [e.repaired ? 'late, repaired' : 'late'] : []),
      ];
      lines.push(
        `    ts=${formatTime(e.ts)} id=${e.eventId ?? '-'} ingested=${e.ingestedAt ?? '-'} ${JSON.stringify(e.values)}  [${marks.join(', ')}]`,
      );
    }
    if (window.omitted > 0) lines.push(`    (${window.omitted} more events inside the window)`);
  }
  return lines;
}
