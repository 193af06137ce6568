/**
 * A small synthetic data set with a fixed seed: a few users, a few hundred card transactions over
 * 40 days as they reach the store in batches (with redelivered duplicates, late arrivals and ties
 * on the event time), profile rows, the (user, q) pairs the demo compares, 1,000 entity rows for
 * the training set, and the payments sent to the model server once everything has arrived.
 */

/** 2025-01-01T00:00:00Z. */
export const START = Date.UTC(2025, 0, 1);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** One transaction, as the producer sends it to `store.ingest` (a type alias: a plain record). */
export type TransactionEvent = {
  readonly user_id: string;
  readonly amount: number;
  readonly merchant: string | null;
  readonly is_refund: boolean;
  /** Event time, epoch ms. */
  readonly ts: number;
  readonly eventId: string;
};

/** Events that reach the store together, at `arrivedAt` (epoch ms). */
export interface Batch {
  readonly arrivedAt: number;
  readonly events: readonly TransactionEvent[];
}

/** One row of the user's own `user_profiles` table. */
export interface ProfileRow {
  readonly id: string;
  readonly country: string | null;
  readonly plan: string | null;
  /** Epoch ms; stored as `timestamptz`. */
  readonly updated_at: number;
}

/** An entity row: the features of `user_id` as of `q`, for a payment of `amount` (a plain record). */
export type QueryPair = {
  readonly user_id: string;
  readonly q: number;
  readonly amount: number;
};

/** A payment sent to the model server: `POST /ml/models/fraud/predict`. */
export type PaymentRequest = {
  readonly user_id: string;
  readonly amount: number;
};

/** The generated data set. */
export interface DemoData {
  /** The transactions in arrival order. */
  readonly batches: readonly Batch[];
  readonly profiles: readonly ProfileRow[];
  /** The pairs compared between SQL and TypeScript. */
  readonly pairs: readonly QueryPair[];
  /** 1,000 entity rows for the training set. */
  readonly trainingRows: readonly QueryPair[];
  /** When the model server answers (epoch ms): one minute after the last delivery arrived. */
  readonly serveAt: number;
  /** Payments scored over HTTP at `serveAt`, shown in the predictions table. */
  readonly payments: readonly PaymentRequest[];
  readonly stats: {
    readonly deliveries: number;
    readonly redelivered: number;
    readonly late: number;
    readonly ties: number;
  };
}

/** mulberry32: a tiny deterministic PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MERCHANTS = [
  'amazon',
  'bakery_42',
  'cinema_city',
  'coffee_lab',
  'fuel_stop',
  'gym_pass',
  'hardware_hub',
  'metro',
  'pharmacy',
  'supermart',
  'taxi_now',
  'wine_cellar',
];

/** Users, how many transactions each makes, and the days they are active. */
const USERS = [
  { id: 'u1', events: 120, from: 0, to: 40 },
  { id: 'u2', events: 90, from: 0, to: 40 },
  { id: 'u3', events: 50, from: 0, to: 20 },
  { id: 'u4', events: 30, from: 0, to: 12 },
] as const;

/** Generates the data set; the same seed always gives the same data. */
export function generateData(seed = 42): DemoData {
  const random = prng(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const cents = (x: number) => Math.round(x * 100) / 100;

  const deliveries: { arrivedAt: number; event: TransactionEvent }[] = [];
  let nextId = 1;
  const newId = () => `tx-${String(nextId++).padStart(4, '0')}`;
  let late = 0;
  let ties = 0;
  let redelivered = 0;

  for (const u of USERS) {
    const favourites = [pick(MERCHANTS), pick(MERCHANTS), pick(MERCHANTS)];
    for (let i = 0; i < u.events; i++) {
      const ts = START + u.from * DAY + Math.floor(random() * (u.to - u.from) * DAY);
      const isRefund = random() < 0.05;
      // Log-normal-ish amounts in cents: mostly small, a few large.
      const amount = cents(Math.exp(2.5 + 1.1 * (random() + random() + random() - 1.5)));
      const merchant = random() < 0.03 ? null : random() < 0.7 ? pick(favourites) : pick(MERCHANTS);
      let arrivedAt = ts + Math.floor(random() * 5 * MINUTE);
      if (random() < 0.05) {
        arrivedAt = ts + DAY + Math.floor(random() * 2 * DAY); // arrives one to three days late
        late++;
      }
      const event: TransactionEvent = {
        user_id: u.id,
        amount,
        merchant,
        is_refund: isRefund,
        ts,
        eventId: newId(),
      };
      deliveries.push({ arrivedAt, event });
      if (random() < 0.04) {
        // The producer retried: the same event delivered again, a little later.
        deliveries.push({ arrivedAt: arrivedAt + 1 + Math.floor(random() * HOUR), event });
        redelivered++;
      }
      if (random() < 0.02) {
        // Another event at the very same millisecond, in the same batch: ties break on event id.
        deliveries.push({
          arrivedAt,
          event: {
            ...event,
            eventId: newId(),
            merchant: pick(MERCHANTS),
            amount: cents(amount / 2),
          },
        });
        ties++;
      }
    }
  }

  // Planted for the first query (u1 as of day 38 12:34:56.789): an event three hours before q that
  // reaches the store two hours after q, so it must not count as of q.
  const q1 = START + 38 * DAY + 12 * HOUR + 34 * MINUTE + 56_789;
  deliveries.push({
    arrivedAt: q1 + 2 * HOUR,
    event: {
      user_id: 'u1',
      amount: 999.99,
      merchant: 'wine_cellar',
      is_refund: false,
      ts: q1 - 3 * HOUR,
      eventId: newId(),
    },
  });
  late++;

  // One batch per arrival time, in arrival order.
  const batches = new Map<number, TransactionEvent[]>();
  for (const d of deliveries.sort((a, b) => a.arrivedAt - b.arrivedAt)) {
    const batch = batches.get(d.arrivedAt) ?? [];
    batch.push(d.event);
    batches.set(d.arrivedAt, batch);
  }

  const profiles: ProfileRow[] = [
    { id: 'u1', country: 'DE', plan: 'basic', updated_at: START },
    { id: 'u1', country: 'FR', plan: 'pro', updated_at: START + 25 * DAY + 9 * HOUR },
    { id: 'u1', country: 'ES', plan: 'pro', updated_at: START + 39 * DAY }, // after q: invisible
    { id: 'u2', country: 'US', plan: null, updated_at: START + 15 * DAY }, // plan null: the default
    { id: 'u3', country: 'NL', plan: 'pro', updated_at: START + 2 * DAY }, // older than the ttl
    { id: 'u4', country: 'PL', plan: 'basic', updated_at: START + DAY + 30 * MINUTE },
  ];

  const pairs: QueryPair[] = [
    { user_id: 'u1', q: q1, amount: 250 },
    { user_id: 'u2', q: START + 40 * DAY, amount: 12.5 }, // q on a hop boundary
    { user_id: 'u3', q: START + 36 * DAY + 8 * HOUR, amount: 80 }, // inactive since day 20
    { user_id: 'u5', q: START + 39 * DAY, amount: 60 }, // a user with no data at all
  ];

  const trainingRows = Array.from({ length: 1000 }, () => ({
    user_id: pick(['u1', 'u2', 'u3', 'u4', 'u5']),
    q: START + Math.floor(random() * 41 * DAY),
    amount: cents(Math.exp(random() * 7)), // 1 to 1,100, log-uniform
  }));

  const lastArrival = Math.max(...batches.keys());
  const serveAt = (Math.floor(lastArrival / MINUTE) + 1) * MINUTE;
  const payments: PaymentRequest[] = [
    { user_id: 'u1', amount: 14.9 },
    { user_id: 'u1', amount: 480 },
    { user_id: 'u2', amount: 9.5 },
    { user_id: 'u2', amount: 140 },
    { user_id: 'u3', amount: 35 },
    { user_id: 'u4', amount: 220 },
    { user_id: 'u5', amount: 60 }, // never seen: the fallback answers
  ];

  return {
    batches: [...batches].map(([arrivedAt, events]) => ({ arrivedAt, events })),
    profiles,
    pairs,
    trainingRows,
    serveAt,
    payments,
    stats: { deliveries: deliveries.length, redelivered, late, ties },
  };
}
