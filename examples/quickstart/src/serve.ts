/**
 * The model server: an Express app with Tandem's middleware mounted on `/ml`, listening on a local
 * port, and a small keep-alive HTTP client that times each call.
 */
import { Agent, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OnlineStore } from '@tandem/feature-store';
import { type ModelRegistry, middleware, type TandemRouter, thresholdLabel } from '@tandem/serving';
import express from 'express';

/** A running model server. */
export interface ModelServer {
  /** `http://127.0.0.1:<port>/ml`. */
  readonly url: string;
  /** The middleware's router (its predictor holds the metrics). */
  readonly router: TandemRouter;
  /** Stops listening and closes idle connections. */
  close(): Promise<void>;
}

/**
 * Serves the models of `models` on the features of `store`: the fraud model answers
 * `{ score, label }` (label `fraud` above 0.5), and an entity the store has never seen gets a
 * flagged default answer instead of a 404.
 */
export async function startModelServer(
  store: OnlineStore,
  models: ModelRegistry,
): Promise<ModelServer> {
  const router = middleware({
    store,
    models,
    fallback: { prediction: { score: null, label: 'review' } },
    perModel: {
      fraud: { postProcess: thresholdLabel({ threshold: 0.5, labels: ['legit', 'fraud'] }) },
    },
    logging: { level: 'silent' },
  });
  const app = express();
  app.use('/ml', router);
  const server = await new Promise<Server>((resolve, reject) => {
    const listening = app.listen(0, '127.0.0.1', (error?: Error) =>
      error === undefined ? resolve(listening) : reject(error),
    );
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/ml`,
    router,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeIdleConnections();
      }),
  };
}

/** One timed HTTP call. */
export interface HttpResult {
  readonly status: number;
  readonly body: unknown;
  /** Wall time from sending the request to the last byte of the answer, ms. */
  readonly ms: number;
}

/** A keep-alive JSON client (one connection per concurrent caller, like a service's pool). */
export interface JsonClient {
  post(url: string, body: unknown): Promise<HttpResult>;
  close(): void;
}

/** Creates a {@link JsonClient}. */
export function jsonClient(): JsonClient {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  return {
    post(url, body) {
      const payload = JSON.stringify(body);
      return new Promise<HttpResult>((resolve, reject) => {
        const started = performance.now();
        const req = httpRequest(
          url,
          {
            method: 'POST',
            agent,
            headers: {
              'content-type': 'application/json',
              'content-length': Buffer.byteLength(payload),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('error', reject);
            res.on('end', () => {
              const ms = performance.now() - started;
              const text = Buffer.concat(chunks).toString('utf8');
              try {
                resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), ms });
              } catch {
                resolve({ status: res.statusCode ?? 0, body: text, ms });
              }
            });
          },
        );
        req.on('error', reject);
        req.end(payload);
      });
    },
    close: () => agent.destroy(),
  };
}

/** Latency summary of a series of calls. */
export interface LatencySummary {
  readonly calls: number;
  /** Concurrent callers. */
  readonly concurrency: number;
  /** Calls answered 200. */
  readonly ok: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Calls per second over the whole series. */
  readonly perSecond: number;
}

/**
 * Sends `calls` requests from `concurrency` callers, each waiting for its answer before the next
 * (`body(i)` gives the i-th request), and summarizes their latencies.
 */
export async function measureLatency(
  client: JsonClient,
  url: string,
  calls: number,
  concurrency: number,
  body: (i: number) => unknown,
): Promise<LatencySummary> {
  const latencies: number[] = [];
  let ok = 0;
  let next = 0;
  const started = performance.now();
  const caller = async () => {
    while (next < calls) {
      const i = next++;
      const result = await client.post(url, body(i));
      latencies.push(result.ms);
      if (result.status === 200) ok++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  const elapsed = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return {
    calls,
    concurrency,
    ok,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    maxMs: latencies[latencies.length - 1] ?? 0,
    perSecond: (calls / elapsed) * 1000,
  };
}

/** The nearest-rank quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}
