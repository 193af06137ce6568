/**
 * One load run with autocannon: `connections` keep-alive connections, each sending the next
 * request as soon as the previous one is answered (closed loop), for `seconds`. Latencies are
 * taken from every response at full resolution (autocannon's own histogram keeps whole
 * milliseconds), so p50 / p99 below a millisecond are exact.
 */
import autocannon from 'autocannon';

/** What one run measured. */
export interface LoadRun {
  readonly connections: number;
  readonly seconds: number;
  /** Responses per second (2xx only). */
  readonly rps: number;
  readonly requests: number;
  /** Responses other than 2xx, and socket errors and timeouts. */
  readonly non2xx: number;
  readonly errors: number;
  /** Latency quantiles of 2xx responses, ms. */
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly meanMs: number;
  /** 1-minute load average of the machine when the run ended. */
  readonly loadAvg: number;
}

/** Options of {@link runLoad}. */
export interface LoadOptions {
  readonly url: string;
  /** Path of the predict endpoint. */
  readonly path: string;
  /** JSON bodies, sent in turn on each connection. */
  readonly bodies: readonly string[];
  readonly connections: number;
  readonly seconds: number;
}

/** Runs autocannon once and summarizes the run. */
export async function runLoad(options: LoadOptions): Promise<LoadRun> {
  const latencies: number[] = [];
  let ok = 0;
  let non2xx = 0;
  let instance: autocannon.Instance | undefined;
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.seconds,
        pipelining: 1,
        timeout: 10,
        requests: options.bodies.map((body) => ({
          method: 'POST' as const,
          path: options.path,
          headers: { 'content-type': 'application/json' },
          body,
        })),
      },
      (error, result) => (error ? reject(error) : resolve(result)),
    );
  });
  instance!.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) {
      ok++;
      latencies.push(responseTime);
    } else non2xx++;
  });
  const result = await finished;
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies.length === 0
      ? Number.NaN
      : latencies[Math.min(latencies.length - 1, Math.ceil(p * latencies.length) - 1)]!;
  const elapsed = result.duration > 0 ? result.duration : options.seconds;
  const { loadavg } = await import('node:os');
  return {
    connections: options.connections,
    seconds: elapsed,
    rps: ok / elapsed,
    requests: ok,
    non2xx,
    errors: result.errors + result.timeouts,
    p50Ms: q(0.5),
    p90Ms: q(0.9),
    p99Ms: q(0.99),
    maxMs: latencies[latencies.length - 1] ?? Number.NaN,
    meanMs: latencies.reduce((s, x) => s + x, 0) / Math.max(1, latencies.length),
    loadAvg: loadavg()[0]!,
  };
}
