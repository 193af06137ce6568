import { eventOrderKey, type ScalarValue, type TileOp } from '@tandem/core';
import { RANGED_PART_SEPARATOR, type ReadReply } from '@tandem/feature-store';
import fc from 'fast-check';

/** A value with its event order (DESIGN §3), as `greatest` / `newest` / `oldest` entries hold. */
export interface Timed {
  readonly ts: number;
  readonly eventId: string | null;
  readonly seq: number | null;
  readonly value: ScalarValue;
}

/** The tile-field entry of a timed value: order key, TAB, JSON `[ts, eventId, seq, value]`. */
export function entry(value: Timed): string {
  return `${eventOrderKey(value)}\t${JSON.stringify([value.ts, value.eventId, value.seq, value.value])}`;
}

/** The timed value of an entry. */
export function fromEntry(text: string): Timed {
  const [ts, eventId, seq, value] = JSON.parse(text.slice(text.indexOf('\t') + 1)) as [
    number,
    string | null,
    number | null,
    ScalarValue,
  ];
  return { ts, eventId, seq, value };
}

/** `add` of a decimal text. */
export const add = (arg: number | string): TileOp => ({ kind: 'add', part: 'x', arg: String(arg) });

/**
 * One tile field per op kind, as the stores use them: every field takes ops of one kind only
 * (`sumsq` takes `add` and `poison`, like the squares part of a variance).
 */
export const FIELD_KINDS = [
  'add',
  'sumsq',
  'min',
  'max',
  'greatest',
  'newest3',
  'oldest2',
  'hll',
] as const;

/** A field of {@link FIELD_KINDS}. */
export type FieldKind = (typeof FIELD_KINDS)[number];

const finiteDouble = fc.double({ noNaN: true, noDefaultInfinity: true });

/** Decimal texts of sums: ordinary, fractional, huge (overflow), tiny, integers. */
export const addArg = fc.oneof(
  { weight: 3, arbitrary: fc.integer({ min: -1000, max: 1000 }).map(String) },
  { weight: 3, arbitrary: finiteDouble.map(String) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        0.1,
        0.2,
        0.3,
        -0.1,
        1e308,
        -1e308,
        1.7976931348623157e308,
        5e-324,
        1e-300,
        2 ** 53,
        2 ** 53 + 2,
        1e21,
        123456.789,
      )
      .map(String),
  },
  { weight: 1, arbitrary: fc.double({ min: -1e6, max: 1e6, noNaN: true }).map(String) },
);

/** A timed value drawn so that ties on `ts`, `eventId` and `seq` are frequent. */
export const timedArb: fc.Arbitrary<Timed> = fc.record({
  ts: fc.oneof(
    fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_003 }),
    fc.integer({ min: -5, max: 5 }),
  ),
  eventId: fc.constantFrom(
    null,
    '',
    'a',
    'aa',
    'b',
    'B',
    'é',
    'z',
    'a/b',
    '"q"',
    'x\ty',
    '😀',
    '\u{ffff}',
  ),
  seq: fc.constantFrom(null, 0, 1, 2, 2 ** 40),
  value: fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.integer({ min: -3, max: 3 }),
    finiteDouble,
    fc.constantFrom('', 'a', 'é', 'a/b', '\\', '"', '😀'),
  ),
});

/** An op for a field of the given kind. */
export function opArb(kind: FieldKind): fc.Arbitrary<TileOp> {
  switch (kind) {
    case 'add':
      return addArg.map((arg) => ({ kind: 'add', part: 'x', arg }));
    case 'sumsq':
      return fc.oneof(
        { weight: 6, arbitrary: addArg.map((arg): TileOp => ({ kind: 'add', part: 'q', arg })) },
        { weight: 1, arbitrary: fc.constant<TileOp>({ kind: 'poison', part: 'q' }) },
      );
    case 'min':
    case 'max':
      return finiteDouble.map((x) => ({ kind, part: 'v', arg: String(x) }));
    case 'greatest':
      return timedArb.map((t) => ({ kind: 'greatest', part: 'e', arg: entry(t) }));
    case 'newest3':
      return timedArb.map((t) => ({ kind: 'newest', part: 'l', k: 3, arg: entry(t) }));
    case 'oldest2':
      return timedArb.map((t) => ({ kind: 'oldest', part: 'l', k: 2, arg: entry(t) }));
    case 'hll':
      return fc
        .record({
          register: fc.integer({ min: 0, max: 15 }),
          rank: fc.integer({ min: 1, max: 40 }),
        })
        .map(({ register, rank }) => ({ kind: 'hll', part: 'h', arg: register * 64 + rank }));
  }
}

/** A field kind and a sequence of ops of that kind. */
export const opSequenceArb = fc
  .constantFrom(...FIELD_KINDS)
  .chain((kind) =>
    fc.tuple(fc.constant(kind), fc.array(opArb(kind), { minLength: 1, maxLength: 25 })),
  );

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/**
 * A field text in a form that two conforming engines agree on: decimal texts by their double
 * (Lua writes `%.17g`, JavaScript the shortest round trip; both are exact), JSON lists by their
 * parsed content (cjson escapes `/`, JSON.stringify does not), a ranged field's text
 * (`"<range>|<parts>"`) part by part; anything else as it is.
 */
export function canonicalText(text: string | null): string | null {
  if (text === null) return null;
  const bar = text.indexOf('|');
  if (bar >= 0 && !text.startsWith('[')) {
    const parts = text.slice(bar + 1).split(RANGED_PART_SEPARATOR);
    return `${text.slice(0, bar + 1)}${parts.map((part) => canonicalText(part)).join(RANGED_PART_SEPARATOR)}`;
  }
  if (NUMBER.test(text)) {
    const x = Number(text);
    return `#${x === 0 ? 0 : x}`;
  }
  if (text.startsWith('[')) {
    try {
      return `json:${JSON.stringify(JSON.parse(text))}`;
    } catch {
      return text;
    }
  }
  return text;
}

/** {@link canonicalText} over a reply. */
export function canonicalReply(reply: ReadReply): (string | null)[] {
  return reply.map(canonicalText);
}
