/**
 * Child process of the resume test (not part of the library): materializes the test model into
 * Redis, printing one line per chunk and pausing after each, so the parent can SIGKILL it midway.
 * Usage: `node --conditions=tandem-source --import tsx resume.child.ts <json args>`.
 */
import { Redis } from 'ioredis';
import { onlineFeatures } from '../../../test/online-model.js';
import { postgresExecutor } from '../../executor/executor.js';
import { redisAdapter } from '../redis/adapter.js';
import { createOnlineStore } from '../store.js';
import { materialize } from './materialize.js';

const args = JSON.parse(process.argv[2] ?? '{}') as {
  databaseUrl: string;
  schema: string;
  redisUrl: string;
  namespace: string;
  now: number;
  chunkSize: number;
  pauseMs: number;
};
const client = new Redis(args.redisUrl);
const executor = postgresExecutor(args.databaseUrl);
const online = createOnlineStore({
  adapter: redisAdapter({ client }),
  features: [...onlineFeatures],
  namespace: args.namespace,
  allowedLateness: '1h',
  clock: () => args.now,
});
const pause = new Int32Array(new SharedArrayBuffer(4));
const result = await materialize({
  executor,
  schema: args.schema,
  online,
  clock: () => args.now,
  chunkSize: args.chunkSize,
  onProgress: (progress) => {
    process.stdout.write(`${JSON.stringify(progress)}\n`);
    // Block the event loop a little: the parent's kill lands between chunks or mid-write.
    if (progress.phase === 'chunk') Atomics.wait(pause, 0, 0, args.pauseMs);
  },
});
process.stdout.write(`DONE ${JSON.stringify(result)}\n`);
await executor.close();
client.disconnect();
