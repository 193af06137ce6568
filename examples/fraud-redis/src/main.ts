/**
 * Entry point of `npm run demo -w @tandem/example-fraud-redis`: needs DATABASE_URL and REDIS_URL.
 * `-- --keep` leaves the schema and the keys in place afterwards.
 */
import { SCORE_TOLERANCE } from '@tandem/example-quickstart';
import { runFraudRedis } from './run.js';

const databaseUrl = process.env.DATABASE_URL;
const redisUrl = process.env.REDIS_URL;
if (databaseUrl === undefined || redisUrl === undefined) {
  console.error(
    'This demo needs a PostgreSQL server and a Redis server: set DATABASE_URL and REDIS_URL, e.g.\n' +
      '  DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 npm run demo -w @tandem/example-fraud-redis\n' +
      '(`npm run demo` at the root runs the same demo with no service at all.)',
  );
  process.exit(2);
}
const result = await runFraudRedis({
  databaseUrl,
  redisUrl,
  cleanup: !process.argv.includes('--keep'),
  showSql: process.argv.includes('--sql'),
});
const wrong = result.predictions.filter(
  (p) => p.status !== 200 || (p.difference !== null && p.difference > SCORE_TOLERANCE),
);
if (result.parity.mismatches > 0 || wrong.length > 0) process.exitCode = 1;
