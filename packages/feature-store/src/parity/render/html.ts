import type { ExampleWindow, FeatureParity, ParityExample, ParityReport } from '../types.js';
import {
  disagreements,
  formatDifference,
  formatEntity,
  formatSmape,
  formatTime,
  formatValue,
} from './format.js';

const escapeHtml = (text: string): string =>
  text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');

const SEGMENTS = [
  ['agree', 'agree'],
  ['bothNull', 'both_null'],
  ['offlineNull', 'offline_null'],
  ['onlineNull', 'online_null'],
  ['mismatch', 'mismatch'],
] as const;

const STYLE = `
:root { --ok: #1a7f37; --fail: #cf222e; --agree: #2da44e; --both-null: #afb8c1; --offline-null: #bf8700;
  --online-null: #8250df; --mismatch: #cf222e; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px; color: #1f2328; }
h1 { font-size: 22px; margin: 0 0 8px; } h2 { font-size: 18px; margin: 28px 0 8px; } h3 { font-size: 15px; margin: 18px 0 6px; }
.verdict { display: inline-block; padding: 4px 10px; border-radius: 6px; color: #fff; font-weight: 600; }
.verdict.ok { background: var(--ok); } .verdict.fail { background: var(--fail); }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 12px 0; }
dl.summary dt { color: var(--muted); } dl.summary dd { margin: 0; }
ul.notes { color: var(--muted); padding-left: 18px; }
table { border-collapse: collapse; } th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num.bad { color: var(--fail); font-weight: 700; }
tr.failing td.name { color: var(--fail); font-weight: 700; }
.bar { display: flex; width: 260px; height: 14px; border-radius: 3px; overflow: hidden; background: #eee; }
.bar span { display: block; height: 100%; }
.bar span.nonzero { min-width: 3px; }
.seg-agree { background: var(--agree); } .seg-both_null { background: var(--both-null); }
.seg-offline_null { background: var(--offline-null); } .seg-online_null { background: var(--online-null); }
.seg-mismatch { background: var(--mismatch); }
.legend span { display: inline-flex; align-items: center; margin-right: 14px; color: var(--muted); }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; border-radius: 2px; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
tr.example { cursor: pointer; } tr.example:hover { background: #f6f8fa; }
tr.events > td { background: #fbfcfd; }
table.events td, table.events th { font-size: 12.5px; padding: 2px 6px; }
table.events tr.pos-before td, table.events tr.pos-after td { color: var(--muted); }
table.events tr.counts td.counts { color: var(--ok); font-weight: 600; }
.edge { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 4px; padding: 0 4px; }
.late { background: #ffebe9; border: 1px solid var(--fail); border-radius: 4px; padding: 0 4px; }
.hidden { display: none; }
`;

const SCRIPT = `
(function () {
  var toggle = document.getElementById('only-failing');
  if (toggle) toggle.addEventListener('change', function () {
    document.querySelectorAll('#features tbody tr').forEach(function (row) {
      row.classList.toggle('hidden', toggle.checked && !row.classList.contains('failing'));
    });
  });
  document.querySelectorAll('tr.example').forEach(function (row) {
    row.addEventListener('click', function () {
      var next = row.nextElementSibling;
      if (next && next.classList.contains('events')) next.classList.toggle('hidden');
    });
  });
})();
`;

/**
 * The report as one self-contained HTML page (inline CSS and JS, nothing fetched): the verdict
 * and what the run did, a feature table with per-feature bars of agree / both_null /
 * offline_null / online_null / mismatch, and for every disagreeing feature its worst examples
 * with the events around the window (click a row to show or hide them). The report itself is
 * embedded as JSON (`<script type="application/json" id="parity-report">`).
 */
export function renderParityHtml(report: ParityReport): string {
  const t = report.totals;
  const verdict = report.ok
    ? `OK: all ${t.values} values agree`
    : `FAIL: ${t.disagreements} of ${t.values} values disagree`;
  const replay = report.replay;
  const summary: [string, string][] = [
    ['selection', report.service === null ? 'feature list' : `service ${report.service}`],
    [
      'sample',
      `${report.sample.points} points, ${report.sample.entities} entities (${report.sample.mode}${report.sample.seed === null ? '' : `, seed ${report.sample.seed}`})`,
    ],
    ['q range', `${formatTime(report.sample.from)} to ${formatTime(report.sample.to)}`],
    [
      'replay',
      `${replay.engine} online store, namespace ${replay.namespace}, allowed lateness ${replay.allowedLateness} ms`,
    ],
    [
      'streamed',
      `${replay.events} events (${replay.applied} applied, ${replay.duplicates} duplicates, ${replay.late} late) in ${replay.writes} writes; ${replay.reads} reads`,
    ],
    [
      'materializations',
      replay.materializations.length === 0
        ? 'none'
        : replay.materializations
            .map((m) => `at ${formatTime(m.at)} up to ${formatTime(m.end)}`)
            .join('; '),
    ],
    ['started', `${formatTime(report.startedAt)}, ran ${(report.durationMs / 1000).toFixed(1)} s`],
  ];
  const failing = report.features.filter((f) => disagreements(f) > 0);
  const json = JSON.stringify(report).replaceAll('<', '\\u003c');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tandem parity report${report.service === null ? '' : ` - ${escapeHtml(report.service)}`}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>Tandem parity report</h1>
<p class="verdict ${report.ok ? 'ok' : 'fail'}" id="verdict">${escapeHtml(verdict)}</p>
<dl class="summary">${summary.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>
<ul class="notes">${[...replay.notes, ...report.skipped.map((s) => `skipped ${s.feature}: ${s.reason}`)].map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>
</header>
<section>
<h2>Features</h2>
<p class="legend">${SEGMENTS.map(([, label]) => `<span><i class="seg-${label}"></i>${label}</span>`).join('')}</p>
<p><label><input type="checkbox" id="only-failing"> show only features that disagree (${failing.length})</label></p>
<table id="features">
<thead><tr><th>feature</th><th>comparison</th><th>total</th><th>agree</th><th>both_null</th><th>offline_null</th><th>online_null</th><th>mismatch</th><th>within tolerance</th><th>sMAPE %</th><th>max |diff|</th><th>values</th></tr></thead>
<tbody>
${report.features.map(featureRow).join('\n')}
</tbody>
<tfoot><tr><th>total</th><th></th>${[t.values, t.agree, t.bothNull, t.offlineNull, t.onlineNull, t.mismatch].map((n) => `<th class="num">${n}</th>`).join('')}<th></th><th></th><th></th><th></th></tr></tfoot>
</table>
</section>
<section id="examples">
<h2>Disagreements</h2>
${failing.length === 0 ? '<p id="no-disagreements">None: every value agrees.</p>' : failing.map(featureExamples).join('\n')}
</section>
<script type="application/json" id="parity-report">${json}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

function featureRow(f: FeatureParity): string {
  const count = (n: number, bad: boolean) =>
    `<td class="num${bad && n > 0 ? ' bad' : ''}">${n}</td>`;
  const segments = SEGMENTS.map(([key, label]) => {
    const n = f[key];
    const width = f.total === 0 ? 0 : (100 * n) / f.total;
    return `<span class="seg-${label}${n > 0 ? ' nonzero' : ''}" style="width:${width.toFixed(3)}%" title="${label}: ${n}" data-segment="${label}" data-count="${n}"></span>`;
  }).join('');
  return `<tr data-feature="${escapeHtml(f.name)}" class="${disagreements(f) > 0 ? 'failing' : 'agreeing'}">
<td class="name mono">${escapeHtml(f.name)}</td><td>${escapeHtml(f.comparison)}</td>${count(f.total, false)}${count(f.agree, false)}${count(f.bothNull, false)}${count(f.offlineNull, true)}${count(f.onlineNull, true)}${count(f.mismatch, true)}${count(f.withinTolerance, false)}<td class="num">${formatSmape(f.smape)}</td><td class="num">${formatDifference(f.maxDifference)}</td><td><div class="bar">${segments}</div></td></tr>`;
}

function featureExamples(f: FeatureParity): string {
  return `<article class="feature-examples" data-feature="${escapeHtml(f.name)}">
<h3><code>${escapeHtml(f.name)}</code>: ${disagreements(f)} disagreeing values (${f.mismatch} mismatch, ${f.offlineNull} offline_null, ${f.onlineNull} online_null); worst ${f.examples.length}</h3>
<table class="examples">
<thead><tr><th>kind</th><th>entity</th><th>q</th><th>offline</th><th>online</th><th>reference (TS fold)</th><th>|diff|</th><th>tolerance</th></tr></thead>
<tbody>
${f.examples.map(exampleRows).join('\n')}
</tbody>
</table>
</article>`;
}

function exampleRows(example: ParityExample, index: number): string {
  const windows = example.windows.map(windowTable).join('');
  return `<tr class="example" data-example="${index}"><td>${escapeHtml(example.kind)}${example.unrepairedLate ? ' <span class="late" title="a window holds a late event no materialization had repaired by q">late</span>' : ''}</td><td class="mono">${escapeHtml(formatEntity(example.entity))}</td><td class="mono">${escapeHtml(formatTime(example.q))}</td><td class="mono offline">${escapeHtml(formatValue(example.offline))}</td><td class="mono online">${escapeHtml(formatValue(example.online))} <small>(${escapeHtml(example.onlineStatus)})</small></td><td class="mono reference">${escapeHtml(formatValue(example.reference))}</td><td class="num">${formatDifference(example.difference)}</td><td class="num">${formatDifference(example.tolerance)}</td></tr>
<tr class="events${index === 0 ? '' : ' hidden'}"><td colspan="8">${windows}</td></tr>`;
}

function windowTable(window: ExampleWindow): string {
  const fields = [...new Set(window.events.flatMap((e) => Object.keys(e.values)))];
  const rows = window.events
    .map((e) => {
      const marks = [
        ...(e.edge === null ? [] : [`<span class="edge">${escapeHtml(e.edge)}</span>`]),
        ...(e.late ? [`<span class="late">${e.repaired ? 'late, repaired' : 'late'}</span>`] : []),
      ].join(' ');
      return `<tr class="pos-${e.position}${e.counts ? ' counts' : ''}"><td class="mono">${escapeHtml(formatTime(e.ts))}</td><td class="mono">${escapeHtml(e.eventId ?? '')}</td><td class="mono">${e.ingestedAt ?? ''}</td>${fields.map((name) => `<td class="mono">${escapeHtml(formatValue(e.values[name] ?? null))}</td>`).join('')}<td>${e.position}</td><td class="counts">${e.counts ? 'counts' : 'excluded'}</td><td>${marks}</td></tr>`;
    })
    .join('');
  return `<div class="window" data-window="${escapeHtml(window.feature)}"><p><code>${escapeHtml(window.feature)}</code> over <code>${escapeHtml(window.source)}</code>: window [${escapeHtml(window.start === null ? '-inf' : formatTime(window.start))}, ${escapeHtml(formatTime(window.end))})${window.omitted > 0 ? `; ${window.omitted} more events inside the window not shown` : ''}</p>
<table class="events"><thead><tr><th>ts</th><th>event id</th><th>ingested at</th>${fields.map((f) => `<th>${escapeHtml(f)}</th>`).join('')}<th>position</th><th>as of q</th><th>marks</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}
