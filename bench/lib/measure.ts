import type pg from 'pg';

/** One timed measurement. */
export interface Run {
  /** Wall time, ms. */
  readonly ms: number;
  /** Rows delivered to the sink. */
  readonly rows: number;
  /** Resident set size when the run started, bytes. */
  readonly rssStart: number;
  /** Highest resident set size seen during the run (sampled every 10k rows), bytes. */
  readonly rssPeak: number;
  /** Resident set size after each further 10% of `expected` rows, bytes (flat memory shows here). */
  readonly rssByTenth: readonly number[];
}

/** Median and spread of repeated runs. */
export interface Summary {
  /** Median wall time, ms. */
  readonly ms: number;
  /** Every run's wall time, ms, in order. */
  readonly runsMs: readonly number[];
  /** Rows of the median run. */
  readonly rows: number;
  /** `rows / ms * 1000` of the median. */
  readonly rowsPerSecond: number;
  /** Highest RSS growth over the run's start, MB, across runs. */
  readonly rssGrowthMb: number;
  /** Highest RSS seen, MB. */
  readonly rssPeakMb: number;
  /** RSS after each further 10% of the rows of the median run, MB. */
  readonly rssMbByTenth: readonly number[];
}

const MB = 2 ** 20;

/**
 * Counts rows and samples RSS; `row()` is called once per delivered row, `expected` rows in all
 * (for the per-tenth samples).
 */
export function sink(expected = 0): { row(): void; done(ms: number): Run } {
  const rssStart = process.memoryUsage.rss();
  const tenth = Math.max(1, Math.floor(expected / 10));
  const rssByTenth: number[] = [];
  let rssPeak = rssStart;
  let rows = 0;
  return {
    row() {
      rows += 1;
      if (rows % 10_000 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
      if (expected > 0 && rows % tenth === 0 && rssByTenth.length < 10) {
        rssByTenth.push(process.memoryUsage.rss());
      }
    },
    done(ms) {
      rssPeak = Math.max(rssPeak, process.memoryUsage.rss());
      return { ms, rows, rssStart, rssPeak, rssByTenth };
    },
  };
}

/** The median run and the spread. */
export function summarize(runs: readonly Run[]): Summary {
  const sorted = [...runs].sort((a, b) => a.ms - b.ms);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return {
    ms: Math.round(median.ms),
    runsMs: runs.map((r) => Math.round(r.ms)),
    rows: median.rows,
    rowsPerSecond: Math.round((median.rows / median.ms) * 1000),
    rssGrowthMb: Math.round(Math.max(...runs.map((r) => r.rssPeak - r.rssStart)) / MB),
    rssPeakMb: Math.round(Math.max(...runs.map((r) => r.rssPeak)) / MB),
    rssMbByTenth: median.rssByTenth.map((b) => Math.round(b / MB)),
  };
}

/**
 * Runs a query on a connection of its own and streams its rows through a cursor, `fetch` rows at
 * a time, to `onRow` (never holding the whole result).
 */
export async function streamQuery(
  pool: pg.Pool,
  text: string,
  onRow: (row: Record<string, unknown>) => void,
  fetch = 10_000,
): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`DECLARE bench_cursor NO SCROLL CURSOR FOR ${text}`);
    for (;;) {
      const page = await client.query(`FETCH ${fetch} FROM bench_cursor`);
      for (const row of page.rows) onRow(row);
      if (page.rows.length < fetch) break;
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

/** Times `work` (which feeds the given sink, `expected` rows) once. */
export async function timed(
  work: (s: ReturnType<typeof sink>) => Promise<void>,
  expected = 0,
): Promise<Run> {
  const s = sink(expected);
  const start = performance.now();
  await work(s);
  return s.done(performance.now() - start);
}
