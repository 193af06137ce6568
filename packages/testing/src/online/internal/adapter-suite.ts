import { OVERFLOW, type TileOp } from '@tandem/core';
import {
  applyTileOp,
  type KeyedOp,
  memoryAdapter,
  type OnlineAdapter,
  type ReadOp,
  type ReadReply,
  type StreamedEvent,
  type WriteGroup,
} from '@tandem/feature-store';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  add,
  canonicalReply,
  canonicalText,
  entry,
  FIELD_KINDS,
  type FieldKind,
  fromEntry,
  opArb,
  opSequenceArb,
  type Timed,
} from './ops.js';
import { entityKeySet, type Scope, sleep, withScope, writeGroup } from './scope.js';

/** What the adapter-level tests need from the suite's options. */
export interface AdapterSuiteContext {
  readonly makeAdapter: () => OnlineAdapter | Promise<OnlineAdapter>;
  readonly prefix: () => string;
  readonly numRuns: number;
}

let eventCounter = 0;

/** A streamed event applying `ops` to tile key 0 (index 3 of an {@link entityKeySet}). */
function streamed(
  id: string,
  ts: number,
  ops: readonly (TileOp & { field?: string; key?: number })[],
): StreamedEvent {
  eventCounter++;
  return {
    id,
    ts,
    visibleAt: ts + 1,
    raw: JSON.stringify([ts, id, eventCounter]),
    ops: ops.map(
      (op): KeyedOp => ({ key: op.key ?? 3, field: op.field ?? 'x', op: stripRouting(op) }),
    ),
  };
}

function stripRouting(op: TileOp & { field?: string; key?: number }): TileOp {
  const { field: _field, key: _key, ...rest } = op;
  return rest as TileOp;
}

/** Applies `ops` to one fresh field, one event each, and reads the field back. */
async function applyOps(scope: Scope, ops: readonly TileOp[], name = 'e'): Promise<string | null> {
  const set = entityKeySet(scope.prefix, name);
  const events = ops.map((op, i) => streamed(`op${i}`, 1000 + i, [op]));
  await scope.adapter.write([writeGroup(set.keys, { events })]);
  const [reply] = await readOne(scope.adapter, [
    [{ kind: 'fields', key: set.tiles[0], fields: ['x'] }],
  ]);
  return reply![0] ?? null;
}

/** The replies of the first read group of a call. */
async function readOne(
  adapter: OnlineAdapter,
  groups: readonly (readonly ReadOp[])[],
): Promise<ReadReply[]> {
  return (await adapter.read(groups))[0]!;
}

/** The reference text of a field after `ops` (the in-process semantics). */
function reference(ops: readonly TileOp[]): string | null {
  let current: string | null = null;
  for (const op of ops) current = applyTileOp(current, op);
  return current;
}

/** Registers the adapter-level conformance tests. */
export function describeAdapterSuite(ctx: AdapterSuiteContext): void {
  const run = <T>(body: (scope: Scope) => Promise<T>) =>
    withScope(ctx.makeAdapter, ctx.prefix, body);

  describe('tile ops', () => {
    it('add: float sums are the exact double of the same additions (%.17g round trip)', () =>
      run(async (scope) => {
        const args = [0.1, 0.2, 0.3, 1e-300, 123456.789, -0.1, 2 ** 53, 1, 1 / 3, 5e-324];
        const text = await applyOps(scope, args.map(add));
        let sum = 0;
        for (const x of args) sum += x;
        expect(text).not.toBeNull();
        expect(Number(text)).toBe(sum);
        expect(Number(text)).toBe(Number(reference(args.map(add))));
      }));

    it('add: every intermediate sum round-trips exactly, integers stay exact up to 2^53', () =>
      run(async (scope) => {
        const texts: (string | null)[] = [];
        const args = [0.1, 0.7, 2 ** 53 - 1, -(2 ** 53 - 1), 1e21, -1e21, 0.2];
        let sum = 0;
        for (const [i, x] of args.entries()) {
          sum += x;
          texts.push(await applyOps(scope, args.slice(0, i + 1).map(add), `e${i}`));
          expect(Number(texts[i])).toBe(sum);
        }
      }));

    it('add: an overflow is stored as "overflow" and sticks', () =>
      run(async (scope) => {
        expect(await applyOps(scope, [add(1e308), add(1e308)], 'up')).toBe(OVERFLOW);
        expect(await applyOps(scope, [add(-1e308), add(-1e308)], 'down')).toBe(OVERFLOW);
        expect(
          await applyOps(
            scope,
            [add(1e308), add(1e308), add(-1e308), add(-1e308), add(1)],
            'sticks',
          ),
        ).toBe(OVERFLOW);
        expect(await applyOps(scope, [add(1.7976931348623157e308), add(-1)], 'max')).not.toBe(
          OVERFLOW,
        );
      }));

    it('poison: the field holds "overflow" and later adds keep it', () =>
      run(async (scope) => {
        const ops: TileOp[] = [add(2), { kind: 'poison', part: 'q' }, add(3)];
        expect(await applyOps(scope, ops)).toBe(OVERFLOW);
        expect(await applyOps(scope, [{ kind: 'poison', part: 'q' }], 'only')).toBe(OVERFLOW);
      }));

    it('min / max keep the stored text of the smallest / largest number', () =>
      run(async (scope) => {
        const args = ['5', '-2.5', '1e3', '999', '-2.50', '0', '-0'];
        const min = await applyOps(
          scope,
          args.map((arg): TileOp => ({ kind: 'min', part: 'v', arg })),
          'min',
        );
        const max = await applyOps(
          scope,
          args.map((arg): TileOp => ({ kind: 'max', part: 'v', arg })),
          'max',
        );
        // Ties keep the first text: -2.5 before -2.50.
        expect(min).toBe('-2.5');
        expect(max).toBe('1e3');
      }));

    it('greatest keeps the newest entry: ts, then eventId bytewise (absent first), then seq', () =>
      run(async (scope) => {
        const cases: [string, Timed[], Timed][] = [];
        const t = (ts: number, eventId: string | null, seq: number | null, value = 1): Timed => ({
          ts,
          eventId,
          seq,
          value,
        });
        cases.push(['ts 1 ms apart', [t(1e12 + 1, 'a', 1), t(1e12, 'b', 9)], t(1e12 + 1, 'a', 1)]);
        cases.push([
          'ts near 2^53',
          [t(2 ** 53 - 1, 'a', 1), t(2 ** 53 - 2, 'b', 9)],
          t(2 ** 53 - 1, 'a', 1),
        ]);
        cases.push(['ts', [t(5, 'z', 9), t(6, 'a', 0), t(4, 'zz', 9)], t(6, 'a', 0)]);
        cases.push(['id absent first', [t(5, 'a', 1), t(5, null, 9)], t(5, 'a', 1)]);
        cases.push(['id bytewise', [t(5, 'b', 1), t(5, 'B', 9), t(5, 'a', 9)], t(5, 'b', 1)]);
        // UTF-8 bytewise: 'é' (c3 a9) > 'z' (7a); '😀' (f0 ...) > '\uffff' (ef bf bf).
        cases.push(['id utf-8', [t(5, 'é', 1), t(5, 'z', 9)], t(5, 'é', 1)]);
        cases.push(['id utf-8 astral', [t(5, '😀', 1), t(5, '\uffff', 9)], t(5, '😀', 1)]);
        cases.push(['id prefix', [t(5, 'aa', 1), t(5, 'a', 9)], t(5, 'aa', 1)]);
        cases.push(['seq', [t(5, 'a', 2), t(5, 'a', 10), t(5, 'a', null)], t(5, 'a', 10)]);
        cases.push(['negative ts', [t(-1, 'a', 1), t(-2, 'b', 1)], t(-1, 'a', 1)]);
        for (const [name, values, winner] of cases) {
          for (const order of [values, [...values].reverse()]) {
            const text = await applyOps(
              scope,
              order.map((v): TileOp => ({ kind: 'greatest', part: 'e', arg: entry(v) })),
              `${name}:${order === values ? 'fwd' : 'rev'}`,
            );
            expect({ name, value: fromEntry(text!) }).toEqual({ name, value: winner });
          }
        }
      }));

    it('newest / oldest keep the k greatest / smallest entries, in that order', () =>
      run(async (scope) => {
        const values: Timed[] = [5, 1, 9, 3, 7, 9].map((ts, i) => ({
          ts,
          eventId: `e${i}`,
          seq: null,
          value: ts * 10,
        }));
        const newest = await applyOps(
          scope,
          values.map((v): TileOp => ({ kind: 'newest', part: 'l', k: 3, arg: entry(v) })),
          'newest',
        );
        const oldest = await applyOps(
          scope,
          values.map((v): TileOp => ({ kind: 'oldest', part: 'l', k: 2, arg: entry(v) })),
          'oldest',
        );
        const ids = (text: string | null) =>
          (JSON.parse(text!) as string[]).map((e) => fromEntry(e).eventId);
        expect(ids(newest)).toEqual(['e5', 'e2', 'e4']);
        expect(ids(oldest)).toEqual(['e1', 'e3']);
        const one = await applyOps(
          scope,
          [{ kind: 'newest', part: 'l', k: 1, arg: entry(values[0]!) }],
          'one',
        );
        expect(ids(one)).toEqual(['e0']);
      }));

    it('hll keeps one item per register, the highest rank, sorted', () =>
      run(async (scope) => {
        const items = [65, 3, 66, 2, 640, 64 * 5 + 1, 7, 641];
        const text = await applyOps(
          scope,
          items.map((arg): TileOp => ({ kind: 'hll', part: 'h', arg })),
        );
        expect(JSON.parse(text!)).toEqual([7, 66, 64 * 5 + 1, 641]);
        expect(canonicalText(text)).toBe(
          canonicalText(reference(items.map((arg): TileOp => ({ kind: 'hll', part: 'h', arg })))),
        );
      }));

    it('every op kind agrees with the in-process reference (applyTileOp) on random sequences', () =>
      run(async (scope) => {
        let n = 0;
        await fc.assert(
          fc.asyncProperty(opSequenceArb, async ([kind, ops]) => {
            const text = await applyOps(scope, ops, `p${n++}`);
            expect({ kind, text: canonicalText(text) }).toEqual({
              kind,
              text: canonicalText(reference(ops)),
            });
          }),
          { numRuns: ctx.numRuns * 2 },
        );
      }));
  });

  describe('write groups', () => {
    it('dedupes by id within one group and across calls', () =>
      run(async ({ adapter, prefix }) => {
        const set = entityKeySet(prefix, 'dup');
        const [first] = await adapter.write([
          writeGroup(set.keys, {
            events: [
              streamed('a', 10, [add(1)]),
              streamed('b', 11, [add(2)]),
              streamed('a', 12, [add(4)]),
            ],
          }),
        ]);
        expect(first).toEqual({ applied: 2, duplicates: 1, late: 0 });
        const [second] = await adapter.write([
          writeGroup(set.keys, {
            events: [streamed('b', 11, [add(8)]), streamed('c', 13, [add(16)])],
          }),
        ]);
        expect(second).toEqual({ applied: 1, duplicates: 1, late: 0 });
        const [tiles, seen] = await readOne(adapter, [
          [
            { kind: 'fields', key: set.tiles[0], fields: ['x'] },
            { kind: 'range', key: set.seen, min: -Infinity, max: Infinity },
          ],
        ]);
        expect(canonicalReply(tiles!)).toEqual(['#19']);
        expect(seen).toEqual(['a', 'b', 'c']);
      }));

    it('counts late events without applying them or remembering their ids', () =>
      run(async ({ adapter, prefix }) => {
        const set = entityKeySet(prefix, 'late');
        const [outcome] = await adapter.write([
          writeGroup(set.keys, {
            lateBefore: 100,
            events: [
              streamed('old', 99, [add(1)]),
              streamed('edge', 100, [add(2)]),
              streamed('new', 150, [add(4)]),
            ],
            meta: { u: '7' },
          }),
        ]);
        expect(outcome).toEqual({ applied: 2, duplicates: 0, late: 1 });
        const [tiles, seen, raw, meta] = await readOne(adapter, [
          [
            { kind: 'fields', key: set.tiles[0], fields: ['x'] },
            { kind: 'range', key: set.seen, min: -Infinity, max: Infinity },
            { kind: 'range', key: set.raw, min: -Infinity, max: Infinity },
            { kind: 'fields', key: set.meta, fields: ['u'] },
          ],
        ]);
        expect(canonicalReply(tiles!)).toEqual(['#6']);
        expect(seen).toEqual(['edge', 'new']);
        expect(raw!.map((m: string | null) => JSON.parse(m!)[1])).toEqual(['edge', 'new']);
        expect(meta).toEqual(['7']);
        // Only late events: nothing applied, so no meta either.
        const other = entityKeySet(prefix, 'late-only');
        const [onlyLate] = await adapter.write([
          writeGroup(other.keys, {
            lateBefore: 100,
            events: [streamed('x', 1, [add(1)])],
            meta: { u: '7' },
          }),
        ]);
        expect(onlyLate).toEqual({ applied: 0, duplicates: 0, late: 1 });
        const [otherMeta, otherSeen] = await readOne(adapter, [
          [
            { kind: 'fields', key: other.meta, fields: ['u'] },
            { kind: 'range', key: other.seen, min: -Infinity, max: Infinity },
          ],
        ]);
        expect(otherMeta).toEqual([null]);
        expect(otherSeen).toEqual([]);
      }));

    it('puts overwrite, deletes remove, meta is set only when something was applied or put', () =>
      run(async ({ adapter, prefix }) => {
        const set = entityKeySet(prefix, 'puts');
        await adapter.write([
          writeGroup(set.keys, { events: [streamed('a', 1, [add(5)])], meta: { u: '1' } }),
        ]);
        await adapter.write([
          writeGroup(set.keys, {
            puts: [
              { key: 3, field: 'x', value: '42' },
              { key: 4, field: 'y', value: 'text\twith tab' },
            ],
            deletes: [
              { key: 3, field: 'nope' },
              { key: 4, field: 'absent-key' },
            ],
            meta: { u: '2', 'f:a': 'fp' },
          }),
        ]);
        await adapter.write([
          writeGroup(set.keys, { deletes: [{ key: 3, field: 'x' }], meta: { u: '3' } }),
        ]);
        const [t0, t1, meta] = await readOne(adapter, [
          [
            { kind: 'fields', key: set.tiles[0], fields: ['x'] },
            { kind: 'fields', key: set.tiles[1], fields: ['y'] },
            { kind: 'fields', key: set.meta, fields: ['u', 'f:a'] },
          ],
        ]);
        expect(t0).toEqual([null]);
        expect(t1).toEqual(['text\twith tab']);
        expect(meta).toEqual(['2', 'fp']);
      }));

    it('trims dedupe ids and raw head members scored below trimBefore', () =>
      run(async ({ adapter, prefix }) => {
        const set = entityKeySet(prefix, 'trim');
        await adapter.write([
          writeGroup(set.keys, {
            events: [10, 20, 30, 40].map((ts) => streamed(`e${ts}`, ts, [add(1)])),
          }),
        ]);
        await adapter.write([writeGroup(set.keys, { trimBefore: 30 })]);
        const [seen, raw, tiles] = await readOne(adapter, [
          [
            { kind: 'range', key: set.seen, min: -Infinity, max: Infinity },
            { kind: 'range', key: set.raw, min: -Infinity, max: Infinity },
            { kind: 'fields', key: set.tiles[0], fields: ['x'] },
          ],
        ]);
        expect(seen).toEqual(['e30', 'e40']);
        expect(raw!.map((m: string | null) => JSON.parse(m!)[0])).toEqual([30, 40]);
        expect(canonicalReply(tiles!)).toEqual(['#4']);
        // A trimmed id is forgotten: the same id applies again.
        const [again] = await adapter.write([
          writeGroup(set.keys, { events: [streamed('e10', 35, [add(1)])] }),
        ]);
        expect(again).toEqual({ applied: 1, duplicates: 0, late: 0 });
      }));

    it('applies a ranged op only to events whose ts is in the range its field carries, raising its mark', () =>
      run(async ({ adapter, prefix }) => {
        const set = entityKeySet(prefix, 'ranged');
        const event = (id: string, ts: number, field = 'c:x', slot?: number): StreamedEvent => {
          const plain = streamed(id, ts, [add(1)]);
          const ranged = { key: 2, field, op: add(1), ranged: true as const };
          return {
            ...plain,
            ops: [slot === undefined ? ranged : { ...ranged, slot }, ...plain.ops],
          };
        };
        // No field yet: the ranged op is skipped (nothing created), the plain one applies.
        await adapter.write([writeGroup(set.keys, { events: [event('a', 15)] })]);
        await adapter.write([
          writeGroup(set.keys, {
            puts: [
              // Ranges in base 36: [10, 20) marked 5 (then what follows the mark, kept), and
              // [-41, 0) marked 38,...: the events' visibleAt (ts + 1) raises the first mark only.
              { key: 2, field: 'c:x', value: 'a k 5 s t|' },
              { key: 2, field: 'c:y', value: '-15 0 tag|3' },
              { key: 2, field: 'bad', value: 'A k 1|1' },
              { key: 2, field: 'bare', value: '10 20 1' },
              { key: 2, field: 'nomark', value: 'a k|1' },
              // Parts: the op applies to its slot, empty parts are absent, missing ones are added.
              { key: 2, field: 'c:p', value: 'a k 5|7\x1f\x1f2' },
            ],
          }),
        ]);
        await adapter.write([
          writeGroup(set.keys, {
            events: [
              event('p1', 11, 'c:p', 1),
              event('p2', 12, 'c:p', 2),
              event('p3', 13, 'c:p', 4),
              event('p4', 14, 'c:p', 0),
              event('p5', 25, 'c:p', 3),
            ],
          }),
        ]);
        await adapter.write([
          writeGroup(set.keys, { events: [9, 10, 19, 20, -3].map((ts) => event(`e${ts}`, ts)) }),
        ]);
        await adapter.write([
          writeGroup(set.keys, {
            events: [
              event('y', -1, 'c:y'),
              event('z', -42, 'c:y'),
              event('m', 12, 'bad'),
              event('n', 12, 'bare'),
              event('o', 12, 'nomark'),
            ],
          }),
        ]);
        const [meta, tile] = await readOne(adapter, [
          [
            {
              kind: 'fields',
              key: set.meta,
              fields: ['c:x', 'c:y', 'bad', 'bare', 'c:absent', 'c:p', 'nomark'],
            },
            { kind: 'fields', key: set.tiles[0], fields: ['x'] },
          ],
        ]);
        const [x, y, bad, bare, absent, p, nomark] = meta!;
        const text = (field: string | null) => field!.slice(field!.indexOf('|') + 1);
        // Events at 10 and 19 applied: the mark is now 20 (k).
        expect(x!.slice(0, x!.indexOf('|') + 1)).toBe('a k k s t|');
        expect(canonicalReply([text(x!)])).toEqual(['#2']);
        expect(y!.slice(0, y!.indexOf('|') + 1)).toBe('-15 0 tag|');
        expect(canonicalReply([text(y!)])).toEqual(['#4']);
        expect([bad, bare, absent, nomark]).toEqual(['A k 1|1', '10 20 1', null, 'a k|1']);
        // Events at 11 to 14 applied: the mark is now 15 (f).
        expect(canonicalText(p!)).toBe('a k f|#8\x1f#1\x1f#3\x1f\x1f#1');
        expect(canonicalReply(tile!)).toEqual(['#16']);
      }));

    it('a guard refuses the whole group unless its field holds the expected text', () =>
      run(async ({ adapter, prefix }) => {
        const set = entityKeySet(prefix, 'guard');
        const guarded = (equals: string | null, value: string) =>
          writeGroup(set.keys, {
            guard: { key: 2, field: 'v', equals },
            events: [streamed(`g${value}`, 1, [add(1)])],
            puts: [{ key: 2, field: 'p', value }],
            meta: { u: value },
          });
        // Absent field: only a null guard passes.
        expect(await adapter.write([guarded('1', 'a')])).toEqual([
          { applied: 0, duplicates: 0, late: 0, refused: true },
        ]);
        expect(await adapter.write([guarded(null, 'b')])).toEqual([
          { applied: 1, duplicates: 0, late: 0 },
        ]);
        await adapter.write([writeGroup(set.keys, { puts: [{ key: 2, field: 'v', value: '7' }] })]);
        const [refused, passed] = await adapter.write([guarded(null, 'c'), guarded('7', 'd')]);
        expect(refused).toEqual({ applied: 0, duplicates: 0, late: 0, refused: true });
        expect(passed).toEqual({ applied: 1, duplicates: 0, late: 0 });
        const [meta, tile, seen] = await readOne(adapter, [
          [
            { kind: 'fields', key: set.meta, fields: ['p', 'u'] },
            { kind: 'fields', key: set.tiles[0], fields: ['x'] },
            { kind: 'range', key: set.seen, min: -Infinity, max: Infinity },
          ],
        ]);
        expect(meta).toEqual(['d', 'd']);
        expect(canonicalReply(tile!)).toEqual(['#2']);
        expect(seen).toEqual(['gb', 'gd']);
      }));

    it('a counter goes up by one per group that applied, put or deleted something', () =>
      run(async ({ adapter, prefix }) => {
        const set = entityKeySet(prefix, 'counter');
        const counter = { key: 2, field: 'v' } as const;
        await adapter.write([
          writeGroup(set.keys, { counter, events: [streamed('a', 1, [add(1)])] }),
        ]);
        await adapter.write([writeGroup(set.keys, { counter })]); // nothing to do
        await adapter.write([
          writeGroup(set.keys, { counter, events: [streamed('a', 1, [add(1)])] }), // duplicate
        ]);
        await adapter.write([
          writeGroup(set.keys, { counter, puts: [{ key: 3, field: 'p', value: '1' }] }),
        ]);
        await adapter.write([writeGroup(set.keys, { counter, deletes: [{ key: 3, field: 'q' }] })]);
        await adapter.write([
          writeGroup(set.keys, { puts: [{ key: 3, field: 'p', value: '2' }] }), // no counter
        ]);
        const [[v]] = (await readOne(adapter, [
          [{ kind: 'fields', key: set.meta, fields: ['v'] }],
        ])) as [[string]];
        expect(v).toBe('3');
      }));

    it('applies several groups of several entities in one call, each with its own outcome', () =>
      run(async ({ adapter, prefix }) => {
        const groups = Array.from({ length: 12 }, (_, i) =>
          writeGroup(entityKeySet(prefix, `g${i}`).keys, {
            events: Array.from({ length: i % 3 }, (_, j) => streamed(`e${j}`, j, [add(i)])),
          }),
        );
        const outcomes = await adapter.write(groups);
        expect(outcomes).toEqual(
          groups.map((_, i) => ({ applied: i % 3, duplicates: 0, late: 0 })),
        );
        const replies = await adapter.read(
          groups.map((_, i) => [
            { kind: 'fields', key: entityKeySet(prefix, `g${i}`).tiles[0], fields: ['x'] },
          ]),
        );
        expect(replies.map(([r]) => canonicalReply(r!)[0] ?? null)).toEqual(
          groups.map((_, i) => (i % 3 === 0 ? null : `#${i * (i % 3)}`)),
        );
        expect(await adapter.write([])).toEqual([]);
        expect(await adapter.read([])).toEqual([]);
      }));
  });

  describe('key expiry', () => {
    it('a key with a short time to live is gone after it; keys without one stay', () =>
      run(async ({ adapter, prefix }) => {
        const set = entityKeySet(prefix, 'ttl');
        await adapter.write([
          writeGroup(set.keys, {
            events: [streamed('a', 1, [add(1), { ...add(2), key: 4 }])],
            meta: { u: '1' },
            ttls: [60, Infinity, 60, 60, Infinity],
          }),
        ]);
        const readAll = async () =>
          (
            await adapter.read([
              [
                { kind: 'range', key: set.seen, min: -Infinity, max: Infinity },
                { kind: 'range', key: set.raw, min: -Infinity, max: Infinity },
                { kind: 'fields', key: set.meta, fields: ['u'] },
                { kind: 'fields', key: set.tiles[0], fields: ['x'] },
                { kind: 'fields', key: set.tiles[1], fields: ['x'] },
              ],
            ])
          )[0]!.map((r) => canonicalReply(r));
        const before = await readAll();
        expect(before[0]).toEqual(['a']);
        expect(before[2]).toEqual(['#1']);
        expect(before[3]).toEqual(['#1']);
        await sleep(250);
        const after = await readAll();
        expect(after[0]).toEqual([]);
        expect(after[1]).toHaveLength(1);
        expect(after[2]).toEqual([null]);
        expect(after[3]).toEqual([null]);
        expect(after[4]).toEqual(['#2']);
      }));

    it('a time to live does not create a key; a later write sets it again', () =>
      run(async ({ adapter, prefix }) => {
        const set = entityKeySet(prefix, 'ttl2');
        await adapter.write([writeGroup(set.keys, { ttls: [50, 50, 50, 50, 50] })]);
        await adapter.write([writeGroup(set.keys, { events: [streamed('a', 1, [add(1)])] })]);
        await sleep(150);
        const [tiles] = await readOne(adapter, [
          [{ kind: 'fields', key: set.tiles[0], fields: ['x'] }],
        ]);
        expect(canonicalReply(tiles!)).toEqual(['#1']);
        await adapter.write([
          writeGroup(set.keys, { ttls: [Infinity, Infinity, Infinity, 50, Infinity] }),
        ]);
        await sleep(200);
        const [gone] = await readOne(adapter, [
          [{ kind: 'fields', key: set.tiles[0], fields: ['x'] }],
        ]);
        expect(gone).toEqual([null]);
      }));
  });

  describe('reads', () => {
    it('range reads return members scored in [min, max), by score then member bytewise', () =>
      run(async ({ adapter, prefix }) => {
        const set = entityKeySet(prefix, 'range');
        const members: [string, number][] = [
          ['m5', 5],
          ['b', 10],
          ['a', 10],
          ['ab', 10],
          ['B', 10],
          ['m20', 20],
          ['m-3', -3],
          ['m1.5', 1.5],
        ];
        await adapter.write([
          writeGroup(set.keys, {
            events: members.map(([id, ts]) => ({ id, ts, visibleAt: ts + 1, raw: id, ops: [] })),
          }),
        ]);
        const [replies] = await adapter.read([
          [
            { kind: 'range', key: set.raw, min: 5, max: 20 },
            { kind: 'range', key: set.raw, min: 10, max: 10 },
            { kind: 'range', key: set.raw, min: 10, max: 10.5 },
            { kind: 'range', key: set.raw, min: -Infinity, max: 5 },
            { kind: 'range', key: set.raw, min: 20, max: Infinity },
            { kind: 'range', key: set.raw, min: 21, max: Infinity },
            { kind: 'range', key: `${set.raw}:absent`, min: -Infinity, max: Infinity },
          ],
        ]);
        expect(replies).toEqual([
          ['m5', 'B', 'a', 'ab', 'b'],
          [],
          ['B', 'a', 'ab', 'b'],
          ['m-3', 'm1.5'],
          ['m20'],
          [],
          [],
        ]);
      }));

    it('range reads order members of equal score bytewise (UTF-8), as Redis does', () =>
      run(async ({ adapter, prefix }) => {
        const set = entityKeySet(prefix, 'utf8');
        const members = ['z', 'é', '\uffff', '😀', 'a', '\u0080'];
        await adapter.write([
          writeGroup(set.keys, {
            events: members.map((id) => ({ id, ts: 1, visibleAt: 2, raw: id, ops: [] })),
          }),
        ]);
        const [raw] = await readOne(adapter, [
          [{ kind: 'range', key: set.raw, min: -Infinity, max: Infinity }],
        ]);
        expect(raw).toEqual(['a', 'z', '\u0080', 'é', '\uffff', '😀']);
      }));

    it('field reads of absent keys and fields give nulls, in the order asked', () =>
      run(async ({ adapter, prefix }) => {
        const set = entityKeySet(prefix, 'fields');
        await adapter.write([writeGroup(set.keys, { puts: [{ key: 3, field: 'b', value: '2' }] })]);
        const [a, b, c, d] = await readOne(adapter, [
          [
            { kind: 'fields', key: `${prefix}{fields}:never`, fields: ['a', 'b'] },
            { kind: 'fields', key: set.tiles[0], fields: ['a', 'b', 'c', 'b'] },
            { kind: 'fields', key: set.tiles[0], fields: [] },
            { kind: 'fields', key: set.tiles[1], fields: ['b'] },
          ],
        ]);
        expect(a).toEqual([null, null]);
        expect(b).toEqual([null, '2', null, '2']);
        expect(c).toEqual([]);
        expect(d).toEqual([null]);
      }));

    it('reads many fields of one key in one op (a service of many features)', () =>
      run(async ({ adapter, prefix }) => {
        const set = entityKeySet(prefix, 'wide');
        const fields = Array.from({ length: 12_000 }, (_, i) => `f${i}`);
        await adapter.write([
          writeGroup(set.keys, {
            puts: fields
              .filter((_, i) => i % 7 === 0)
              .map((field) => ({ key: 3, field, value: field })),
          }),
        ]);
        const [reply] = await readOne(adapter, [[{ kind: 'fields', key: set.tiles[0], fields }]]);
        expect(reply).toEqual(fields.map((f, i) => (i % 7 === 0 ? f : null)));
      }));
  });

  describe('globals and clear', () => {
    it('globals: get of absent names is null; set and incr persist; incr returns the new values', () =>
      run(async ({ adapter, prefix }) => {
        const key = `${prefix}globals`;
        expect(await adapter.globals(key, { get: ['wm:a', 'late:a'] })).toEqual([null, null]);
        expect(await adapter.globals(key, { get: [] })).toEqual([]);
        await adapter.globals(key, { set: { 'wm:a': '1700000000000', 'wm:b': '5' } });
        await adapter.globals(key, { set: {} });
        expect(await adapter.globals(key, { incr: { 'late:a': 3, 'late:b': 1 } })).toEqual([
          '3',
          '1',
        ]);
        expect(await adapter.globals(key, { incr: { 'late:a': 4 } })).toEqual(['7']);
        expect(await adapter.globals(key, { incr: { 'late:a': -2 } })).toEqual(['5']);
        await adapter.globals(key, { set: { 'wm:a': '1700000000001' } });
        expect(await adapter.globals(key, { get: ['wm:a', 'wm:b', 'late:a', 'late:c'] })).toEqual([
          '1700000000001',
          '5',
          '5',
          null,
        ]);
        expect(await adapter.globals(`${prefix}other`, { get: ['wm:a'] })).toEqual([null]);
      }));

    it('clear(prefix) deletes every key of the prefix and leaves other prefixes alone', () =>
      run(async ({ adapter, prefix }) => {
        // `a:` must not clear `ab:` (no boundary) nor keys of a prefix with glob characters.
        const prefixes = [`${prefix}a:`, `${prefix}ab:`, `${prefix}a?:`, `${prefix}[a]*:`];
        for (const p of prefixes) {
          const groups = Array.from({ length: 20 }, (_, i) =>
            writeGroup(entityKeySet(p, `e${i}`).keys, {
              events: [streamed('x', 1, [add(i + 1)])],
              meta: { u: '1' },
            }),
          );
          await adapter.write(groups);
          await adapter.globals(`${p}globals`, { set: { 'wm:s': '9' } });
        }
        const count = async (p: string) => {
          const replies = await adapter.read(
            Array.from({ length: 20 }, (_, i) => [
              { kind: 'fields', key: entityKeySet(p, `e${i}`).tiles[0], fields: ['x'] } as ReadOp,
            ]),
          );
          const present = replies.filter(([r]) => r![0] !== null).length;
          const [wm] = await adapter.globals(`${p}globals`, { get: ['wm:s'] });
          return present + (wm === null ? 0 : 1);
        };
        await adapter.clear(`${prefix}a?:`);
        expect(await count(`${prefix}a?:`)).toBe(0);
        await adapter.clear(`${prefix}[a]*:`);
        expect(await count(`${prefix}[a]*:`)).toBe(0);
        expect(await count(`${prefix}a:`)).toBe(21);
        expect(await count(`${prefix}ab:`)).toBe(21);
        await adapter.clear(`${prefix}a:`);
        expect(await count(`${prefix}a:`)).toBe(0);
        expect(await count(`${prefix}ab:`)).toBe(21);
      }));
  });

  describe('clear with a filter', () => {
    it('clear(prefix, match) deletes only the prefix keys that match', () =>
      run(async ({ adapter, prefix }) => {
        const sets = ['x', 'y'].map((name) => entityKeySet(prefix, name));
        await adapter.write(
          sets.map((set) =>
            writeGroup(set.keys, { events: [streamed('a', 1, [add(1)])], meta: { u: '1' } }),
          ),
        );
        await adapter.clear(prefix, (key) => key.endsWith(':d') || key.startsWith(sets[1]!.raw));
        const replies = await adapter.read(
          sets.map((set): ReadOp[] => [
            { kind: 'range', key: set.seen, min: -Infinity, max: Infinity },
            { kind: 'range', key: set.raw, min: -Infinity, max: Infinity },
            { kind: 'fields', key: set.meta, fields: ['u'] },
          ]),
        );
        expect(replies.map((group) => group.map((r) => r.length > 0 && r[0] !== null))).toEqual([
          [false, true, true],
          [false, false, true],
        ]);
      }));
  });

  describe('engine against the in-process reference', () => {
    it('gives the reference replies for random write sequences (outcomes, fields, ranges)', () =>
      run(async ({ adapter, prefix }) => {
        let round = 0;
        await fc.assert(
          fc.asyncProperty(
            callsArb,
            fc.array(rangeArb, { minLength: 1, maxLength: 4 }),
            async (calls, ranges) => {
              const p = `${prefix}${round++}:`;
              const ref = memoryAdapter();
              const tags = ['u', 'v', 'w'];
              for (const call of calls) {
                const groups = call.map((g) => g(entityKeySet(p, tags[g.tag]!).keys));
                const [expected, actual] = [await ref.write(groups), await adapter.write(groups)];
                expect(actual).toEqual(expected);
              }
              const reads: ReadOp[][] = tags.map((tag) => {
                const set = entityKeySet(p, tag);
                const fields = [...FIELD_KINDS.flatMap((k) => [k, `${k}:put`, `${k}:r`]), 'v'];
                return [
                  { kind: 'fields', key: set.tiles[0], fields },
                  { kind: 'fields', key: set.tiles[1], fields },
                  { kind: 'fields', key: set.meta, fields: ['u', 'f:a', 'f:b'] },
                  ...ranges.flatMap(([min, max]): ReadOp[] => [
                    { kind: 'range', key: set.seen, min, max },
                    { kind: 'range', key: set.raw, min, max },
                  ]),
                ];
              });
              const [expected, actual] = [await ref.read(reads), await adapter.read(reads)];
              const norm = (replies: readonly (readonly (readonly (string | null)[])[])[]) =>
                replies.map((group) => group.map((r) => canonicalReply(r)));
              expect(norm(actual)).toEqual(norm(expected));
              await adapter.clear(p);
            },
          ),
          { numRuns: ctx.numRuns },
        );
      }));
  });
}

type GroupMaker = ((keys: readonly string[]) => WriteGroup) & { tag: number };

const tsArb = fc.integer({ min: 0, max: 40 });

const eventArb = fc
  .record({
    id: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'é', '#1', '#'),
    ts: tsArb,
    // How long after `ts + 1` a read first counts it (its ingestion time, when later).
    lag: fc.constantFrom(0, 0, 1, 7, 40),
    raw: fc.constantFrom('r1', 'r2', 'r3', '[1,"x"]', 'é', '😀'),
    ops: fc.array(
      fc.constantFrom(...FIELD_KINDS).chain((kind: FieldKind) =>
        fc.record({
          kind: fc.constant(kind),
          key: fc.constantFrom(3, 4),
          op: opArb(kind),
          ranged: fc.boolean(),
          slot: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }),
        }),
      ),
      { maxLength: 6 },
    ),
  })
  .map(
    ({ id, ts, lag, raw, ops }): StreamedEvent => ({
      id,
      ts,
      visibleAt: ts + 1 + lag,
      raw,
      ops: ops.map(({ kind, key, op, ranged, slot }) =>
        ranged
          ? { key, field: `${kind}:r`, op, ranged: true, ...(slot === undefined ? {} : { slot }) }
          : { key, field: kind, op },
      ),
    }),
  );

const groupArb: fc.Arbitrary<GroupMaker> = fc
  .record({
    tag: fc.integer({ min: 0, max: 2 }),
    events: fc.array(eventArb, { maxLength: 6 }),
    lateBefore: fc.oneof(fc.constant(Number.NEGATIVE_INFINITY), tsArb),
    trimBefore: fc.oneof(fc.constant(Number.NEGATIVE_INFINITY), tsArb),
    puts: fc.array(
      fc.oneof(
        fc.record({
          key: fc.constantFrom(3, 4),
          field: fc.constantFrom(...FIELD_KINDS.map((k) => `${k}:put`)),
          value: fc.constantFrom('1', '2.5', '[1,2]', 'text', ''),
        }),
        // Ranged fields (empty text), well-formed (base 36: [5, 30) marked 29 and more, [0, 10)
        // marked 9, [-4, 3) marked -1, [20, 10) marked 33) or not (no mark, bad digits, no bar).
        fc.record({
          key: fc.constantFrom(3, 4),
          field: fc.constantFrom(...FIELD_KINDS.map((k) => `${k}:r`)),
          value: fc.constantFrom(
            '5 u t|',
            '5 u t 1 b|',
            '0 a 9|',
            '-4 3 -1|',
            'k a x|',
            '-4 3 |',
            'X 1 2|',
            '5 u',
            '',
          ),
        }),
      ),
      { maxLength: 3 },
    ),
    counter: fc.constantFrom(undefined, { key: 3, field: 'v' }),
    guard: fc.constantFrom(
      undefined,
      { key: 3, field: 'v', equals: null },
      { key: 3, field: 'v', equals: '1' },
      { key: 4, field: 'add:r', equals: '5 u t|' },
    ),
    deletes: fc.array(
      fc.record({
        key: fc.constantFrom(3, 4),
        field: fc.constantFrom(...FIELD_KINDS, ...FIELD_KINDS.map((k) => `${k}:put`)),
      }),
      { maxLength: 2 },
    ),
    meta: fc.dictionary(fc.constantFrom('u', 'f:a', 'f:b'), fc.constantFrom('1', '2', 'fp')),
    ttl: fc.constantFrom(Number.POSITIVE_INFINITY, 3_600_000),
  })
  .map(({ tag, ttl, counter, guard, ...parts }) => {
    const make = ((keys: readonly string[]) =>
      writeGroup(keys, {
        ...parts,
        ...(counter === undefined ? {} : { counter }),
        ...(guard === undefined ? {} : { guard }),
        ttls: keys.map(() => ttl),
      })) as GroupMaker;
    make.tag = tag;
    return make;
  });

/** Calls of one or more groups; groups of one call have distinct entities. */
const callsArb = fc.array(
  fc.array(groupArb, { minLength: 1, maxLength: 3 }).map((groups) => {
    const seen = new Set<number>();
    return groups.filter((g) => !seen.has(g.tag) && seen.add(g.tag));
  }),
  { minLength: 1, maxLength: 5 },
);

const rangeArb = fc.oneof(
  fc.constant<[number, number]>([Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]),
  fc.tuple(tsArb, tsArb).map(([a, b]): [number, number] => [Math.min(a, b), Math.max(a, b)]),
);
