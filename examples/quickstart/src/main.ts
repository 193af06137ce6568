/**
 * Entry point of `npm run demo`: runs the demo on the embedded default and exits non-zero when
 * parity breaks or a prediction differs from the TypeScript reference model. With `--sql`
 * (`npm run demo -w @tandem/example-quickstart -- --sql`) it also prints the SQL the offline store
 * runs for the compared training set.
 */
import { main } from './demo.js';
import { SCORE_TOLERANCE } from './pipeline.js';

const result = await main({ showSql: process.argv.includes('--sql') });
const wrong = result.predictions.filter(
  (p) => p.status !== 200 || (p.difference !== null && p.difference > SCORE_TOLERANCE),
);
if (result.parity.mismatches > 0 || wrong.length > 0) process.exitCode = 1;
