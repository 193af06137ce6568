/**
 * The quickstart's pieces, reused by `examples/fraud-redis` to run the same demo on Postgres and
 * Redis: the feature definitions, the data generator and the engine-independent pipeline.
 */
export { type DemoData, generateData, type PaymentRequest } from './data.js';
export {
  fraudModelService,
  fraudService,
  profiles,
  transactions,
} from './features.js';
export {
  type ComparedValue,
  type DemoEnvironment,
  type DemoOptions,
  type DemoResult,
  type ParityCounts,
  type ParitySummary,
  runDemo,
  SCORE_TOLERANCE,
  type ScoredPayment,
} from './pipeline.js';
