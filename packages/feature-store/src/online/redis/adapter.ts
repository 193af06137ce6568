import type { Cluster, Redis } from 'ioredis';
import type { OnlineAdapter, ReadOp, ReadReply, WriteGroup, WriteOutcome } from '../adapter.js';
import { READ_SCRIPT, WRITE_SCRIPT } from './scripts.js';

/** Options of {@link redisAdapter}. */
export interface RedisAdapterOptions {
  /** A connected ioredis client: standalone or Cluster. The adapter does not close it. */
  readonly client: Redis | Cluster;
}

type ScriptClient = (Redis | Cluster) & {
  // Arguments go as one array (ioredis flattens it): spreading 100k+ arguments overflows the stack.
  tandemWrite(
    numKeys: number,
    args: readonly (string | number)[],
  ): Promise<[number, number, number]>;
  tandemRead(numKeys: number, args: readonly (string | number)[]): Promise<(string | null)[][]>;
};

/**
 * The Redis storage engine (ioredis, standalone or Cluster). Each write group is one Lua call
 * (atomic; its keys share a hash tag, so one Cluster slot), each read group one Lua call; all
 * groups of a call go out together (a pipeline, or one batch per node in a Cluster).
 */
export function redisAdapter(options: RedisAdapterOptions): OnlineAdapter {
  const client = options.client as ScriptClient;
  if (typeof client.tandemWrite !== 'function') {
    client.defineCommand('tandemWrite', { lua: WRITE_SCRIPT });
    client.defineCommand('tandemRead', { lua: READ_SCRIPT });
  }
  const cluster = isCluster(client);

  const writeArgs = (group: WriteGroup): (string | number)[] => {
    const args: (string | number)[] = [
      ...group.keys,
      finite(group.lateBefore),
      finite(group.trimBefore),
      group.events.length,
    ];
    for (const event of group.events) {
      args.push(event.id, event.ts, event.raw, event.ops.length);
      for (const { key, field, op } of event.ops) {
        args.push(
          key + 1,
          field,
          op.kind,
          op.kind === 'poison' ? '' : op.arg,
          op.kind === 'newest' || op.kind === 'oldest' ? op.k : 0,
        );
      }
    }
    // Puts go grouped by key: one HSET per key in the script.
    const puts = new Map<number, (string | number)[]>();
    for (const put of group.puts) {
      let pairs = puts.get(put.key);
      if (pairs === undefined) {
        pairs = [];
        puts.set(put.key, pairs);
      }
      pairs.push(put.field, put.value);
    }
    args.push(puts.size);
    for (const [key, pairs] of puts) {
      args.push(key + 1, pairs.length / 2);
      for (const item of pairs) args.push(item);
    }
    args.push(group.deletes.length);
    for (const del of group.deletes) args.push(del.key + 1, del.field);
    const meta = Object.entries(group.meta);
    args.push(meta.length);
    for (const [field, value] of meta) args.push(field, value);
    for (let i = 0; i < group.keys.length; i++) {
      const ttl = group.ttls[i] ?? Infinity;
      args.push(Number.isFinite(ttl) ? Math.max(1, Math.ceil(ttl)) : 'inf');
    }
    return args;
  };
  const readArgs = (ops: readonly ReadOp[]): (string | number)[] => {
    const args: (string | number)[] = ops.map((op) => op.key);
    for (const op of ops) {
      if (op.kind === 'fields') args.push('f', op.fields.length, ...op.fields);
      else args.push('r', finite(op.min), finite(op.max));
    }
    return args;
  };

  const run = async <T>(
    calls: readonly (readonly (string | number)[])[],
    command: 'tandemWrite' | 'tandemRead',
    numKeys: (i: number) => number,
  ): Promise<T[]> => {
    if (calls.length === 0) return [];
    if (cluster || calls.length === 1) {
      return Promise.all(calls.map((args, i) => client[command](numKeys(i), args) as Promise<T>));
    }
    const pipeline = (client as Redis).pipeline() as unknown as ScriptClient & {
      exec(): Promise<[Error | null, unknown][]>;
    };
    calls.forEach((args, i) => {
      pipeline[command](numKeys(i), args);
    });
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, reply]) => {
      if (error !== null) throw error;
      return reply as T;
    });
  };

  return {
    async write(groups) {
      const replies = await run<[number, number, number]>(
        groups.map(writeArgs),
        'tandemWrite',
        (i) => groups[i]!.keys.length,
      );
      return replies.map(
        ([applied, duplicates, late]): WriteOutcome => ({ applied, duplicates, late }),
      );
    },
    async read(groups) {
      const replies = await run<(string | null)[][]>(
        groups.map(readArgs),
        'tandemRead',
        (i) => groups[i]!.length,
      );
      return replies.map((reply) => reply.map((r): ReadReply => r ?? []));
    },
    async globals(globalsKey, command) {
      if ('get' in command) {
        if (command.get.length === 0) return [];
        return client.hmget(globalsKey, ...command.get);
      }
      if ('set' in command) {
        if (Object.keys(command.set).length > 0) await client.hset(globalsKey, command.set);
        return [];
      }
      const entries = Object.entries(command.incr);
      return Promise.all(
        entries.map(async ([name, by]) => String(await client.hincrby(globalsKey, name, by))),
      );
    },
    async clear(prefix, match) {
      const masters = cluster ? (client as Cluster).nodes('master') : [client as Redis];
      // The prefix is literal: glob characters in it are escaped.
      const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
      await Promise.all(
        masters.map(async (node) => {
          let cursor = '0';
          do {
            const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
            cursor = next;
            // One DEL per key: in a Cluster, keys of one node may still span slots.
            const doomed = match === undefined ? keys : keys.filter(match);
            await Promise.all(doomed.map((key) => node.del(key)));
          } while (cursor !== '0');
        }),
      );
    },
    async close() {},
  };
}

function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/** Redis scores: clamp infinities to the safe-integer range of epoch ms. */
function finite(x: number): number {
  if (x === Number.NEGATIVE_INFINITY) return -Number.MAX_SAFE_INTEGER;
  if (x === Number.POSITIVE_INFINITY) return Number.MAX_SAFE_INTEGER;
  return x;
}
