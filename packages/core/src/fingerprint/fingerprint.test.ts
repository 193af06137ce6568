import { doublePrecision, bigint as pgBigint, pgTable, text } from 'drizzle-orm/pg-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  type AnyFeature,
  attributeSource,
  canonicalJson,
  derived,
  entity,
  eventSource,
  featureService,
  fingerprint,
  isTandemError,
  requestFeature,
} from '../index.js';
import { canonicalCode } from './code.js';

const NUM_RUNS = 1000;

/** A copy of a JSON value whose objects list their keys in another order. */
function reorderKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v, i) => reorderKeys(v, seed + i));
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  const rotated = entries.map((_, i) => entries[(i + seed) % entries.length]!);
  if (seed % 2 === 1) rotated.reverse();
  return Object.fromEntries(rotated.map(([k, v]) => [k, reorderKeys(v, seed + 1)]));
}

describe('canonicalJson', () => {
  it('does not depend on key order and round-trips through JSON.parse', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(10), (value, seed) => {
        const text = canonicalJson(value);
        expect(canonicalJson(reorderKeys(value, seed))).toBe(text);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(text).not.toMatch(/\n/);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('sorts keys by code unit, drops undefined members and rejects what JSON cannot carry', () => {
    expect(canonicalJson({ b: 1, a: [1, { d: undefined, c: 'x' }], B: null })).toBe(
      '{"B":null,"a":[1,{"c":"x"}],"b":1}',
    );
    expect(canonicalJson([undefined])).toBe('[null]');
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, () => 1, 1n, Symbol('x')]) {
      let code: string | undefined;
      try {
        canonicalJson({ bad });
      } catch (error) {
        code = isTandemError(error) ? error.code : 'other';
      }
      expect(code).toBe('INVALID_DEFINITION');
    }
  });
});

// ---- A base definition and one variant per thing that changes values ----

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const fields = { amount: 'float', n: 'int', merchant: 'string', ok: 'bool' } as const;
const tx = eventSource({ name: 'tx', entity: user, fields });
const base = () =>
  tx
    .sum('amount')
    .window('7d', { hop: '1d' })
    .where((f) => f.amount.gt(10));

describe('fingerprint', () => {
  it('is a sha256 hex digest, equal for the feature and its IR', () => {
    const f = base().as('f');
    expect(fingerprint(f)).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprint(f.ir)).toBe(fingerprint(f));
  });

  it('does not depend on the key order of definitions', () => {
    const reordered = eventSource({
      name: 'tx',
      entity: entity({ name: 'user', keys: { user_id: 'string' } }),
      fields: { ok: 'bool', merchant: 'string', n: 'int', amount: 'float' },
    });
    const a = base().as('f');
    const b = reordered
      .sum('amount')
      .window('7d', { hop: '1d' })
      .where((f) => f.amount.gt(10))
      .as('f');
    expect(fingerprint(b)).toBe(fingerprint(a));
    const account = entity({ name: 'account', keys: { tenant: 'string', account_id: 'int' } });
    const account2 = entity({ name: 'account', keys: { account_id: 'int', tenant: 'string' } });
    const s1 = eventSource({ name: 's', entity: account, fields: { x: 'float' } });
    const s2 = eventSource({ name: 's', entity: account2, fields: { x: 'float' } });
    expect(fingerprint(s2.count().as('c'))).toBe(fingerprint(s1.count().as('c')));
    // The IR with every object's keys reordered hashes the same.
    fc.assert(
      fc.property(fc.nat(20), (seed) => {
        expect(fingerprint(reorderKeys(a.ir, seed) as AnyFeature['ir'])).toBe(fingerprint(a));
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('ignores descriptions', () => {
    const described = eventSource({
      name: 'tx',
      entity: entity({ name: 'user', keys: { user_id: 'string' }, description: 'a person' }),
      fields,
      description: 'card transactions',
    });
    const plain = base().as('f');
    const withText = described
      .sum('amount')
      .window('7d', { hop: '1d' })
      .where((f) => f.amount.gt(10))
      .describe('sum of large amounts')
      .as('f');
    expect(fingerprint(withText)).toBe(fingerprint(plain));
    const d1 = derived('d', { s: plain }, (f) => f.s.mul(2));
    const d2 = derived('d', { s: withText }, (f) => f.s.mul(2), { description: 'twice' });
    expect(fingerprint(d2)).toBe(fingerprint(d1));
    const r = (description?: string) =>
      requestFeature({
        name: 'r',
        input: z.object({ x: z.number() }),
        uses: { s: plain },
        type: 'float',
        compute: (input, f) => input.x + (f.s ?? 0),
        ...(description === undefined ? {} : { description }),
      });
    expect(fingerprint(r('says hi'))).toBe(fingerprint(r()));
    expect(featureService('svc', [plain], { description: 'x' }).layout).toEqual(
      featureService('svc', [withText]).layout,
    );
  });

  it('is the same for equivalent spellings of a window', () => {
    const w = (length: Parameters<ReturnType<typeof tx.count>['window']>[0], hop?: string) =>
      fingerprint(
        tx
          .count()
          .window(length, hop === undefined ? {} : { hop: hop as '1d' })
          .as('c'),
      );
    // Default hop: 1d from 12d up, 1h from 12h up.
    expect(w('7d')).toBe(w('7d', '1h'));
    expect(w('7d')).toBe(w(604_800_000, '60m'));
    expect(w('14d')).toBe(w('2w', '24h'));
    expect(w('1w', '60m')).toBe(w('168h'));
    expect(w('7d', '12h')).not.toBe(w('7d'));
  });

  it('changes with anything that changes values', () => {
    const otherTable = (overrides: Partial<Parameters<typeof eventSource>[0]>) =>
      eventSource({ name: 'tx', entity: user, fields, ...overrides } as Parameters<
        typeof eventSource
      >[0]) as typeof tx;
    const variants: Record<string, AnyFeature> = {
      base: base().as('f'),
      window: tx
        .sum('amount')
        .window('14d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      hop: tx
        .sum('amount')
        .window('7d', { hop: '12h' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      lifetime: tx
        .sum('amount')
        .where((f) => f.amount.gt(10))
        .as('f'),
      noWhere: tx.sum('amount').window('7d', { hop: '1d' }).as('f'),
      whereLiteral: tx
        .sum('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(11))
        .as('f'),
      whereOp: tx
        .sum('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gte(10))
        .as('f'),
      default: base().default(0).as('f'),
      default1: base().default(1).as('f'),
      valueExpr: tx
        .sum((f) => f.amount.mul(2))
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      valueField: tx
        .sum('n')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      aggregation: tx
        .mean('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      userTable: otherTable({ table: 'transactions' })
        .sum('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      userTableSchema: otherTable({ table: 'billing.transactions' })
        .sum('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      column: otherTable({
        fields: { ...fields, amount: { type: 'float', column: 'amount_usd' } },
      })
        .sum('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      columnType: otherTable({ fields: { ...fields, amount: 'int' } })
        .sum('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      keyColumn: otherTable({ keyColumns: { user_id: 'uid' } })
        .sum('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      timestampColumn: otherTable({ timestamp: 'event_time' })
        .sum('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      timestampUnit: otherTable({ timestamp: { column: 'ts', unit: 'timestamp' } })
        .sum('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      noEventId: otherTable({ eventId: null })
        .sum('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      noIngestedAt: otherTable({ ingestedAt: null })
        .sum('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      sequenceColumn: otherTable({ sequence: 'offset' })
        .sum('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      entityKeyType: eventSource({
        name: 'tx',
        entity: entity({ name: 'user', keys: { user_id: 'int' } }),
        fields,
      })
        .sum('amount')
        .window('7d', { hop: '1d' })
        .where((f) => f.amount.gt(10))
        .as('f'),
      lastK3: tx.lastK('amount', 3).as('f'),
      lastK4: tx.lastK('amount', 4).as('f'),
      firstK3: tx.firstK('amount', 3).as('f'),
      countEvents: tx.count().as('f'),
      countValues: tx.count('merchant').as('f'),
      countDistinct: tx.countDistinct('merchant').as('f'),
    };
    const profiles = attributeSource({ name: 'profiles', entity: user, fields });
    variants.latest = profiles.latest('merchant').as('f');
    variants.latestTtl = profiles.latest('merchant', { ttl: '30d' }).as('f');
    variants.latestTtl2 = profiles.latest('merchant', { ttl: '31d' }).as('f');
    const c = tx.count().window('7d').as('c');
    const c2 = tx.count().window('14d').as('c');
    const s = tx.sum('amount').window('7d').as('s');
    variants.derived = derived('f', { s, c }, (f) => f.s.div(f.c));
    variants.derivedExpr = derived('f', { s, c }, (f) => f.s.div(f.c.add(1)));
    variants.derivedInput = derived('f', { s, c: c2 }, (f) => f.s.div(f.c));
    const req = (compute: (input: { x: number }, f: { c: number }) => number | null) =>
      requestFeature({
        name: 'f',
        input: z.object({ x: z.number() }),
        uses: { c },
        type: 'float',
        compute,
      });
    variants.request = req((input, f) => input.x / (f.c + 1));
    variants.requestCode = req((input, f) => input.x / (f.c + 2));
    variants.requestSchema = requestFeature({
      name: 'f',
      input: z.object({ x: z.number().int() }),
      uses: { c },
      type: 'float',
      compute: (input, f) => input.x / (f.c + 1),
    });
    variants.requestType = requestFeature({
      name: 'f',
      input: z.object({ x: z.number() }),
      uses: { c },
      type: 'int',
      compute: (input, f) => input.x / (f.c + 1),
    });
    variants.requestInput = requestFeature({
      name: 'f',
      input: z.object({ x: z.number() }),
      uses: { c: c2 },
      type: 'float',
      compute: (input, f) => input.x / (f.c + 1),
    });

    const seen = new Map<string, string>();
    for (const [name, feature] of Object.entries(variants)) {
      const fp = fingerprint(feature);
      expect(seen.get(fp), `${name} has the fingerprint of ${seen.get(fp)}`).toBeUndefined();
      seen.set(fp, name);
    }
  });

  it('fingerprints a drizzle-table source by its resolved names and types', () => {
    const table = pgTable('transactions', {
      userId: text('user_id').notNull(),
      ts: pgBigint('ts', { mode: 'number' }).notNull(),
      amount: doublePrecision('amount_usd'),
    });
    const viaDrizzle = eventSource({
      name: 'tx',
      entity: user,
      table,
      fields: { amount: table.amount },
    });
    const viaNames = eventSource({
      name: 'tx',
      entity: user,
      table: 'transactions',
      fields: { amount: { type: 'float', column: 'amount_usd' } },
    });
    expect(fingerprint(viaDrizzle.sum('amount').as('f'))).toBe(
      fingerprint(viaNames.sum('amount').as('f')),
    );
  });
});

describe('canonicalCode (request feature code)', () => {
  // The same TypeScript functions as printed by tsx (esbuild), vitest (vite/oxc) and tsc.
  const printed: Record<string, readonly [string, string, string]> = {
    arrow: ['input=>input.amount*2', '(input) => input.amount * 2', '(input) => input.amount * 2'],
    ternary: [
      'x=>x.a>1?"yes":"no"',
      '(x) => x.a > 1 ? "yes" : "no"',
      `(x) => (x.a > 1 ? 'yes' : "no")`,
    ],
    block: [
      // biome-ignore lint/suspicious/noTemplateCurlyInString: JavaScript source text
      '(i,f)=>{if(i.a===void 0)return null;return`v${i.a}-${f.c+1}`}',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: JavaScript source text
      '(i, f) => {\n\t\t// a comment\n\t\tif (i.a === undefined) return null;\n\t\treturn `v${i.a}-${f.c + 1}`;\n\t}',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: JavaScript source text
      '(i, f) => {\n        // a comment\n        if (i.a === undefined)\n            return null; /* block */\n        return `v${i.a}-${f.c + 1}`;\n    }',
    ],
    numbers: [
      'function(i){return 1e3+16+1e3+i.a}',
      'function(i) {\n\t\treturn 1e3 + 16 + 1e3 + i.a;\n\t}',
      'function (i) { return 1e3 + 0x10 + 1_000 + i.a; }',
    ],
    method: [
      'compute(i){return i.a}',
      'compute(i) {\n\t\treturn i.a;\n\t}',
      'compute(i) { return i.a; }',
    ],
    regex: [
      'i=>i.s.replace(/a+b/g,"\\n")',
      '(i) => i.s.replace(/a+b/g, "\\n")',
      "(i) => i.s.replace(/a+b/g, '\\n')",
    ],
    loop: [
      '(i,f)=>{const x=[1,2,3];let y=0;for(const v of x){y+=v}return y+i.a+(f.n??0)}',
      '(i, f) => {\n\t\tconst x = [\n\t\t\t1,\n\t\t\t2,\n\t\t\t3\n\t\t];\n\t\tlet y = 0;\n\t\tfor (const v of x) {\n\t\t\ty += v;\n\t\t};\n\t\treturn y + i.a + (f.n ?? 0);\n\t}',
      '(i, f) => { const x = [1, 2, 3,]; let y = 0; for (const v of x) {\n        y += v;\n    } return y + i.a + (f.n ?? 0); }',
    ],
    counter: [
      'x=>{for(let i=0;i<3;i++){x+=i}return x}',
      '(x) => {\n\t\tfor (let i = 0; i < 3; i++) {\n\t\t\tx += i;\n\t\t}\n\t\treturn x;\n\t}',
      '(x) => { for (let i = 0; i < 3; i++) {\n    x += i;\n} return x; }',
    ],
    parens: [
      'x=>({a:x,b:[x,x]})',
      '(x) => ({ a: x, b: [x, x] })',
      '(x,) => (({ a: x, b: [x, x,], }))',
    ],
  };

  it('is the same for every printing of one function', () => {
    for (const [name, [tsx, vite, tsc]] of Object.entries(printed)) {
      expect(canonicalCode(vite), name).toBe(canonicalCode(tsx));
      expect(canonicalCode(tsc), name).toBe(canonicalCode(tsx));
    }
  });

  it('reads `?.5` as a conditional and a number', () => {
    expect(canonicalCode('x=>x?.5:1')).toBe(canonicalCode('(x) => x ? 0.5 : 1'));
    expect(canonicalCode('x=>x?.a')).not.toBe(canonicalCode('x => x ? a'));
  });

  it('differs when the code differs', () => {
    const pairs: [string, string][] = [
      ['x => x + 1', 'x => x - 1'],
      ['x => x + 1', 'x => x + 2'],
      ['x => "a b"', 'x => "ab"'],
      // biome-ignore lint/suspicious/noTemplateCurlyInString: JavaScript source text
      ['x => `a ${x} b`', 'x => `a ${x}b`'],
      ['x => /a b/.test(x)', 'x => /ab/.test(x)'],
      ['x => x.a', 'x => x.b'],
      ['(x) => (x, 1)', '(x) => x + 1'],
      ['x => 0.1', 'x => 0.10000000000000002'],
      ['x => 10n', 'x => 10'],
      // Semicolons of a `for` header and parentheses around a comma sequence carry meaning.
      ['x => { for (x;;) {} }', 'x => { for (;x;) {} }'],
      ['x => f(y => (y, 1), 2)', 'x => f(y => y, 1, 2)'],
    ];
    for (const [a, b] of pairs) expect(canonicalCode(a), `${a} vs ${b}`).not.toBe(canonicalCode(b));
  });

  it('keeps distinct functions distinct across arbitrary literals', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        const ca = canonicalCode(`(x) => x === ${JSON.stringify(a)}`);
        const cb = canonicalCode(
          `(x) => x === '${b.replaceAll('\\', '\\\\').replaceAll("'", "\\'").replaceAll('\n', '\\n').replaceAll('\r', '\\r').replaceAll('\u2028', '\\u2028').replaceAll('\u2029', '\\u2029')}'`,
        );
        expect(ca === cb).toBe(a === b);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
