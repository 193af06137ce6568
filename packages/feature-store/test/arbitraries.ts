import fc from 'fast-check';

/**
 * fast-check generators of event data and entity rows for the training-set property tests. Times
 * fall within 45 minutes of the epoch (negatives included), half of them on a one-minute grid
 * give or take 1 ms, so windows of minutes to an hour hold several events, and ties and window
 * edges (`T(q)`, `q - ttl`, `q` itself) are hit often. Arrays use the full size range.
 */

/** Entity ids, with case, non-ASCII and astral characters so bytewise order matters. */
export const USER_IDS = ['a', 'b', 'A', 'é', '😀', 'a b'] as const;

/** Event ids: a small pool, so ids repeat (dedupe) and tie-break (`'E' < 'e' < 'é' < '～' < '😀'`). */
export const EVENT_IDS = ['e', 'E', 'é', 'e1', '～', '😀', 'z'] as const;

/** Merchant names, for `last` over strings. */
export const MERCHANTS = ['', 'shop', 'Shop', 'ßhop', '商店', '🛒'] as const;

/** Half-width of the time range, ms (45 minutes each side of the epoch). */
export const TIME_SPAN = 2_700_000;

/**
 * An epoch-ms time: anywhere in the range, on the one-minute grid give or take 1 ms, or one of a
 * few hot times (hop boundaries and their neighbours), which makes ties common.
 */
export const timeArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: -TIME_SPAN, max: TIME_SPAN }),
  fc
    .tuple(fc.integer({ min: -45, max: 45 }), fc.constantFrom(-1, 0, 0, 1))
    .map(([minute, offset]) => minute * 60_000 + offset),
  fc.constantFrom(-120_000, -1, 0, 1, 299_999, 300_000),
);

/**
 * A finite double, sometimes an integer, -0 or tiny, never NaN. Nonzero magnitudes stay above
 * 1e-150 so squares (variance) do not underflow to 0, which both engines reject by design.
 */
export const amountArb: fc.Arbitrary<number> = fc.oneof(
  fc.double({ min: -1e6, max: 1e6, noNaN: true }).filter((x) => x === 0 || Math.abs(x) > 1e-150),
  fc.integer({ min: -50, max: 50 }),
  fc.constantFrom(0, -0, 0.1, 0.2, 0.3, 1e-150, -1e6),
);

/** A generated transaction-like event. */
export type GeneratedEvent = {
  readonly user_id: string;
  readonly ts: number;
  readonly eventId: string | null;
  readonly amount: number | null;
  readonly qty: number | null;
  readonly merchant: string | null;
};

/** One transaction-like event of one of {@link USER_IDS}. */
export const eventArb: fc.Arbitrary<GeneratedEvent> = fc.record({
  user_id: fc.constantFrom(...USER_IDS),
  ts: timeArb,
  eventId: fc.option(fc.constantFrom(...EVENT_IDS), { freq: 4 }),
  amount: fc.option(amountArb, { freq: 5 }),
  qty: fc.option(fc.integer({ min: -1000, max: 1000 }), { freq: 5 }),
  merchant: fc.option(fc.constantFrom(...MERCHANTS), { freq: 5 }),
});

/** A generated attribute row (a profile update). */
export type GeneratedProfile = {
  readonly user_id: string;
  readonly ts: number;
  readonly eventId: string | null;
  readonly country: string | null;
  readonly score: number | null;
};

/** One profile row of one of {@link USER_IDS}; null values are real attribute values. */
export const profileArb: fc.Arbitrary<GeneratedProfile> = fc.record({
  user_id: fc.constantFrom(...USER_IDS),
  ts: timeArb,
  eventId: fc.option(fc.constantFrom(...EVENT_IDS), { freq: 3 }),
  country: fc.option(fc.constantFrom('fr', 'de', 'FR', 'ü'), { freq: 4 }),
  score: fc.option(amountArb, { freq: 4 }),
});

/** Batches ingested at non-decreasing clock times (late data when the clock passes `ts`). */
export function batchesArb<T>(
  item: fc.Arbitrary<T>,
  options: { maxBatches: number; maxPerBatch: number },
): fc.Arbitrary<{ readonly clock: number; readonly events: readonly T[] }[]> {
  return fc
    .array(
      fc.record({
        clock: timeArb,
        events: fc.array(item, { maxLength: options.maxPerBatch, size: 'max' }),
      }),
      { maxLength: options.maxBatches, size: 'max' },
    )
    .map((batches) => [...batches].sort((a, b) => a.clock - b.clock));
}

/** A row of a user-owned event table: an event plus optional ingestion time and sequence. */
export type GeneratedOwnedEvent = GeneratedEvent & {
  readonly ingestedAt: number | null;
  readonly seq: number | null;
};

/**
 * Rows of a user-owned event table. Sequences are unique; only rows without an event id may lack
 * one (so the dedupe order `(ingestedAt, seq, ts)` never ties between copies of one event).
 */
export const ownedEventsArb: fc.Arbitrary<GeneratedOwnedEvent[]> = fc
  .array(
    fc.record({
      event: eventArb,
      ingestedAt: fc.option(timeArb, { freq: 3 }),
      noSeq: fc.boolean(),
    }),
    { maxLength: 120, size: 'max' },
  )
  .chain((rows) =>
    fc
      .shuffledSubarray(
        rows.map((_, i) => i),
        { minLength: rows.length, maxLength: rows.length },
      )
      .map((order) =>
        rows.map(({ event, ingestedAt, noSeq }, i) => ({
          ...event,
          ingestedAt,
          seq: noSeq && event.eventId === null ? null : order[i]!,
        })),
      ),
  );

/** An entity row: a user, an as-of time and a label. */
export type GeneratedEntityRow = {
  readonly user_id: string;
  readonly ts: number;
  readonly label: number;
};

/**
 * Entity rows in random order, duplicates included: times from {@link timeArb}, and times of the
 * given events plus one of `offsets` (0 and 1 always: an event exactly at `q` must not count, at
 * `q - 1` it must; pass window lengths, `W + h - 1` and `W + h` to hit window starts).
 */
export function entityRowsArb(
  eventTimes: readonly number[],
  maxLength: number,
  offsets: readonly number[] = [],
): fc.Arbitrary<GeneratedEntityRow[]> {
  const near =
    eventTimes.length === 0
      ? timeArb
      : fc
          .tuple(fc.constantFrom(...eventTimes), fc.constantFrom(0, 1, ...offsets))
          .map(([ts, offset]) => ts + offset);
  return fc
    .array(
      fc.record({
        user_id: fc.constantFrom(...USER_IDS),
        ts: fc.oneof(timeArb, near),
        label: fc.integer({ min: 0, max: 1 }),
      }),
      { maxLength, size: 'max' },
    )
    .chain((rows) =>
      fc
        .array(fc.nat({ max: Math.max(rows.length - 1, 0) }), {
          maxLength: rows.length === 0 ? 0 : 5,
        })
        .map((copies) => [...rows, ...copies.map((i) => rows[i]!)]),
    );
}
