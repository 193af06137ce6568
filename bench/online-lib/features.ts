import { entity, eventSource, featureService } from '@tandem/core';

/** The online benchmark's entity: a user with an integer id. */
export const user = entity({ name: 'user', keys: { user_id: 'int' } });

/** Card payments of a user. */
export const payments = eventSource({
  name: 'payments',
  entity: user,
  fields: { amount: 'float', merchant: 'string', items: 'int' },
});

const DAY = 86_400_000;

/**
 * Twenty features, half over 7 days (default hop 1 h), half over 30 days (default hop 1 d):
 * counts, sums, means, min/max, standard deviations, distinct counts, last / lastK / firstK.
 */
export const onlineBenchFeatures = [
  payments.count().window('7d').as('count_7d'),
  payments.count().window('30d').as('count_30d'),
  payments.sum('amount').window('7d').as('amount_sum_7d'),
  payments.sum('amount').window('30d').as('amount_sum_30d'),
  payments.mean('amount').window('7d').as('amount_mean_7d'),
  payments.mean('amount').window('30d').as('amount_mean_30d'),
  payments.min('amount').window('7d').as('amount_min_7d'),
  payments.min('amount').window('30d').as('amount_min_30d'),
  payments.max('amount').window('7d').as('amount_max_7d'),
  payments.max('amount').window('30d').as('amount_max_30d'),
  payments.stddev('amount').window('7d').as('amount_std_7d'),
  payments.stddev('amount').window('30d').as('amount_std_30d'),
  payments.countDistinct('merchant').window('7d').as('merchants_7d'),
  payments.countDistinct('merchant').window('30d').as('merchants_30d'),
  payments.sum('items').window('7d').as('items_sum_7d'),
  payments.max('items').window('30d').as('items_max_30d'),
  payments.last('merchant').window('7d').as('last_merchant_7d'),
  payments
    .last('amount')
    .window(30 * DAY, { hop: 1 })
    .as('last_amount_30d'),
  payments.lastK('amount', 3).window('7d').as('last3_amount_7d'),
  payments.firstK('amount', 2).window('30d').as('first2_amount_30d'),
] as const;

/** The service read by the benchmark. */
export const onlineBenchService = featureService('online_bench', onlineBenchFeatures);
