/** Benchmark settings, from the environment. */
export interface BenchConfig {
  /** Postgres connection string. */
  readonly url: string;
  /** Multiplies every size (events, users, entity rows); 1 is the full benchmark. */
  readonly scale: number;
  /** Repetitions of each measurement; the median is reported. */
  readonly runs: number;
  /** Seed of every generated value. */
  readonly seed: number;
  /** Schema the benchmark creates and drops. */
  readonly schema: string;
}

function numberFrom(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

/** Reads the configuration: DATABASE_URL, BENCH_SCALE, BENCH_RUNS, BENCH_SEED. */
export function readConfig(): BenchConfig {
  return {
    url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    scale: numberFrom('BENCH_SCALE', 1),
    runs: Math.round(numberFrom('BENCH_RUNS', 3)),
    seed: Math.round(numberFrom('BENCH_SEED', 42)),
    schema: 'tandem_bench',
  };
}

/** `n * scale`, at least 1. */
export function scaled(n: number, scale: number): number {
  return Math.max(1, Math.round(n * scale));
}
