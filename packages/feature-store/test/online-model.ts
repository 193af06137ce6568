import { entity, eventSource } from '@tandem/core';

/** A small model exercising every aggregation kind and ladder shape online. */
export const customer = entity({ name: 'customer', keys: { customer_id: 'string' } });

export const orders = eventSource({
  name: 'orders',
  entity: customer,
  fields: { amount: 'float', items: 'int', channel: { type: 'string', nullable: true } },
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const onlineFeatures = [
  orders.count().window('1h').as('orders_1h'),
  orders.count().window('7d').as('orders_7d'),
  orders.sum('amount').window('7d').as('amount_7d'),
  orders.mean('amount').window('24h').as('amount_mean_24h'),
  orders.min('amount').window('30d').as('amount_min_30d'),
  orders.max('items').window('2h', { hop: '10m' }).as('items_max_2h'),
  orders.variance('amount').window('12h').as('amount_var_12h'),
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
