/**
 * Where the middleware's CPU time goes: a V8 CPU profile (`--cpu-prof`) of a server process,
 * self time summed by category (Express, body parsing, validation, the predictor, the online
 * store, ioredis, ONNX Runtime, metrics, GC, ...), as a share of the busy time and as
 * microseconds per request.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** One category of the summary. */
export interface ProfileCategory {
  readonly category: string;
  /** Self time, ms. */
  readonly ms: number;
  /** Share of the busy (non-idle) time, percent. */
  readonly percent: number;
  /** Self time per answered request, microseconds. */
  readonly usPerRequest: number;
}

/** True for a file of the serving package under `dir`: its sources (tsx) or its build (dist). */
const servingDir = (url: string, dir: string) =>
  url.includes(`packages/serving/src/${dir}`) || url.includes(`packages/serving/dist/${dir}`);

/** Rules: the first whose test matches a frame's URL or function name names its category. */
const RULES: readonly (readonly [string, (url: string, fn: string) => boolean])[] = [
  ['idle', (_u, f) => f === '(idle)'],
  ['garbage collection', (_u, f) => f === '(garbage collector)'],
  ['onnxruntime-node', (u) => u.includes('onnxruntime')],
  ['online store (feature-store)', (u) => u.includes('packages/feature-store/')],
  ['core (tiles, fold, finalize)', (u) => u.includes('packages/core/')],
  [
    'ioredis + redis parser',
    (u) =>
      /node_modules\/(ioredis|redis-parser|denque|@ioredis|standard-as-callback|cluster-key-slot)\//.test(
        u,
      ),
  ],
  ['zod (validation)', (u) => u.includes('node_modules/zod/')],
  ['hand-written handler (bench server.ts)', (u) => u.includes('bench/serving-lib/server.ts')],
  [
    'prom-client (metrics)',
    (u) =>
      u.includes('node_modules/prom-client/') ||
      u.includes('node_modules/tdigest') ||
      u.includes('node_modules/bintrees'),
  ],
  ['serving: telemetry', (u) => servingDir(u, 'telemetry/')],
  ['serving: resilience', (u) => servingDir(u, 'resilience/')],
  ['serving: batching + models', (u) => servingDir(u, 'batching/') || servingDir(u, 'models/')],
  ['serving: middleware (predictor, router)', (u) => servingDir(u, '')],
  ['opentelemetry api (no-op spans)', (u) => u.includes('@opentelemetry')],
  ['pino', (u) => u.includes('node_modules/pino')],
  [
    'body parsing (body-parser, raw-body, type-is, iconv)',
    (u) =>
      /node_modules\/(body-parser|raw-body|type-is|iconv-lite|content-type|media-typer|mime-types|mime-db|bytes|unpipe|destroy|on-finished|http-errors|statuses|depd)\//.test(
        u,
      ),
  ],
  [
    'express + router',
    (u) =>
      /node_modules\/(express|router|path-to-regexp|parseurl|finalhandler|qs|send|encodeurl|escape-html|etag|fresh|range-parser|vary|content-disposition|cookie|cookie-signature|proxy-addr|forwarded|ipaddr\.js|accepts|negotiator|methods|merge-descriptors|utils-merge|setprototypeof|safe-buffer|is-promise)\//.test(
        u,
      ),
  ],
  [
    'node http + net',
    (u) =>
      /^node:(_http|http|net|stream|internal\/streams|internal\/http|internal\/stream|buffer|events|string_decoder)/.test(
        u,
      ) ||
      u.startsWith('node:internal/streams') ||
      u.includes('node:_http'),
  ],
  [
    'node crypto (uuid)',
    (u) => u.startsWith('node:crypto') || u.startsWith('node:internal/crypto'),
  ],
  [
    'node internals (timers, async hooks, microtasks)',
    (u, f) => u.startsWith('node:') || f === '(program)' || f === 'runMicrotasks',
  ],
];

/** Categories of Node's own code and of V8 (used when no library or app frame owns the time). */
const ENGINE = new Set([
  'idle',
  'garbage collection',
  'node http + net',
  'node crypto (uuid)',
  'node internals (timers, async hooks, microtasks)',
]);
const NATIVE = 'other (V8 builtins, natives)';

/**
 * Summarizes a `.cpuprofile` file by category. Time spent in Node's internals or in natives
 * (socket writes, string encoding) is charged to the nearest caller that belongs to a library or
 * to the app, so writing a Redis command counts for ioredis and writing an HTTP answer for
 * Express; it stays with Node only when no such caller is on the stack (the HTTP parser, timers).
 * V8's samples measure wall time while the thread runs or waits to run, so on a busy machine they
 * overstate CPU: given `cpuUsPerRequest` (the process's CPU time per request, from the OS), the
 * categories are scaled to add up to it. Idle time is left out.
 */
export function summarizeProfile(
  path: string,
  requests: number,
  cpuUsPerRequest?: number,
): ProfileCategory[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const own = (node: ProfileNode) =>
    RULES.find(([, test]) => test(node.callFrame.url, node.callFrame.functionName))?.[0] ?? NATIVE;
  const categoryOf = new Map<number, string>();
  const resolve = (id: number): string => {
    const known = categoryOf.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    const mine = own(node);
    let category = mine;
    if (mine === NATIVE || (ENGINE.has(mine) && mine !== 'idle' && mine !== 'garbage collection')) {
      const up = parent.get(id);
      const inherited = up === undefined ? undefined : resolve(up);
      if (inherited !== undefined && !ENGINE.has(inherited) && inherited !== NATIVE) {
        category = inherited;
      }
    }
    categoryOf.set(id, category);
    return category;
  };
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    if (!byId.has(id)) return;
    const category = resolve(id);
    totals.set(category, (totals.get(category) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const busy = [...totals].filter(([c]) => c !== 'idle').reduce((s, [, us]) => s + us, 0);
  const n = Math.max(1, requests);
  const scale =
    cpuUsPerRequest === undefined || !Number.isFinite(cpuUsPerRequest) || busy === 0
      ? 1
      : (cpuUsPerRequest * n) / busy;
  return [...totals]
    .filter(([category]) => category !== 'idle')
    .map(([category, us]) => ({
      category,
      ms: (us * scale) / 1000,
      percent: (100 * us) / busy,
      usPerRequest: (us * scale) / n,
    }))
    .sort((a, b) => b.ms - a.ms);
}

/** The functions with the most self time (for the report's detail). */
export function topFunctions(path: string, count: number): { fn: string; ms: number }[] {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const totals = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    if (node === undefined) return;
    const { url, functionName } = node.callFrame;
    const where = url.replace(/^.*\/(node_modules|packages)\//, '$1/');
    const key = `${functionName || '(anonymous)'} ${where}`;
    totals.set(key, (totals.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return [...totals]
    .filter(([k]) => !k.startsWith('(idle)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([fn, us]) => ({ fn, ms: Math.round(us) / 1000 }));
}
