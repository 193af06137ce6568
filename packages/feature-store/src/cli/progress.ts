import cliProgress from 'cli-progress';

/** Progress of one long step. */
export interface Progress {
  /** Adds `amount` (default 1) to the done count. */
  increment(amount?: number): void;
  /** Ends the step: the bar is completed, or a last log line is written. */
  stop(): void;
}

/** How often plain log lines are written when stderr is not a terminal. */
const LOG_EVERY_MS = 5_000;

/**
 * Reports progress on `stream` (stderr): a cli-progress bar when it is a terminal, else a plain
 * line every 5 s and one at the end (logs stay readable in CI). `detail`, when given, adds a text
 * of its own to the bar and the lines (a rate, say).
 */
export function startProgress(
  label: string,
  total: number,
  unit: string,
  stream: NodeJS.WriteStream = process.stderr,
  detail?: () => string,
): Progress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${label} [{bar}] {percentage}% | {value}/{total} ${unit}${detail === undefined ? '' : ' | {detail}'} | {duration_formatted} elapsed, ETA {eta_formatted}`,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { detail: detail?.() ?? '' });
    return {
      increment: (amount = 1) => bar.increment(amount, { detail: detail?.() ?? '' }),
      stop: () => bar.stop(),
    };
  }
  const started = Date.now();
  let done = 0;
  let logged = started;
  const line = () => {
    const percent = total > 0 ? ` (${Math.floor((done / total) * 100)}%)` : '';
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const extra = detail === undefined ? '' : `, ${detail()}`;
    stream.write(`${label}: ${done}/${total} ${unit}${percent}${extra}, ${seconds} s\n`);
  };
  return {
    increment(amount = 1) {
      done += amount;
      if (Date.now() - logged >= LOG_EVERY_MS) {
        logged = Date.now();
        line();
      }
    },
    stop: line,
  };
}
