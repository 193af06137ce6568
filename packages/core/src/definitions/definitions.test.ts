import {
  bigint,
  boolean,
  doublePrecision,
  integer,
  numeric,
  pgSchema,
  pgTable,
  real,
  serial,
  smallint,
  text,
  timestamp,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  attributeSource,
  derived,
  entity,
  eventSource,
  featureService,
  isTandemError,
  lit,
  ref,
  requestFeature,
  TandemError,
  type TandemErrorCode,
  when,
} from '../index.js';

/** Runs `build` and returns the TandemError's code and path (fails when nothing is thrown). */
function failure(build: () => unknown): { code: TandemErrorCode; path: string | undefined } {
  try {
    build();
  } catch (error) {
    if (!isTandemError(error)) throw error;
    return { code: error.code, path: error.path };
  }
  throw new Error('expected a TandemError, but the definition was accepted');
}

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const merchant = entity({ name: 'merchant', keys: { merchant_id: 'string' } });
const tx = eventSource({
  name: 'tx',
  entity: user,
  fields: { amount: 'float', n: 'int', merchant: 'string', ok: 'bool' },
});
const merchantTx = eventSource({
  name: 'merchant_tx',
  entity: merchant,
  fields: { amount: 'float' },
});

describe('identifiers', () => {
  it.each([
    ['uppercase', 'User'],
    ['leading digit', '1user'],
    ['dash', 'user-id'],
    ['space', 'user id'],
    ['empty', ''],
    ['non-ASCII', 'usér'],
    ['64 characters', 'a'.repeat(64)],
  ])('rejects an entity name with %s', (_, name) => {
    expect(failure(() => entity({ name, keys: { id: 'string' } }))).toEqual({
      code: 'INVALID_IDENTIFIER',
      path: 'entity',
    });
  });

  it('accepts 63 characters, underscores and digits', () => {
    expect(entity({ name: `_${'a1'.repeat(31)}`, keys: { id: 'int' } }).name).toHaveLength(63);
  });

  it('names the place of every invalid identifier', () => {
    expect(failure(() => entity({ name: 'u', keys: { Id: 'string' } }))).toEqual({
      code: 'INVALID_IDENTIFIER',
      path: 'entity u.keys',
    });
    expect(failure(() => eventSource({ name: 'Tx', entity: user, fields: { a: 'int' } }))).toEqual({
      code: 'INVALID_IDENTIFIER',
      path: 'eventSource',
    });
    expect(
      failure(() => attributeSource({ name: 'p-1', entity: user, fields: { a: 'int' } })),
    ).toEqual({ code: 'INVALID_IDENTIFIER', path: 'attributeSource' });
    expect(
      failure(() => eventSource({ name: 's', entity: user, fields: { Amount: 'int' } })),
    ).toEqual({ code: 'INVALID_IDENTIFIER', path: 'source s.fields' });
    expect(failure(() => tx.count().as('Count'))).toEqual({
      code: 'INVALID_IDENTIFIER',
      path: 'feature',
    });
    expect(failure(() => derived('D', { c: tx.count().as('c') }, (f) => f.c))).toEqual({
      code: 'INVALID_IDENTIFIER',
      path: 'derived',
    });
    expect(
      failure(() =>
        requestFeature({ name: 'R', input: z.object({}), type: 'int', compute: () => 1 }),
      ),
    ).toEqual({ code: 'INVALID_IDENTIFIER', path: 'requestFeature' });
    expect(failure(() => featureService('Svc', [tx.count().as('c')]))).toEqual({
      code: 'INVALID_IDENTIFIER',
      path: 'featureService',
    });
    expect(
      failure(() => eventSource({ name: 's', entity: user, table: 'a.b.c', fields: { a: 'int' } })),
    ).toEqual({ code: 'INVALID_IDENTIFIER', path: 'source s' });
    expect(
      failure(() =>
        eventSource({ name: 's', entity: user, table: 'bad table', fields: { a: 'int' } }),
      ),
    ).toEqual({ code: 'INVALID_IDENTIFIER', path: 'source s.table' });
    expect(
      failure(() =>
        eventSource({
          name: 's',
          entity: user,
          fields: { a: { type: 'int', column: 'x;drop' } },
        }),
      ),
    ).toEqual({ code: 'INVALID_IDENTIFIER', path: 'source s.fields.a' });
  });
});

describe('entities and sources', () => {
  it('rejects an entity without keys or with a key of another type', () => {
    expect(failure(() => entity({ name: 'u', keys: {} }))).toEqual({
      code: 'INVALID_DEFINITION',
      path: 'entity u',
    });
    expect(failure(() => entity({ name: 'u', keys: { id: 'float' as 'int' } }))).toEqual({
      code: 'TYPE_MISMATCH',
      path: 'entity u.keys.id',
    });
  });

  it('rejects sources without fields, with unknown types, or clashing names', () => {
    expect(failure(() => eventSource({ name: 's', entity: user, fields: {} }))).toEqual({
      code: 'INVALID_DEFINITION',
      path: 'source s',
    });
    expect(
      failure(() => eventSource({ name: 's', entity: user, fields: { a: 'decimal' as 'int' } })),
    ).toEqual({ code: 'TYPE_MISMATCH', path: 'source s.fields.a' });
    expect(
      failure(() => eventSource({ name: 's', entity: user, fields: { user_id: 'string' } })),
    ).toEqual({ code: 'DUPLICATE_NAME', path: 'source s.fields.user_id' });
    expect(
      failure(() =>
        eventSource({
          name: 's',
          entity: user,
          fields: { a: 'int', b: { type: 'int', column: 'a' } },
        }),
      ),
    ).toEqual({ code: 'DUPLICATE_NAME', path: 'source s' });
    expect(
      failure(() =>
        eventSource({
          name: 's',
          entity: user,
          keyColumns: { account: 'x' } as { user_id?: string },
          fields: { a: 'int' },
        }),
      ),
    ).toEqual({ code: 'UNKNOWN_COLUMN', path: 'source s' });
    expect(
      failure(() =>
        eventSource({ name: 's', entity: { name: 'user' } as typeof user, fields: { a: 'int' } }),
      ),
    ).toEqual({ code: 'INVALID_DEFINITION', path: 'source s' });
  });
});

describe('features', () => {
  it('rejects a window that is not a multiple of its hop, explicit or default', () => {
    expect(failure(() => tx.count().window('7d', { hop: '5h' }).as('c'))).toEqual({
      code: 'INVALID_WINDOW',
      path: 'feature c',
    });
    expect(failure(() => tx.count().window(1000, { hop: 300 }).as('c'))).toEqual({
      code: 'INVALID_WINDOW',
      path: 'feature c',
    });
    // The default hop of 7m is 5m.
    expect(failure(() => tx.count().window('7m').as('c'))).toEqual({
      code: 'INVALID_WINDOW',
      path: 'feature c',
    });
    // 13h: default hop 1h divides it; 12d + 1h: default hop 1d does not.
    expect(tx.count().window('13h').as('c').ir).toMatchObject({
      window: { kind: 'sliding', length: 13 * 3_600_000, hop: 3_600_000 },
    });
    expect(failure(() => tx.count().window('289h').as('c'))).toEqual({
      code: 'INVALID_WINDOW',
      path: 'feature c',
    });
  });

  it('rejects invalid durations with their place', () => {
    expect(
      failure(() =>
        tx
          .count()
          .window('7x' as '7d')
          .as('c'),
      ),
    ).toEqual({
      code: 'INVALID_DURATION',
      path: 'feature c.window',
    });
    expect(failure(() => tx.count().window('7d', { hop: 0 }).as('c'))).toEqual({
      code: 'INVALID_DURATION',
      path: 'feature c.hop',
    });
    expect(failure(() => tx.count().window(1.5).as('c'))).toEqual({
      code: 'INVALID_DURATION',
      path: 'feature c.window',
    });
    const profiles = attributeSource({ name: 'p', entity: user, fields: { country: 'string' } });
    expect(failure(() => profiles.latest('country', { ttl: '0d' }))).toEqual({
      code: 'INVALID_DURATION',
      path: 'source p.country.ttl',
    });
  });

  it('rejects an unknown field', () => {
    expect(failure(() => tx.sum('nope' as 'amount'))).toEqual({
      code: 'UNKNOWN_COLUMN',
      path: 'source tx',
    });
    const profiles = attributeSource({ name: 'p', entity: user, fields: { country: 'string' } });
    expect(failure(() => profiles.latest('nope' as 'country'))).toEqual({
      code: 'UNKNOWN_COLUMN',
      path: 'source p',
    });
    expect(failure(() => tx.count((f) => (f as unknown as Record<string, never>).nope!))).toEqual({
      code: 'INVALID_ARGUMENT',
      path: 'source tx',
    });
  });

  it('rejects aggregations of the wrong type', () => {
    const cases: [string, () => unknown][] = [
      ['sum of a string', () => tx.sum('merchant' as 'amount')],
      ['sum of a bool', () => tx.sum('ok' as 'amount')],
      ['mean of a string', () => tx.mean('merchant' as 'amount')],
      ['min of a bool', () => tx.min('ok' as 'amount')],
      ['max of a string', () => tx.max('merchant' as 'amount')],
      ['variance of a bool', () => tx.variance('ok' as 'amount')],
      ['stddev of a string', () => tx.stddev('merchant' as 'amount')],
      ['countDistinct of a float', () => tx.countDistinct('amount' as 'n')],
      ['countDistinct of a float expression', () => tx.countDistinct((f) => f.n.div(2) as never)],
      ['sum of a string expression', () => tx.sum((f) => f.merchant as never)],
    ];
    for (const [name, build] of cases) {
      expect(failure(build), name).toEqual({ code: 'INVALID_AGGREGATION', path: 'source tx' });
    }
  });

  it('rejects a where() that is not a bool expression', () => {
    expect(failure(() => tx.count().where((f) => f.amount as never))).toEqual({
      code: 'TYPE_MISMATCH',
      path: 'source tx',
    });
  });

  it('rejects a bad k', () => {
    for (const k of [0, -1, 1.5, 1001, Number.NaN]) {
      expect(
        failure(() => tx.lastK('amount', k)),
        `lastK ${k}`,
      ).toEqual({
        code: 'INVALID_ARGUMENT',
        path: 'source tx',
      });
      expect(
        failure(() => tx.firstK('merchant', k)),
        `firstK ${k}`,
      ).toEqual({
        code: 'INVALID_ARGUMENT',
        path: 'source tx',
      });
    }
    expect(tx.lastK('amount', 1000).as('l').ir).toMatchObject({
      aggregation: { fn: 'last_k', k: 1000 },
    });
  });

  it('rejects a default of the wrong type', () => {
    const cases: [string, () => unknown][] = [
      [
        'string for a float',
        () =>
          tx
            .mean('amount')
            .default('x' as never)
            .as('f'),
      ],
      ['fraction for an int', () => tx.sum('n').default(1.5).as('f')],
      [
        'unsafe int',
        () =>
          tx
            .min('n')
            .default(2 ** 53)
            .as('f'),
      ],
      ['infinity', () => tx.max('amount').default(Number.POSITIVE_INFINITY).as('f')],
      ['NaN', () => tx.mean('amount').default(Number.NaN).as('f')],
      [
        'number for a string',
        () =>
          tx
            .last('merchant')
            .default(1 as never)
            .as('f'),
      ],
      [
        'string for a bool',
        () =>
          tx
            .last('ok')
            .default('true' as never)
            .as('f'),
      ],
    ];
    for (const [name, build] of cases) {
      expect(failure(build), name).toEqual({ code: 'TYPE_MISMATCH', path: 'feature f' });
    }
    expect(tx.sum('n').default(2).as('f').ir).toMatchObject({ default: 2 });
  });

  it('rejects lists in expressions', () => {
    const last3 = tx.lastK('amount', 3).as('last3');
    expect(failure(() => ref(last3))).toEqual({ code: 'TYPE_MISMATCH', path: 'feature last3' });
    // The path names the list feature that cannot be referenced.
    expect(failure(() => derived('d', { l: last3 as never }, (f) => f.l))).toEqual({
      code: 'TYPE_MISMATCH',
      path: 'feature last3',
    });
  });
});

describe('derived and request features', () => {
  const count = tx.count().as('count');
  const merchantCount = merchantTx.count().as('merchant_count');

  it('rejects derived features mixing entities', () => {
    expect(
      failure(() => derived('d', { a: count, b: merchantCount }, (f) => f.a.add(f.b))),
    ).toEqual({ code: 'INVALID_DEFINITION', path: 'feature d' });
  });

  it('rejects derived features of request features or with a non-expression', () => {
    const r = requestFeature({
      name: 'r',
      input: z.object({ x: z.number() }),
      uses: { count },
      type: 'float',
      compute: (input, f) => input.x * f.count,
    });
    expect(failure(() => derived('d', { r }, (f) => f.r))).toEqual({
      code: 'INVALID_DEFINITION',
      path: 'feature d',
    });
    expect(failure(() => derived('d', { count }, () => 1 as never))).toEqual({
      code: 'INVALID_DEFINITION',
      path: 'feature d',
    });
    expect(failure(() => derived('d', {}, () => 1 as never))).toEqual({
      code: 'INVALID_DEFINITION',
      path: 'feature d',
    });
  });

  it('rejects request features with mixed entities, no compute or no zod schema', () => {
    expect(
      failure(() =>
        requestFeature({
          name: 'r',
          input: z.object({}),
          uses: { count, merchantCount },
          type: 'int',
          compute: () => 1,
        }),
      ),
    ).toEqual({ code: 'INVALID_DEFINITION', path: 'feature r' });
    expect(
      failure(() =>
        requestFeature({ name: 'r', input: z.object({}), type: 'int', compute: 1 as never }),
      ),
    ).toEqual({ code: 'INVALID_DEFINITION', path: 'feature r' });
    expect(
      failure(() =>
        requestFeature({ name: 'r', input: {} as never, type: 'int', compute: () => 1 }),
      ),
    ).toEqual({ code: 'INVALID_DEFINITION', path: 'feature r' });
  });

  it('rejects a request feature whose schema is not an object, in a service', () => {
    for (const input of [z.string(), z.array(z.number()), z.union([z.object({}), z.string()])]) {
      const r = requestFeature({ name: 'r', input, type: 'int', compute: () => 1 });
      expect(failure(() => featureService('svc', [count, r]))).toEqual({
        code: 'INVALID_DEFINITION',
        path: 'featureService svc',
      });
    }
  });
});

describe('feature services', () => {
  const count = tx.count().as('count');

  it('rejects duplicate names', () => {
    expect(failure(() => featureService('svc', [count, tx.sum('amount').as('count')]))).toEqual({
      code: 'DUPLICATE_NAME',
      path: 'featureService svc.features[1]',
    });
    expect(failure(() => featureService('svc', [count, count]))).toEqual({
      code: 'DUPLICATE_NAME',
      path: 'featureService svc.features[1]',
    });
    // Two different features named `count`, one only reachable as an input.
    const other = tx.count().window('1d').as('count');
    const d = derived('d', { c: other }, (f) => f.c.add(1));
    expect(failure(() => featureService('svc', [count, d]))).toEqual({
      code: 'DUPLICATE_NAME',
      path: 'featureService svc',
    });
    // The same feature as an output and an input is fine.
    expect(
      featureService('svc', [count, derived('d', { c: count }, (f) => f.c)]).dependencies.map(
        (f) => f.name,
      ),
    ).toEqual(['count', 'd']);
  });

  it('rejects request fields clashing with entity keys or each other', () => {
    const clashKey = requestFeature({
      name: 'r',
      input: z.object({ user_id: z.number() }),
      type: 'int',
      compute: () => 1,
    });
    expect(failure(() => featureService('svc', [count, clashKey]))).toEqual({
      code: 'DUPLICATE_NAME',
      path: 'featureService svc',
    });
    const a = requestFeature({
      name: 'a',
      input: z.object({ x: z.number() }),
      type: 'int',
      compute: () => 1,
    });
    const b = requestFeature({
      name: 'b',
      input: z.object({ x: z.string() }),
      type: 'int',
      compute: () => 1,
    });
    expect(failure(() => featureService('svc', [a, b]))).toEqual({
      code: 'DUPLICATE_NAME',
      path: 'featureService svc',
    });
    // The same field with the same schema is shared.
    const c = requestFeature({
      name: 'c',
      input: z.object({ x: z.number() }),
      type: 'int',
      compute: () => 2,
    });
    expect(Object.keys(featureService('svc', [a, c]).requestSchema.shape)).toEqual(['x']);
  });

  it('rejects an empty service or a non-feature', () => {
    expect(failure(() => featureService('svc', []))).toEqual({
      code: 'INVALID_DEFINITION',
      path: 'featureService svc',
    });
    expect(failure(() => featureService('svc', [{} as typeof count]))).toEqual({
      code: 'INVALID_DEFINITION',
      path: 'featureService svc',
    });
  });

  it('builds the request schema from entity keys and request inputs', () => {
    const account = entity({ name: 'account', keys: { tenant: 'string', account_id: 'int' } });
    const ledger = eventSource({ name: 'ledger', entity: account, fields: { amount: 'float' } });
    const r = requestFeature({
      name: 'r',
      input: z.object({ amount: z.number() }),
      uses: { count },
      type: 'float',
      compute: (input, f) => input.amount / (f.count + 1),
    });
    const svc = featureService('svc', [count, ledger.sum('amount').as('total'), r]);
    expect(Object.keys(svc.requestSchema.shape).sort()).toEqual([
      'account_id',
      'amount',
      'tenant',
      'user_id',
    ]);
    expect(
      svc.requestSchema.safeParse({ user_id: 'u', tenant: 't', account_id: 1, amount: 2 }).success,
    ).toBe(true);
    // Strict: unknown fields, a fractional int key and an empty string key are rejected.
    expect(
      svc.requestSchema.safeParse({ user_id: 'u', tenant: 't', account_id: 1, amount: 2, x: 1 })
        .success,
    ).toBe(false);
    expect(
      svc.requestSchema.safeParse({ user_id: 'u', tenant: 't', account_id: 1.5, amount: 2 })
        .success,
    ).toBe(false);
    expect(
      svc.requestSchema.safeParse({ user_id: '', tenant: 't', account_id: 1, amount: 2 }).success,
    ).toBe(false);
    expect(svc.layout.map((l) => [l.name, l.valueType, l.list])).toEqual([
      ['count', 'int', false],
      ['total', 'float', false],
      ['r', 'float', false],
    ]);
  });
});

describe('drizzle-table sources', () => {
  const billing = pgSchema('billing');
  const payments = billing.table('payments', {
    id: serial('id').primaryKey(),
    userId: text('user_id').notNull(),
    createdAt: timestamp('created_at').notNull(),
    eventId: uuid('event_uuid'),
    cents: integer('amount_cents').notNull(),
    small: smallint('small'),
    big: bigint('big', { mode: 'number' }),
    rate: doublePrecision('rate'),
    ratio: real('ratio'),
    price: numeric('price'),
    note: varchar('note', { length: 20 }),
    refunded: boolean('refunded'),
  });

  it('resolves table, column names and types from the drizzle table', () => {
    const source = eventSource({
      name: 'payments',
      entity: user,
      table: payments,
      keyColumns: { user_id: payments.userId },
      timestamp: payments.createdAt,
      eventId: payments.eventId,
      fields: {
        cents: payments.cents,
        small: { type: 'int', column: payments.small, nullable: false },
        big: payments.big,
        rate: payments.rate,
        ratio: payments.ratio,
        price: payments.price,
        note: { type: 'string', column: 'note' },
        refunded: payments.refunded,
      },
    });
    expect(source.ir).toMatchObject({
      table: { schema: 'billing', name: 'payments' },
      keyColumns: { user_id: 'user_id' },
      timestamp: { column: 'created_at', unit: 'timestamp' },
      eventId: 'event_uuid',
      ingestedAt: null,
      sequence: null,
      fields: {
        cents: { type: 'int', column: 'amount_cents', nullable: false },
        small: { type: 'int', column: 'small', nullable: false },
        big: { type: 'int', column: 'big', nullable: true },
        rate: { type: 'float', column: 'rate', nullable: true },
        ratio: { type: 'float', column: 'ratio', nullable: true },
        price: { type: 'float', column: 'price', nullable: true },
        note: { type: 'string', column: 'note', nullable: true },
        refunded: { type: 'bool', column: 'refunded', nullable: true },
      },
    });
    expect(source.fields.cents.type).toBe('int');
    expect(source.fields.price.type).toBe('float');
    expect(source.sum('cents').as('total').valueType).toBe('int');
  });

  it('reads an epoch-ms integer event time and a public-schema table', () => {
    const events = pgTable('events', {
      uid: text('uid').notNull(),
      ts: bigint('ts_ms', { mode: 'number' }).notNull(),
      v: doublePrecision('v'),
    });
    const source = eventSource({
      name: 'ev',
      entity: user,
      table: events,
      keyColumns: { user_id: 'uid' },
      timestamp: events.ts,
      fields: { v: events.v },
    });
    expect(source.ir).toMatchObject({
      table: { schema: null, name: 'events' },
      keyColumns: { user_id: 'uid' },
      timestamp: { column: 'ts_ms', unit: 'epoch_ms' },
    });
  });

  it('rejects unknown columns, columns of other tables and type mismatches', () => {
    const base = { name: 'payments', entity: user, table: payments } as const;
    const keyColumns = { user_id: payments.userId };
    const timestampSpec = payments.createdAt;
    expect(
      failure(() =>
        eventSource({ ...base, keyColumns, timestamp: timestampSpec, fields: { nope: 'int' } }),
      ),
    ).toEqual({ code: 'UNKNOWN_COLUMN', path: 'source payments.fields.nope' });
    expect(
      failure(() =>
        eventSource({
          ...base,
          keyColumns: { user_id: 'uid' },
          timestamp: timestampSpec,
          fields: { cents: payments.cents },
        }),
      ),
    ).toEqual({ code: 'UNKNOWN_COLUMN', path: 'source payments.keyColumns.user_id' });
    expect(
      failure(() => eventSource({ ...base, keyColumns, fields: { cents: payments.cents } })),
    ).toEqual({ code: 'UNKNOWN_COLUMN', path: 'source payments.timestamp' });
    const other = pgTable('other', { x: integer('x') });
    expect(
      failure(() =>
        eventSource({ ...base, keyColumns, timestamp: timestampSpec, fields: { x: other.x } }),
      ),
    ).toEqual({ code: 'UNKNOWN_COLUMN', path: 'source payments.fields.x' });
    // Declared type vs drizzle column type.
    expect(
      failure(() =>
        eventSource({ ...base, keyColumns, timestamp: timestampSpec, fields: { rate: 'int' } }),
      ),
    ).toEqual({ code: 'TYPE_MISMATCH', path: 'source payments.fields.rate' });
    expect(
      failure(() =>
        eventSource({
          ...base,
          keyColumns,
          timestamp: timestampSpec,
          fields: { cents: { type: 'string', column: payments.cents } },
        }),
      ),
    ).toEqual({ code: 'TYPE_MISMATCH', path: 'source payments.fields.cents' });
    expect(
      failure(() =>
        eventSource({
          ...base,
          keyColumns,
          timestamp: timestampSpec,
          fields: { created: payments.createdAt as never },
        }),
      ),
    ).toEqual({ code: 'TYPE_MISMATCH', path: 'source payments.fields.created' });
    expect(
      failure(() =>
        eventSource({
          ...base,
          keyColumns,
          timestamp: payments.note as never,
          fields: { cents: payments.cents },
        }),
      ),
    ).toEqual({ code: 'TYPE_MISMATCH', path: 'source payments.timestamp' });
  });
});

describe('constant subexpressions', () => {
  const account = entity({ name: 'account', keys: { account_id: 'string' } });
  const events = eventSource({ name: 'events', entity: account, fields: { amount: 'float' } });

  it('rejects a constant that overflows when the feature is defined (Postgres would fail every query)', () => {
    const build = () =>
      events
        .sum((f) => when(f.amount.gt(0), lit(1e300).mul(1e300)).otherwise(f.amount))
        .as('overflowing');
    expect(build).toThrow(TandemError);
    try {
      build();
    } catch (error) {
      expect(isTandemError(error, 'VALUE_OUT_OF_RANGE')).toBe(true);
      expect((error as TandemError).path).toBe('feature overflowing');
    }
    const count = events.count().window('1h').as('n_1h');
    expect(() => derived('bad_ratio', { n: count }, (f) => f.n.add(lit(1e200).exp()))).toThrow(
      /overflow/,
    );
  });

  it('accepts constants that stay in range', () => {
    expect(events.sum((f) => f.amount.mul(lit(2).mul(3))).as('scaled').ir.kind).toBe('aggregation');
  });
});
