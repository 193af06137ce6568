/**
 * One benchmark server, run in its own process (`fork`): the hand-written handler or Tandem's
 * middleware, configured by the JSON in `BENCH_SERVING_SERVER` ({@link ServerConfig}). It answers
 * the parent with `{ port }` once it listens, and exits when the parent disconnects.
 */
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { Session } from 'node:inspector';
import type { AddressInfo } from 'node:net';
import { createOnlineStore, redisAdapter } from '@tandem/feature-store';
import {
  type FeatureReader,
  ModelRegistry,
  middleware,
  type OnlineFeatureRow,
} from '@tandem/serving';
import express from 'express';
import { Redis } from 'ioredis';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { FEATURE_NAMES, servingBenchService } from './features.js';

/** The servers compared. */
export type Variant =
  /** Express + express.json + ioredis HMGET of 20 fields + onnxruntime-node, written by hand. */
  | 'handwritten'
  /** `middleware()` with its defaults, reading Tandem's online store on Redis. */
  | 'middleware'
  /** `middleware()` with its defaults, reading the hand-written handler's hashes (HMGET). */
  | 'middleware-hmget'
  /** `middleware()` reading Tandem's online store, batching off (feature reads and model runs). */
  | 'middleware-nobatch';

/** What the parent passes. */
export interface ServerConfig {
  readonly variant: Variant;
  readonly redisUrl: string;
  readonly namespace: string;
  readonly hashPrefix: string;
  /** The time Tandem's store reads as of (the data's), epoch ms. */
  readonly now: number;
  /** The ONNX model, base64. */
  readonly model: string;
}

/** The path each variant answers on. */
export function predictPath(variant: Variant): string {
  return variant === 'handwritten' ? '/predict' : '/ml/models/fraud/predict';
}

const config = JSON.parse(process.env.BENCH_SERVING_SERVER ?? 'null') as ServerConfig | null;
if (config !== null) {
  const app = await build(config);
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  server.keepAliveTimeout = 60_000;
  process.on('message', (message) => void profiler(message as ProfileMessage));
  process.send?.({ port: (server.address() as AddressInfo).port });
  process.on('disconnect', () => process.exit(0));
}

/** Asks a server to start its CPU profiler, or to stop it and write the profile to `path`. */
export type ProfileMessage =
  | { readonly profile: 'start' }
  | { readonly profile: 'stop'; readonly path: string };

let session: Session | undefined;
/** CPU profiling on demand (node:inspector), so the profile covers the load run only. */
async function profiler(message: ProfileMessage): Promise<void> {
  const post = <T>(method: string, params?: object) =>
    new Promise<T>((resolve, reject) =>
      session!.post(method, params ?? {}, (error, result) =>
        error ? reject(error) : resolve(result as T),
      ),
    );
  if (message.profile === 'start') {
    session = new Session();
    session.connect();
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 100 });
    await post('Profiler.start');
    process.send?.({ profile: 'started' });
  } else if (session !== undefined) {
    const { profile } = await post<{ profile: unknown }>('Profiler.stop');
    writeFileSync(message.path, JSON.stringify(profile));
    session.disconnect();
    session = undefined;
    process.send?.({ profile: 'written' });
  }
}

async function build(config: ServerConfig): Promise<express.Express> {
  const bytes = Buffer.from(config.model, 'base64');
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 2 });
  const app = express();
  if (config.variant === 'handwritten') {
    // The hand-written minimal server: what a team writes without Tandem.
    const session = await InferenceSession.create(bytes, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    });
    const width = FEATURE_NAMES.length;
    app.post('/predict', express.json(), async (req, res) => {
      try {
        const id = (req.body as { account_id?: unknown } | undefined)?.account_id;
        if (typeof id !== 'string') {
          res.status(400).json({ error: 'account_id must be a string' });
          return;
        }
        const values = await redis.hmget(`${config.hashPrefix}${id}`, ...FEATURE_NAMES);
        const data = new Float32Array(width);
        for (let j = 0; j < width; j++) {
          const v = values[j];
          data[j] = v === null || v === undefined || v === '' ? Number.NaN : Number(v);
        }
        const out = await session.run({ features: new Tensor('float32', data, [1, width]) });
        const probability = (out.probability!.data as Float32Array)[0]!;
        res.json({ prediction: { probability }, model: { name: 'fraud', version: '1' } });
      } catch (error) {
        res.status(500).json({ error: String(error) });
      }
    });
    return app;
  }

  const models = new ModelRegistry();
  await models.load({
    name: 'fraud',
    version: '1',
    bytes,
    service: servingBenchService,
    ...(config.variant === 'middleware-nobatch' ? { batching: false as const } : {}),
  });
  const store: FeatureReader =
    config.variant === 'middleware-hmget'
      ? hmgetReader(redis, config.hashPrefix)
      : createOnlineStore({
          adapter: redisAdapter({ client: redis }),
          features: [servingBenchService],
          namespace: config.namespace,
          allowedLateness: '31d',
          // Frozen at the data's time: the values stay equal to the hashes' (windows would
          // otherwise slide during the run). Costs the same as a read as of now.
          clock: () => config.now,
        });
  // Defaults, except the logs: the benchmark counts failed answers, it does not print them.
  app.use(
    '/ml',
    middleware({
      store,
      models,
      logging: { level: 'silent' },
      ...(config.variant === 'middleware-nobatch' ? { featureBatching: false as const } : {}),
    }),
  );
  return app;
}

/**
 * A feature reader over the hand-written handler's hashes: one HMGET per entity; the entities of
 * a batched read go in one pipeline (one round trip, as `FeatureReader` asks).
 */
function hmgetReader(redis: Redis, prefix: string): FeatureReader {
  return {
    async getOnlineFeatures(request) {
      const only = request.entities.length === 1 ? request.entities[0]! : undefined;
      if (only !== undefined) {
        const raw = await redis.hmget(`${prefix}${String(only.account_id)}`, ...FEATURE_NAMES);
        return [rowOf(only, raw)];
      }
      const pipeline = redis.pipeline();
      for (const entity of request.entities) {
        pipeline.hmget(`${prefix}${String(entity.account_id)}`, ...FEATURE_NAMES);
      }
      const replies = (await pipeline.exec()) ?? [];
      return request.entities.map((entity, i): OnlineFeatureRow => {
        const [error, raw] = replies[i] ?? [new Error('no reply')];
        if (error) throw error;
        return rowOf(entity, raw as (string | null)[]);
      });
    },
  };
}

/** One entity's row from its HMGET reply (an empty or absent field is missing). */
function rowOf(
  entity: OnlineFeatureRow['entity'],
  fields: readonly (string | null)[],
): OnlineFeatureRow {
  const values: Record<string, OnlineFeatureRow['values'][string]> = {};
  for (let j = 0; j < FEATURE_NAMES.length; j++) {
    const v = fields[j];
    values[FEATURE_NAMES[j]!] =
      v === null || v === undefined || v === ''
        ? { value: null, status: 'missing', freshnessMs: null }
        : { value: Number(v), status: 'present', freshnessMs: null };
  }
  return { entity, values };
}
