import { attributeSource, entity, eventSource } from '@tandem/core';

const DAY = 24 * 3_600_000;

/** The conformance model: every aggregation kind and ladder shape online. */
export const customer = entity({ name: 'customer', keys: { customer_id: 'string' } });

/** Orders of a customer. */
export const orders = eventSource({
  name: 'orders',
  entity: customer,
  fields: { amount: 'float', items: 'int', channel: { type: 'string', nullable: true } },
});

/** Every aggregation kind, sliding, cutoff and lifetime ladders. */
export const orderFeatures = [
  orders.count().window('1h').as('orders_1h'),
  orders.count().window('7d').as('orders_7d'),
  orders.sum('amount').window('7d').as('amount_7d'),
  orders.mean('amount').window('24h').as('amount_mean_24h'),
  orders.min('amount').window('30d').as('amount_min_30d'),
  orders.max('items').window('2h', { hop: '10m' }).as('items_max_2h'),
  orders.variance('amount').window('12h').as('amount_var_12h'),
  orders.stddev('amount').window('3d').as('amount_std_3d'),
  orders
    .last('amount')
    .window(30 * DAY, { hop: 1 })
    .as('last_amount_30d'),
  orders.last('channel').as('last_channel'),
  orders.lastK('items', 3).window('1d').as('items_last3_1d'),
  orders.firstK('amount', 2).window('6h').as('amount_first2_6h'),
  orders.countDistinct('channel').window('7d').as('channels_7d'),
  orders.sum('items').as('items_lifetime'),
] as const;

/** Same name as `amount_7d`, another definition (a changed feature). */
export const changedAmount7d = orders.sum('items').window('7d').as('amount_7d');

/** Accounts keyed by an integer id, with a profile attribute source. */
export const account = entity({ name: 'account', keys: { account_id: 'int' } });

/** Profile rows of an account. */
export const profiles = attributeSource({
  name: 'profiles',
  entity: account,
  table: 'profiles',
  fields: { tier: 'string', score: { type: 'float', nullable: false } },
});

/** `latest` with and without a time to live. */
export const profileFeatures = [
  profiles.latest('tier', { ttl: '2h' }).as('tier_2h'),
  profiles.latest('score').as('score'),
] as const;
