/**
 * Entry point of `npm run demo`: runs the demo and exits non-zero when the SQL and TypeScript
 * engines disagree. With `--sql` (`npm run demo -w @tandem/example-quickstart -- --sql`) it also
 * prints the SQL the offline store runs for the compared training set.
 */
import { main } from './demo.js';

const result = await main({ showSql: process.argv.includes('--sql') });
if (result.mismatches > 0) process.exitCode = 1;
