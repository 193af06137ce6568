import type { Cluster, Redis } from 'ioredis';
import type { OnlineAdapter, ReadOp, ReadReply, WriteGroup, WriteOutcome } from '../adapter.js';
import { WRITE_SCRIPT } from './scripts.js';

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
  ): Promise<[number, number, number, number?]>;
};

/** The read commands of a {@link ReadOp}. */
type ReadCommands = {
  hmget(key: string, fields: readonly string[]): unknown;
  zrangebyscore(key: string, min: number | string, max: string): unknown;
};

/** The commands the adapter sends in a MULTI/EXEC. */
type Transaction = ReadCommands & {
  hset(key: string, pairs: readonly string[]): unknown;
  tandemWrite(numKeys: number, args: readonly (string | number)[]): unknown;
};

/**
 * The Redis storage engine (ioredis, standalone or Cluster). Each write group is one Lua call
 * (atomic; its keys share a hash tag, so one Cluster slot), each read group a MULTI/EXEC of plain
 * reads (a plain command when it has one); all groups of a call go out together (one socket
 * write, or one batch per node in a Cluster).
 */
export function redisAdapter(options: RedisAdapterOptions): OnlineAdapter {
  const client = options.client as ScriptClient;
  if (typeof client.tandemWrite !== 'function') {
    client.defineCommand('tandemWrite', { lua: WRITE_SCRIPT });
  }
  const cluster = isCluster(client);
  // Plain transactions need every command sent as it is issued: ioredis's auto-pipelining defers
  // plain commands to the next tick but sends MULTI at once, which would split a transaction.
  const plainTransactions = !cluster && client.options.enableAutoPipelining !== true;

  /**
   * Sends the commands `issue` makes (it must not await) in one socket write: on a standalone
   * client, with its socket corked. ioredis writes each plain command at once otherwise; its
   * `pipeline()` batches them but costs more (see {@link transact}).
   */
  const corked = <T>(issue: () => T): T => {
    const socket = !cluster && client.status === 'ready' ? (client as Redis).stream : undefined;
    socket?.cork();
    try {
      return issue();
    } finally {
      socket?.uncork();
    }
  };

  /** The read commands sent plain (outside a MULTI). */
  const plainReads: ReadCommands = {
    hmget: (key, fields) => client.hmget(key, ...fields),
    zrangebyscore: (key, min, max) => client.zrangebyscore(key, min, max),
  };

  /**
   * Sends the commands `fill` adds as one MULTI/EXEC and gives EXEC's replies. In a Cluster (or
   * with ioredis's auto-pipelining on), an ioredis pipelined transaction (in a Cluster the keys
   * share a slot). Otherwise plain commands (`multi({ pipeline: false })`) issued in one
   * synchronous run, corked: nothing else on the connection comes between MULTI and EXEC.
   * Measured with ioredis 5.11: a `pipeline()` (which its pipelined `multi()` is) keeps its
   * replies alive across young-generation collections (1-9 MB copied per scavenge, pauses of
   * 4-13 ms every few dozen reads of ten entities) and costs about twice the client CPU of the
   * same commands sent plain and corked.
   */
  const transact = async (fill: (transaction: Transaction) => void) => {
    if (!plainTransactions) {
      const transaction = client.multi() as unknown as Transaction & {
        exec(): Promise<[Error | null, unknown][] | null>;
      };
      fill(transaction);
      return (await transaction.exec()) ?? [];
    }
    const redis = client as Redis & ScriptClient;
    const queued: Promise<unknown>[] = [];
    const exec = corked(() => {
      queued.push(redis.multi({ pipeline: false }));
      try {
        fill({
          hmget: (key, fields) => queued.push(redis.hmget(key, ...fields)),
          zrangebyscore: (key, min, max) => queued.push(redis.zrangebyscore(key, min, max)),
          hset: (key, pairs) => queued.push(redis.hset(key, pairs as string[])),
          tandemWrite: (numKeys, args) => queued.push(redis.tandemWrite(numKeys, args)),
        });
      } catch (error) {
        // Never leave the connection inside a MULTI.
        queued.push(redis.discard());
        throw error;
      } finally {
        // Queueing replies (OK, QUEUED) carry nothing: a failure shows in EXEC's reply.
        for (const reply of queued) reply.catch(() => undefined);
      }
      return redis.exec();
    });
    return (await exec) ?? [];
  };

  /**
   * The script's arguments for a group. Given `putsApart` (the group's puts by key, sent as HSETs
   * of their own: see `writeApart`), the script gets each put key with no pairs (still counted as
   * puts: the meta fields and the counter behave as if the script wrote them).
   */
  const writeArgs = (
    group: WriteGroup,
    putsApart?: ReadonlyMap<number, readonly string[]>,
  ): (string | number)[] => {
    const { guard, counter } = group;
    const args: (string | number)[] = [
      ...group.keys,
      finite(group.lateBefore),
      finite(group.trimBefore),
      guard === undefined ? 0 : guard.key + 1,
      guard?.field ?? '',
      guard?.equals == null ? '0' : '1',
      guard?.equals ?? '',
      counter === undefined ? 0 : counter.key + 1,
      counter?.field ?? '',
      group.events.length,
    ];
    for (const event of group.events) {
      // One string per event: a script argument costs Redis a Lua string, and ioredis a
      // conversion, whatever its size.
      let ops = '';
      for (const { key, field, op, ranged, slot = 0 } of event.ops) {
        const arg = op.kind === 'poison' ? '' : op.arg;
        const k = op.kind === 'newest' || op.kind === 'oldest' ? op.k : '';
        ops += `${key + 1}\x1f${field}\x1f${op.kind}\x1f${arg}\x1f${k}\x1f${ranged ? slot : ''}\x1e`;
      }
      args.push(event.id, event.ts, event.visibleAt, event.raw, ops);
    }
    // Puts go grouped by key: one HSET per key in the script.
    if (putsApart !== undefined) {
      args.push(putsApart.size);
      for (const key of putsApart.keys()) args.push(key + 1, 0);
    } else {
      const puts = putsByKey(group);
      args.push(puts.size);
      for (const [key, pairs] of puts) {
        args.push(key + 1, pairs.length / 2);
        for (const item of pairs) args.push(item);
      }
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

  /** Runs the write script once per group, all calls in one socket write. */
  const runScripts = (
    groups: readonly WriteGroup[],
  ): Promise<[number, number, number, number?][]> =>
    corked(() => Promise.all(groups.map((g) => client.tandemWrite(g.keys.length, writeArgs(g)))));

  /**
   * Writes a group of puts only (no events, no guard: what batch materialization writes) as one
   * MULTI/EXEC of a plain HSET per key, then the script for the rest of the group: as atomic as
   * the script alone, and Redis applies a plain HSET several times faster than a script that
   * first copies every field and value into Lua strings.
   */
  const writeApart = async (group: WriteGroup): Promise<[number, number, number, number?]> => {
    const puts = putsByKey(group);
    const args = writeArgs(group, puts);
    const replies = await transact((transaction) => {
      for (const [key, pairs] of puts) transaction.hset(group.keys[key]!, pairs);
      transaction.tandemWrite(group.keys.length, args);
    });
    for (const [error] of replies) if (error !== null) throw error;
    return replies[replies.length - 1]![1] as [number, number, number, number?];
  };

  return {
    async write(groups) {
      const apart = groups.every(
        (g) => g.events.length === 0 && g.guard === undefined && g.puts.length > 0,
      );
      const replies = apart ? await Promise.all(groups.map(writeApart)) : await runScripts(groups);
      return replies.map(
        ([applied, duplicates, late, refused]): WriteOutcome =>
          refused === 1
            ? { applied, duplicates, late, refused: true }
            : { applied, duplicates, late },
      );
    },
    async read(groups) {
      if (groups.length === 0) return [];
      // A group of one read is atomic as a plain command: no MULTI/EXEC around it (a warm
      // online read is one HMGET per entity). All go out in one socket write.
      if (groups.every((ops) => ops.length === 1)) {
        const replies = await corked(() =>
          Promise.all(groups.map(([op]) => issueRead(plainReads, op!) ?? [])),
        );
        return replies.map((reply) => [reply as ReadReply]);
      }
      // Plain HMGET / ZRANGEBYSCORE in MULTI/EXEC: atomic like a script, without a script's cost
      // of copying every argument and reply into Lua (about 45 µs per call for a 20-feature
      // read). Standalone: one transaction for every group; Cluster: one per group (one slot).
      const batches = cluster ? groups.map((group) => [group]) : [groups];
      const replies = await Promise.all(
        batches.map(async (batch) => {
          const results = await transact((transaction) => {
            for (const ops of batch) for (const op of ops) issueRead(transaction, op);
          });
          let at = 0;
          return batch.map((ops) =>
            ops.map((op): ReadReply => {
              if (op.kind === 'fields' && op.fields.length === 0) return [];
              const [error, reply] = results[at++]!;
              if (error !== null) throw error;
              return reply as ReadReply;
            }),
          );
        }),
      );
      return replies.flat();
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

/**
 * Issues the command of a read op on `commands` (plain, or queued in a MULTI) and gives what it
 * returns; undefined for a fields op with no field, which sends nothing (its reply is empty).
 */
function issueRead(commands: ReadCommands, op: ReadOp): unknown {
  if (op.kind === 'range') {
    return commands.zrangebyscore(op.key, finite(op.min), `(${finite(op.max)}`);
  }
  return op.fields.length === 0 ? undefined : commands.hmget(op.key, op.fields);
}

function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/** A group's puts by key index: field, value, field, value ... */
function putsByKey(group: WriteGroup): Map<number, string[]> {
  const puts = new Map<number, string[]>();
  for (const put of group.puts) {
    let pairs = puts.get(put.key);
    if (pairs === undefined) {
      pairs = [];
      puts.set(put.key, pairs);
    }
    pairs.push(put.field, put.value);
  }
  return puts;
}

/** Redis scores: clamp infinities to the safe-integer range of epoch ms. */
function finite(x: number): number {
  if (x === Number.NEGATIVE_INFINITY) return -Number.MAX_SAFE_INTEGER;
  if (x === Number.POSITIVE_INFINITY) return Number.MAX_SAFE_INTEGER;
  return x;
}
