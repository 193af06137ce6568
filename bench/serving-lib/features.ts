/**
 * The serving benchmark's feature service: 20 numeric features of an account over four windows
 * (1 h, 24 h, 7 d, 30 d): payment count, amount sum, refund count, online-payment count and item
 * sum. None is ever null (empty windows give 0), so every tensor is finite.
 */
import { entity, eventSource, featureService } from '@tandem/core';

/** An account, keyed by a string id. */
export const account = entity({ name: 'account', keys: { account_id: 'string' } });

/** Card payments of an account. */
export const payments = eventSource({
  name: 'payments',
  entity: account,
  fields: { amount: 'float', items: 'int', is_refund: 'bool', is_online: 'bool' },
});

const WINDOWS = ['1h', '24h', '7d', '30d'] as const;

/** The 20 features, window by window. */
export const servingBenchFeatures = WINDOWS.flatMap((w) => [
  payments.count().window(w).as(`count_${w}`),
  payments.sum('amount').window(w).as(`amount_sum_${w}`),
  payments
    .count()
    .where((p) => p.is_refund)
    .window(w)
    .as(`refunds_${w}`),
  payments
    .count()
    .where((p) => p.is_online)
    .window(w)
    .as(`online_${w}`),
  payments.sum('items').window(w).as(`items_sum_${w}`),
]);

/** The model's feature service: 20 inputs, in tensor column order. */
export const servingBenchService = featureService('serving_bench', servingBenchFeatures);

/** The feature names, in tensor column order (the hand-written handler's HMGET fields). */
export const FEATURE_NAMES: readonly string[] = servingBenchService.layout.map((f) => f.name);
