/**
 * The quickstart's feature definitions: one entity, one event source, one attribute source,
 * windowed aggregations, derived features, request-time features and two feature services:
 * `fraud_v1` (every kind of feature, compared between SQL and the TypeScript fold) and
 * `fraud_model_v1` (the numeric inputs of the fraud model, trained offline and served online).
 * Everything here is plain data (an IR): the offline store compiles it to SQL, the online store
 * to tiles, and the reference folds it in TypeScript.
 */
import {
  attributeSource,
  coalesce,
  derived,
  entity,
  eventSource,
  featureService,
  type InferFeatureRow,
  type InferServiceRequest,
  lit,
  requestFeature,
} from '@tandem/core';
import { z } from 'zod';

export const user = entity({ name: 'user', keys: { user_id: 'string' } });

// A managed event table: Tandem owns its columns (user_id, the fields, ts, event_id,
// ingested_at, seq). `store.apply` creates it and `store.ingest` writes it.
export const transactions = eventSource({
  name: 'transactions',
  entity: user,
  fields: { amount: 'float', merchant: 'string', is_refund: 'bool' },
});

// The user's own table, read in place: a different key column and a timestamptz column.
export const profiles = attributeSource({
  name: 'profiles',
  entity: user,
  table: 'user_profiles',
  keyColumns: { user_id: 'id' },
  timestamp: { column: 'updated_at', unit: 'timestamp' },
  fields: { country: 'string', plan: 'string' },
});

export const txCount7d = transactions.count().window('7d').as('tx_count_7d');
export const txSum7d = transactions.sum('amount').window('7d').as('tx_sum_7d');
export const meanAmount24h = transactions.mean('amount').window('24h').as('mean_amount_24h');
export const maxAmount30d = transactions.max('amount').window('30d').as('max_amount_30d');
export const amountStddev30d = transactions.stddev('amount').window('30d').as('amount_stddev_30d');
export const lastMerchant = transactions.last('merchant').as('last_merchant');
export const distinctMerchants30d = transactions
  .countDistinct('merchant')
  .window('30d')
  .as('distinct_merchants_30d');
export const refunds30d = transactions
  .count()
  .where((t) => t.is_refund)
  .window('30d')
  .describe('refunds in the last 30 days')
  .as('refunds_30d');

export const country = profiles.latest('country', { ttl: '30d' }).as('country');
export const plan = profiles.latest('plan').default('free').as('plan');

export const avgTicket7d = derived('avg_ticket_7d', { sum: txSum7d, n: txCount7d }, (f) =>
  f.sum.div(f.n),
);

export const amountVsAvg = requestFeature({
  name: 'amount_vs_avg',
  input: z.object({ amount: z.number().nonnegative() }),
  uses: { avg: avgTicket7d },
  type: 'float',
  compute: (request, { avg }) => (avg === null || avg === 0 ? null : request.amount / avg),
});

export const fraudService = featureService('fraud_v1', [
  txCount7d,
  txSum7d,
  meanAmount24h,
  maxAmount30d,
  amountStddev30d,
  lastMerchant,
  distinctMerchants30d,
  refunds30d,
  country,
  plan,
  avgTicket7d,
  amountVsAvg,
]);

// The model's inputs: numbers only (a tensor column each), never null.
export const maxAmount30dOrZero = derived('max_amount_30d_or_0', { max: maxAmount30d }, (f) =>
  coalesce(f.max, lit(0)),
);
export const isPro = derived('is_pro', { plan }, (f) => f.plan.eq('pro'));
export const amountLogRatio = requestFeature({
  name: 'amount_log_ratio',
  input: z.object({ amount: z.number().nonnegative() }),
  uses: { avg: avgTicket7d },
  type: 'float',
  // ln(1 + amount) - ln(1 + average ticket of the last 7 days); no recent history counts as 0.
  compute: (request, { avg }) => Math.log1p(request.amount) - Math.log1p(avg ?? 0),
});

/** The fraud model's inputs, in tensor column order. */
export const fraudModelService = featureService('fraud_model_v1', [
  txCount7d,
  txSum7d,
  refunds30d,
  distinctMerchants30d,
  maxAmount30dOrZero,
  isPro,
  amountLogRatio,
]);

/** One row of the service's feature values, e.g. `{ tx_count_7d: number; country: string | null; ... }`. */
export type FraudRow = InferFeatureRow<typeof fraudService>;
/** A request: entity keys and request data, `{ user_id: string } & { amount: number }`. */
export type FraudRequest = InferServiceRequest<typeof fraudService>;
