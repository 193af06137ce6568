import { bigint, doublePrecision, integer, pgTable, text } from 'drizzle-orm/pg-core';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  attributeSource,
  derived,
  entity,
  eventSource,
  featureService,
  type InferEntityKey,
  type InferFeatureRow,
  type InferServiceRequest,
  requestFeature,
} from '../index.js';

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const account = entity({ name: 'account', keys: { tenant: 'string', account_id: 'int' } });
const tx = eventSource({
  name: 'tx',
  entity: user,
  fields: { amount: 'float', n: 'int', merchant: 'string', ok: 'bool' },
});
const profiles = attributeSource({
  name: 'profiles',
  entity: user,
  fields: { country: 'string', age: { type: 'int', column: 'age_years' } },
});
const ledgerTable = pgTable('ledger', {
  tenant: text('tenant').notNull(),
  accountId: bigint('account_id', { mode: 'number' }).notNull(),
  ts: bigint('ts', { mode: 'number' }).notNull(),
  amount: doublePrecision('amount'),
  items: integer('items'),
  memo: text('memo'),
});
const ledger = eventSource({
  name: 'ledger',
  entity: account,
  table: ledgerTable,
  keyColumns: { tenant: ledgerTable.tenant, account_id: ledgerTable.accountId },
  fields: { amount: ledgerTable.amount, items: ledgerTable.items, memo: ledgerTable.memo },
});

const count7d = tx.count().window('7d').as('count_7d');
const countMerchant = tx.count('merchant').as('count_merchant');
const sum7d = tx.sum('amount').window('7d').as('sum_7d');
const sumN = tx.sum('n').as('sum_n');
// An expression over an int field mixed with a literal (int | float) is a valid sum value.
const sumScaled = tx.sum((f) => f.n.mul(2).add(f.amount)).as('sum_scaled');
const mean = tx.mean('amount').as('mean');
const meanDefault = tx.mean('amount').default(0).as('mean_default');
const minN = tx.min('n').as('min_n');
const maxAmount = tx.max((f) => f.amount.mul(f.n)).as('max_amount');
const variance = tx.variance('amount').as('variance');
const stddev = tx.stddev('n').as('stddev');
const lastMerchant = tx.last('merchant').as('last_merchant');
const lastMerchantDefault = tx.last('merchant').default('none').as('last_merchant_default');
const lastOk = tx.last('ok').as('last_ok');
const last3 = tx.lastK('amount', 3).as('last3');
const first2 = tx.firstK('merchant', 2).as('first2');
const distinct = tx.countDistinct('merchant').as('distinct_merchants');
const country = profiles.latest('country').as('country');
const age = profiles.latest('age', { ttl: '365d' }).default(0).as('age');
const ledgerSum = ledger.sum('amount').as('ledger_sum');
const ledgerItems = ledger.max('items').as('ledger_items');
const ledgerMemo = ledger.last('memo').as('ledger_memo');
const avgTicket = derived('avg_ticket', { s: sum7d, c: count7d }, (f) => f.s.div(f.c));
const isForeign = derived('is_foreign', { c: country }, (f) => f.c.ne('FR'));
const ratio = requestFeature({
  name: 'ratio',
  input: z.object({ amount: z.number(), currency: z.enum(['EUR', 'USD']).optional() }),
  uses: { s: sum7d },
  type: 'float',
  compute: (input, f) => {
    expectTypeOf(input).toEqualTypeOf<{ amount: number; currency?: 'EUR' | 'USD' | undefined }>();
    expectTypeOf(f.s).toEqualTypeOf<number>();
    return input.amount / (f.s + 1);
  },
});
const channel = requestFeature({
  name: 'channel',
  input: z.object({ channel: z.string() }),
  type: 'string',
  compute: (input) => input.channel.toLowerCase(),
});

const service = featureService('svc', [
  count7d,
  countMerchant,
  sum7d,
  sumN,
  sumScaled,
  mean,
  meanDefault,
  minN,
  maxAmount,
  variance,
  stddev,
  lastMerchant,
  lastMerchantDefault,
  lastOk,
  last3,
  first2,
  distinct,
  country,
  age,
  ledgerSum,
  ledgerItems,
  ledgerMemo,
  avgTicket,
  isForeign,
  ratio,
  channel,
]);

describe('InferFeatureRow', () => {
  type Row = InferFeatureRow<typeof service>;

  it('types every aggregation kind', () => {
    expectTypeOf<Row['count_7d']>().toEqualTypeOf<number>();
    expectTypeOf<Row['count_merchant']>().toEqualTypeOf<number>();
    expectTypeOf<Row['sum_7d']>().toEqualTypeOf<number>();
    expectTypeOf<Row['sum_n']>().toEqualTypeOf<number>();
    expectTypeOf<Row['sum_scaled']>().toEqualTypeOf<number>();
    expectTypeOf<Row['mean']>().toEqualTypeOf<number | null>();
    expectTypeOf<Row['min_n']>().toEqualTypeOf<number | null>();
    expectTypeOf<Row['max_amount']>().toEqualTypeOf<number | null>();
    expectTypeOf<Row['variance']>().toEqualTypeOf<number | null>();
    expectTypeOf<Row['stddev']>().toEqualTypeOf<number | null>();
    expectTypeOf<Row['last_merchant']>().toEqualTypeOf<string | null>();
    expectTypeOf<Row['last_ok']>().toEqualTypeOf<boolean | null>();
    expectTypeOf<Row['last3']>().toEqualTypeOf<number[]>();
    expectTypeOf<Row['first2']>().toEqualTypeOf<string[]>();
    expectTypeOf<Row['distinct_merchants']>().toEqualTypeOf<number>();
    expectTypeOf<Row['country']>().toEqualTypeOf<string | null>();
  });

  it('removes null with default()', () => {
    expectTypeOf<Row['mean_default']>().toEqualTypeOf<number>();
    expectTypeOf<Row['last_merchant_default']>().toEqualTypeOf<string>();
    expectTypeOf<Row['age']>().toEqualTypeOf<number>();
  });

  it('types drizzle-table sources from their columns', () => {
    expectTypeOf<Row['ledger_sum']>().toEqualTypeOf<number>();
    expectTypeOf<Row['ledger_items']>().toEqualTypeOf<number | null>();
    expectTypeOf<Row['ledger_memo']>().toEqualTypeOf<string | null>();
  });

  it('types derived and request features', () => {
    expectTypeOf<Row['avg_ticket']>().toEqualTypeOf<number | null>();
    expectTypeOf<Row['is_foreign']>().toEqualTypeOf<boolean | null>();
    expectTypeOf<Row['ratio']>().toEqualTypeOf<number | null>();
    expectTypeOf<Row['channel']>().toEqualTypeOf<string | null>();
  });

  it('has exactly the service features as keys, also through $inferRow', () => {
    expectTypeOf<keyof Row>().toEqualTypeOf<
      | 'count_7d'
      | 'count_merchant'
      | 'sum_7d'
      | 'sum_n'
      | 'sum_scaled'
      | 'mean'
      | 'mean_default'
      | 'min_n'
      | 'max_amount'
      | 'variance'
      | 'stddev'
      | 'last_merchant'
      | 'last_merchant_default'
      | 'last_ok'
      | 'last3'
      | 'first2'
      | 'distinct_merchants'
      | 'country'
      | 'age'
      | 'ledger_sum'
      | 'ledger_items'
      | 'ledger_memo'
      | 'avg_ticket'
      | 'is_foreign'
      | 'ratio'
      | 'channel'
    >();
    expectTypeOf(service.$inferRow).toEqualTypeOf<Row>();
  });
});

describe('InferServiceRequest', () => {
  type Request = InferServiceRequest<typeof service>;

  it('includes the keys of every entity and the request-feature inputs', () => {
    expectTypeOf<Request['user_id']>().toEqualTypeOf<string>();
    expectTypeOf<Request['tenant']>().toEqualTypeOf<string>();
    expectTypeOf<Request['account_id']>().toEqualTypeOf<number>();
    expectTypeOf<Request['amount']>().toEqualTypeOf<number>();
    expectTypeOf<Request['channel']>().toEqualTypeOf<string>();
    expectTypeOf<Request>().toHaveProperty('currency');
    expectTypeOf({
      user_id: 'u',
      tenant: 't',
      account_id: 1,
      amount: 2,
      channel: 'web',
    }).toExtend<Request>();
    expectTypeOf({
      user_id: 'u',
      tenant: 't',
      account_id: 1,
      channel: 'web',
    }).not.toExtend<Request>();
  });

  it('is just the entity keys without request features', () => {
    const plain = featureService('plain', [count7d, ledgerSum]);
    expectTypeOf<InferServiceRequest<typeof plain>>().toEqualTypeOf<
      { user_id: string } & { tenant: string; account_id: number }
    >();
    expectTypeOf(plain.$inferRequest).toEqualTypeOf<InferServiceRequest<typeof plain>>();
  });
});

describe('entities', () => {
  it('infers key objects, composite keys included', () => {
    expectTypeOf(user.$inferKey).toEqualTypeOf<{ user_id: string }>();
    expectTypeOf(account.$inferKey).toEqualTypeOf<{ tenant: string; account_id: number }>();
    expectTypeOf<InferEntityKey<typeof account>>().toEqualTypeOf<{
      tenant: string;
      account_id: number;
    }>();
  });
});

describe('builder misuse is a type error', () => {
  it('rejects aggregating a field of the wrong type or an unknown field', () => {
    // @ts-expect-error merchant is a string field
    tx.sum('merchant');
    // @ts-expect-error ok is a bool field
    tx.mean('ok');
    // @ts-expect-error merchant is a string field
    tx.variance('merchant');
    // @ts-expect-error countDistinct of a float
    tx.countDistinct('amount');
    // @ts-expect-error unknown field
    tx.sum('nope');
    // @ts-expect-error unknown field
    tx.last('nope');
    // @ts-expect-error unknown field
    profiles.latest('nope');
    // @ts-expect-error memo is a text column
    ledger.sum('memo');
    // @ts-expect-error a string expression cannot be summed
    tx.sum((f) => f.merchant);
  });

  it('rejects wrong defaults, non-bool filters and attribute/event mix-ups', () => {
    // @ts-expect-error a string default for a number
    tx.mean('amount').default('zero');
    // @ts-expect-error a number default for a string
    tx.last('merchant').default(0);
    // @ts-expect-error where() needs a bool expression
    tx.count().where((f) => f.amount);
    // @ts-expect-error event sources have no latest()
    tx.latest('merchant');
    // @ts-expect-error attribute sources have no sum()
    profiles.sum('age');
    // @ts-expect-error unknown field in a filter
    tx.count().where((f) => f.nope.gt(1));
  });

  it('rejects wrong request-feature return types', () => {
    requestFeature({
      name: 'bad',
      input: z.object({ x: z.number() }),
      type: 'string',
      // @ts-expect-error returns a number for a string feature
      compute: (input) => input.x,
    });
  });
});
