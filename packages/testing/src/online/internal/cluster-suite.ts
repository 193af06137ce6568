import type { OnlineAdapter } from '@tandem/feature-store';
import type { Cluster, Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { orderFeatures } from './model.js';
import { type Scope, sleep, withScope } from './scope.js';
import { expectFold, NOW, storeIn, toEvents, WARM_AT } from './store-suite.js';

/** What the cluster checks need. */
export interface ClusterSuiteContext {
  readonly makeAdapter: () => OnlineAdapter | Promise<OnlineAdapter>;
  readonly prefix: () => string;
  readonly cluster: () => Cluster;
}

/** Keys under `prefix` by master (`host:port`). */
async function keysByNode(cluster: Cluster, prefix: string): Promise<Map<string, string[]>> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  const out = new Map<string, string[]>();
  for (const node of cluster.nodes('master')) {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    out.set(nodeName(node), keys);
  }
  return out;
}

function nodeName(node: Redis): string {
  return `${node.options.host}:${node.options.port}`;
}

/**
 * Calls of the commands an online store reads and writes with (EXEC of a MULTI, EVALSHA, EVAL,
 * HMGET, inside a MULTI or not) a master has served.
 */
async function storeCalls(node: Redis): Promise<number> {
  const info = await node.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/cmdstat_(?:evalsha|eval|exec|hmget):calls=(\d+)/g)) {
    calls += Number(match[1]);
  }
  return calls;
}

/** Registers the Redis Cluster checks: hash tags, one slot per entity, reads across nodes. */
export function describeClusterSuite(ctx: ClusterSuiteContext): void {
  const run = <T>(body: (scope: Scope) => Promise<T>) =>
    withScope(ctx.makeAdapter, ctx.prefix, body);

  describe('redis cluster', () => {
    it('puts every key of one entity in one slot (hash tag), entities spread over the masters', () =>
      run(async (scope) => {
        const cluster = ctx.cluster();
        const store = storeIn(scope);
        const ids = Array.from({ length: 30 }, (_, i) => `c${i}`);
        const drafts = ids.flatMap((customer, i) =>
          [0, 1, 2].map((j) => ({
            customer,
            ts: NOW - (j * 9 + 1) * 86_400_000 + i * 1000,
            id: j,
            amount: i + j / 2,
            items: j,
            channel: j === 0 ? null : 'web',
          })),
        );
        await store.writeEvents('orders', toEvents(drafts));
        const byNode = await keysByNode(cluster, store.namespace);
        const tagNodes = new Map<string, Set<string>>();
        const tagSlots = new Map<string, Set<number>>();
        let total = 0;
        for (const [node, keys] of byNode) {
          for (const key of keys) {
            total++;
            const tag = /\{([^}]*)\}/.exec(key)?.[1];
            expect(tag, key).toBeDefined();
            const slot = Number(await cluster.cluster('KEYSLOT', key));
            (tagNodes.get(tag!) ?? tagNodes.set(tag!, new Set()).get(tag!)!).add(node);
            (tagSlots.get(tag!) ?? tagSlots.set(tag!, new Set()).get(tag!)!).add(slot);
          }
        }
        expect(tagNodes.size).toBe(ids.length);
        expect(total).toBeGreaterThan(ids.length * 3);
        for (const [tag, nodes] of tagNodes) {
          expect({ tag, nodes: nodes.size, slots: tagSlots.get(tag)!.size }).toEqual({
            tag,
            nodes: 1,
            slots: 1,
          });
        }
        const used = new Set([...tagNodes.values()].flatMap((s) => [...s]));
        expect(used.size).toBe(cluster.nodes('master').length);
        await store.clear();
        expect([...(await keysByNode(cluster, store.namespace)).values()].flat()).toEqual([]);
      }));

    it('reads N entities spread over every master in one call, each exactly', () =>
      run(async (scope) => {
        const cluster = ctx.cluster();
        const store = storeIn(scope, { clock: () => WARM_AT });
        const ids = Array.from({ length: 24 }, (_, i) => `r${i}`);
        const events = toEvents(
          ids.flatMap((customer, i) =>
            Array.from({ length: 1 + (i % 5) }, (_, j) => ({
              customer,
              ts: NOW - j * 3 * 3_600_000 - i * 60_000 - 1,
              id: j,
              amount: i * 1.5 - j,
              items: (i + j) % 10,
              channel: ['web', 'app', null][j % 3]!,
            })),
          ),
        );
        await store.writeEvents('orders', events);
        const masters = cluster.nodes('master');
        const read = async () => {
          const before = await Promise.all(masters.map(storeCalls));
          const rows = await store.getOnlineFeatures({
            service: [...orderFeatures],
            entities: ids.map((customer_id) => ({ customer_id })),
            at: WARM_AT,
          });
          const after = await Promise.all(masters.map(storeCalls));
          expectFold(rows, events, WARM_AT);
          return after.map((n, i) => n - before[i]!);
        };
        // A cold read takes the tiles and the raw head (a transaction per entity, after an HMGET
        // of its meta hash) and fills the window caches in the background; once they have landed,
        // a read is one HMGET per entity, on every master.
        let perNode = await read();
        expect(perNode.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2 * ids.length);
        for (let attempt = 0; attempt < 50; attempt++) {
          perNode = await read();
          if (perNode.reduce((a, b) => a + b, 0) === ids.length) break;
          await sleep(20);
        }
        expect(perNode.reduce((a, b) => a + b, 0)).toBe(ids.length);
        expect(perNode.every((n) => n > 0)).toBe(true);
      }));
  });
}
