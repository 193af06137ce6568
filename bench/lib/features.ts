import { entity, eventSource } from '@tandem/core';

/** The benchmark's entity: a user with an integer id. */
export const user = entity({ name: 'user', keys: { user_id: 'int' } });

/** The benchmark's event source: one managed table of transactions. */
export const transactions = eventSource({
  name: 'tx',
  entity: user,
  fields: { amount: 'float' },
});

/** One day in ms. */
export const DAY = 86_400_000;

/**
 * "Last amount with ttl 30d": `last` over a 30-day window with a 1 ms hop, i.e. exactly
 * `[q - 30d, q)`, the same window as Feast's ttl (Feast also includes `ts = q`).
 */
export const lastAmount = transactions
  .last('amount')
  .window(30 * DAY, { hop: 1 })
  .as('last_amount_30d');
/** 7-day sum of amounts (default hop 1h). */
export const sum7d = transactions.sum('amount').window('7d').as('amount_sum_7d');
/** 7-day event count (default hop 1h). */
export const count7d = transactions.count().window('7d').as('tx_count_7d');
/** 24-hour mean amount (default hop 1h). */
export const mean24h = transactions.mean('amount').window('24h').as('amount_mean_24h');
/** 30-day max amount (default hop 1d). */
export const max30d = transactions.max('amount').window('30d').as('amount_max_30d');

/** Every benchmarked feature. */
export const allFeatures = [lastAmount, sum7d, count7d, mean24h, max30d] as const;
/** The windowed features (compared with the plain LATERAL reference). */
export const windowedFeatures = [sum7d, count7d, mean24h, max30d] as const;
