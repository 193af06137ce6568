/**
 * Window membership (DESIGN §3): with `T(q) = floor((q - W) / h) * h`, an event at `ts` counts in a
 * sliding window as of `q` iff `T(q) <= ts < q`; in a ttl window iff `q - ttl <= ts < q`; in the
 * lifetime window iff `ts < q`. The SQL predicate (Postgres and PGlite), the TS predicate and an
 * oracle written here from the formula with BigInt floor division must agree, negative times and
 * exact edges included.
 */
import {
  type DurationInput,
  inWindow,
  LIFETIME,
  slidingWindow,
  type WindowSpec,
  windowPredicateSql,
  windowStart,
} from '@tandem/core';
import { openSqlEngines, type TestDatabase } from '@tandem/testing';
import { sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const NUM_RUNS = 1000;

let engines: TestDatabase[] = [];

beforeAll(async () => {
  engines = await openSqlEngines('core_windows');
});

afterAll(async () => {
  await Promise.all(engines.map((e) => e.close()));
});

// ---------------------------------------------------------------------------------------------
// The oracle, straight from the formula
// ---------------------------------------------------------------------------------------------

/** Floor division on BigInt (BigInt `/` truncates toward zero). */
function floorDiv(a: bigint, b: bigint): bigint {
  const quotient = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? quotient - 1n : quotient;
}

/** `T(q) = floor((q - W) / h) * h`. */
function oracleStart(length: number, hop: number, q: number): bigint {
  return floorDiv(BigInt(q) - BigInt(length), BigInt(hop)) * BigInt(hop);
}

function oracleSliding(length: number, hop: number, q: number, ts: number): boolean {
  return oracleStart(length, hop, q) <= BigInt(ts) && BigInt(ts) < BigInt(q);
}

function oracleTtl(ttl: number, q: number, ts: number): boolean {
  return BigInt(q) - BigInt(ttl) <= BigInt(ts) && BigInt(ts) < BigInt(q);
}

function oracleLifetime(q: number, ts: number): boolean {
  return BigInt(ts) < BigInt(q);
}

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

interface SlidingCase {
  readonly spec: Extract<WindowSpec, { kind: 'sliding' }>;
  /** How the spec was written, for failure messages. */
  readonly written: string;
}

/** `W = k * h` with an explicit hop, or a duration string with the default hop. */
const slidingArb: fc.Arbitrary<SlidingCase> = fc.oneof(
  fc
    .tuple(
      fc.oneof(
        fc.constantFrom(1, 7, 1000, MINUTE, 5 * MINUTE, HOUR, DAY),
        fc.integer({ min: 1, max: 10_000_000 }),
      ),
      fc.oneof(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 400 })),
    )
    .map(([hop, k]) => ({
      spec: slidingWindow(k * hop, hop, 'test') as SlidingCase['spec'],
      written: `window(${k * hop}, { hop: ${hop} })`,
    })),
  fc
    .constantFrom<DurationInput>(
      '1h',
      '15m',
      '5m',
      '12h',
      '13h',
      '24h',
      '7d',
      '11d',
      '12d',
      '30d',
      '90d',
    )
    .map((length) => ({
      spec: slidingWindow(length, undefined, 'test') as SlidingCase['spec'],
      written: `window('${length}')`,
    })),
);

/** Safe integers only: epoch milliseconds within +-1e15 (about +-31,000 years). */
const timeArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: -50, max: 50 }),
  fc.integer({ min: -100 * DAY, max: 100 * DAY }),
  fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }).map(Number),
  fc.integer({ min: 1_600_000_000, max: 1_800_000_000 }).map((s) => s * 1000 + (s % 1000)),
);

interface Probe {
  readonly q: number;
  readonly ts: number;
}

/**
 * Query times (plain, or aligned so that `q - W` falls on a hop boundary, +-1) and, for each, the
 * event times at and around every edge: `q`, `q - 1`, `T(q)`, `T(q) - 1`, `q - W`, `q - W - 1`,
 * plus random ones near the window and anywhere.
 */
function probesArb(length: number, hop: number): fc.Arbitrary<Probe[]> {
  const queryArb = fc.oneof(
    timeArb,
    fc
      .tuple(fc.integer({ min: -1_000_000, max: 1_000_000 }), fc.constantFrom(-1, 0, 1))
      .map(([m, d]) => m * hop + length + d),
  );
  const oneQuery = fc
    .tuple(
      queryArb,
      fc.array(fc.integer({ min: -2 * hop - 2, max: length + 2 * hop + 2 }), { maxLength: 6 }),
      fc.array(timeArb, { maxLength: 3 }),
    )
    .map(([q, near, anywhere]) => {
      const start = Number(oracleStart(length, hop, q));
      const edges = [q, q - 1, q + 1, start, start - 1, start + 1, q - length, q - length - 1];
      return [...edges, ...near.map((d) => start + d), ...anywhere].map((ts) => ({ q, ts }));
    });
  return fc.array(oneQuery, { minLength: 1, maxLength: 4 }).map((groups) => groups.flat());
}

// ---------------------------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------------------------

interface Membership {
  readonly sliding: boolean;
  readonly ttl: boolean;
  readonly lifetime: boolean;
}

/** Evaluates the three predicates over all probes in one statement. */
async function membershipSql(
  db: TestDatabase,
  sliding: WindowSpec,
  ttl: WindowSpec,
  probes: readonly Probe[],
): Promise<Membership[]> {
  const ts = sql`v.ts`;
  const q = sql`v.q`;
  const values = sql.join(
    probes.map(
      (p, i) =>
        sql`(CAST(${i} AS integer), CAST(${String(p.q)} AS bigint), CAST(${String(p.ts)} AS bigint))`,
    ),
    sql`, `,
  );
  const rows = await db.execute<{
    idx: number;
    sliding: boolean;
    ttl: boolean;
    lifetime: boolean;
  }>(sql`SELECT v.idx AS idx,
      ${windowPredicateSql(sliding, ts, q)} AS sliding,
      ${windowPredicateSql(ttl, ts, q)} AS ttl,
      ${windowPredicateSql(LIFETIME, ts, q)} AS lifetime
    FROM (VALUES ${values}) AS v(idx, q, ts) ORDER BY v.idx`);
  expect(rows.map((r) => r.idx)).toEqual(probes.map((_, i) => i));
  return rows.map(({ sliding, ttl, lifetime }) => ({ sliding, ttl, lifetime }));
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

describe('window membership: SQL, TS and the formula agree', () => {
  it('sliding, ttl and lifetime windows, on random and edge times, in every SQL engine', async () => {
    expect(engines.length).toBeGreaterThan(0);
    let probesChecked = 0;
    let inside = 0;
    await fc.assert(
      fc.asyncProperty(
        slidingArb.chain((c) =>
          probesArb(c.spec.length, c.spec.hop).map((probes) => ({ ...c, probes })),
        ),
        async ({ spec, written, probes }) => {
          const { length, hop } = spec;
          expect(length % hop).toBe(0);
          const ttl: WindowSpec = { kind: 'ttl', length };
          const expected = probes.map(
            ({ q, ts }): Membership => ({
              sliding: oracleSliding(length, hop, q, ts),
              ttl: oracleTtl(length, q, ts),
              lifetime: oracleLifetime(q, ts),
            }),
          );
          // TS
          probes.forEach(({ q, ts }, i) => {
            const label = `${written} (W=${length}, h=${hop}) q=${q} ts=${ts}`;
            expect(windowStart(spec, q), label).toBe(Number(oracleStart(length, hop, q)));
            expect(windowStart(ttl, q), label).toBe(q - length);
            expect(windowStart(LIFETIME, q), label).toBe(Number.NEGATIVE_INFINITY);
            expect(
              {
                sliding: inWindow(spec, q, ts),
                ttl: inWindow(ttl, q, ts),
                lifetime: inWindow(LIFETIME, q, ts),
              },
              `TS: ${label}`,
            ).toEqual(expected[i]);
          });
          // SQL
          for (const db of engines) {
            const actual = await membershipSql(db, spec, ttl, probes);
            actual.forEach((membership, i) => {
              const { q, ts } = probes[i]!;
              expect(
                membership,
                `${db.engine}: ${written} (W=${length}, h=${hop}) q=${q} ts=${ts}`,
              ).toEqual(expected[i]);
            });
          }
          probesChecked += probes.length;
          inside += expected.filter((m) => m.sliding).length;
        },
      ),
      { numRuns: NUM_RUNS },
    );
    // Both outcomes are well represented (the edges put many probes on either side).
    expect(inside).toBeGreaterThan(probesChecked / 5);
    expect(inside).toBeLessThan((probesChecked * 4) / 5);
  });

  it('worked examples with negative times', async () => {
    // W = 9, h = 3: T(q) = floor((q - 9) / 3) * 3.
    const spec = slidingWindow(9, 3, 'test');
    const cases: readonly (readonly [number, number, boolean])[] = [
      // q = 1: T = floor(-8 / 3) * 3 = -9; truncating division would give -6.
      [1, -9, true],
      [1, -10, false],
      [1, -7, true],
      [1, 0, true],
      [1, 1, false],
      // q = 0: T = -9.
      [0, -9, true],
      [0, -10, false],
      [0, -1, true],
      [0, 0, false],
      // q = -1: T = floor(-10 / 3) * 3 = -12.
      [-1, -12, true],
      [-1, -13, false],
      [-1, -2, true],
      [-1, -1, false],
      // q = 9: T = 0 exactly (the effective window is exactly W).
      [9, 0, true],
      [9, -1, false],
      // q = 11: T = floor(2 / 3) * 3 = 0 (the effective window is W + 2).
      [11, 0, true],
      [11, -1, false],
      // q = -20: T = floor(-29 / 3) * 3 = -30.
      [-20, -30, true],
      [-20, -31, false],
      [-20, -21, true],
    ];
    const probes = cases.map(([q, ts]) => ({ q, ts }));
    for (const [q, ts, expected] of cases) {
      expect(inWindow(spec, q, ts), `TS q=${q} ts=${ts}`).toBe(expected);
      expect(oracleSliding(9, 3, q, ts), `oracle q=${q} ts=${ts}`).toBe(expected);
    }
    for (const db of engines) {
      const actual = await membershipSql(db, spec, { kind: 'ttl', length: 9 }, probes);
      expect(
        actual.map((m) => m.sliding),
        db.engine,
      ).toEqual(cases.map((c) => c[2]));
    }
  });
});
