/**
 * Turns started cluster-mode servers into one cluster: slots, epochs, MEET, and a bounded wait
 * until every node reports `cluster_state:ok` and the same slot map. Internal: not exported from
 * the package.
 */
import { Redis } from 'ioredis';
import { describeError } from '../../internal/util.js';
import { LOOPBACK } from './server.js';

/** Number of hash slots of a Redis Cluster. */
export const SLOT_COUNT = 16_384;

/** One node to join: its client and cluster-bus ports on {@link LOOPBACK}. */
export interface JoinNode {
  readonly port: number;
  readonly busPort: number;
}

/** The inclusive slot range `[first, last]` the `index`-th of `count` masters owns. */
export function slotRange(index: number, count: number): readonly [number, number] {
  const first = Math.floor((index * SLOT_COUNT) / count);
  const last = Math.floor(((index + 1) * SLOT_COUNT) / count) - 1;
  return [first, last];
}

/**
 * Makes `nodes` (fresh, empty, cluster-enabled) one cluster of masters: each gets a distinct
 * config epoch and an even slot range (CLUSTER ADDSLOTSRANGE), every pair is introduced with
 * CLUSTER MEET (so no node waits for gossip), then waits until all agree.
 *
 * @param timeoutMs - budget for the whole join; exceeded, it throws with what was last seen
 */
export async function joinCluster(nodes: readonly JoinNode[], timeoutMs: number): Promise<void> {
  const clients = nodes.map(
    (node) =>
      new Redis({
        host: LOOPBACK,
        port: node.port,
        lazyConnect: true,
        maxRetriesPerRequest: 1,
        retryStrategy: () => null,
        enableReadyCheck: false,
      }),
  );
  try {
    await Promise.all(clients.map((client) => client.connect()));
    await Promise.all(
      clients.map(async (client, index) => {
        // Distinct epochs up front, as `redis-cli --cluster create` does, so nodes need not
        // resolve an epoch collision before they agree.
        await client.call('CLUSTER', 'SET-CONFIG-EPOCH', String(index + 1));
        const [first, last] = slotRange(index, nodes.length);
        await client.call('CLUSTER', 'ADDSLOTSRANGE', String(first), String(last));
      }),
    );
    const meets: Promise<unknown>[] = [];
    for (let i = 0; i < nodes.length; i++) {
      for (let j = i + 1; j < nodes.length; j++) {
        const other = nodes[j] as JoinNode;
        meets.push(
          (clients[i] as Redis).call(
            'CLUSTER',
            'MEET',
            LOOPBACK,
            String(other.port),
            String(other.busPort),
          ),
        );
      }
    }
    await Promise.all(meets);
    await waitForAgreement(clients, nodes, timeoutMs);
  } finally {
    for (const client of clients) client.disconnect();
  }
}

/** What one node says about the cluster. */
interface NodeView {
  readonly state: string;
  readonly knownNodes: number;
  readonly slotsAssigned: number;
  /** CLUSTER SLOTS normalized: `first-last@port`, sorted. */
  readonly slotMap: string;
}

async function viewOf(client: Redis): Promise<NodeView> {
  const [info, slots] = await Promise.all([
    client.call('CLUSTER', 'INFO') as Promise<string>,
    client.call('CLUSTER', 'SLOTS') as Promise<[number, number, [string, number, string]][]>,
  ]);
  const field = (name: string) => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1] ?? '';
  const slotMap = slots
    .map(([first, last, master]) => ({ first, text: `${first}-${last}@${master[0]}:${master[1]}` }))
    .sort((a, b) => a.first - b.first)
    .map((entry) => entry.text)
    .join(' ');
  return {
    state: field('cluster_state'),
    knownNodes: Number(field('cluster_known_nodes')),
    slotsAssigned: Number(field('cluster_slots_assigned')),
    slotMap,
  };
}

/** The slot map every node must report once the cluster is formed. */
function expectedSlotMap(nodes: readonly JoinNode[]): string {
  return nodes
    .map((node, index) => {
      const [first, last] = slotRange(index, nodes.length);
      return `${first}-${last}@${LOOPBACK}:${node.port}`;
    })
    .join(' ');
}

async function waitForAgreement(
  clients: readonly Redis[],
  nodes: readonly JoinNode[],
  timeoutMs: number,
): Promise<void> {
  const expected = expectedSlotMap(nodes);
  const deadline = performance.now() + timeoutMs;
  let views: NodeView[] = [];
  let lastError: unknown;
  for (;;) {
    try {
      views = await Promise.all(clients.map(viewOf));
      lastError = undefined;
      const agreed = views.every(
        (view) =>
          view.state === 'ok' &&
          view.knownNodes === nodes.length &&
          view.slotsAssigned === SLOT_COUNT &&
          view.slotMap === expected,
      );
      if (agreed) return;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const seen = views
    .map(
      (view, index) =>
        `node ${nodes[index]?.port}: cluster_state:${view.state}, known nodes ${view.knownNodes}, ` +
        `slots assigned ${view.slotsAssigned}, slot map [${view.slotMap}]`,
    )
    .join('; ');
  throw new Error(
    `the Redis Cluster did not form within ${timeoutMs} ms (expected every node to report ` +
      `cluster_state:ok and slot map [${expected}]); last seen: ${seen || 'nothing'}` +
      (lastError === undefined ? '' : `; last error: ${describeError(lastError)}`),
  );
}
