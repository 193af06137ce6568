import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runCli } from '../src/cli/cli.js';

/** The `tandem` bin of this package. */
export const TANDEM_BIN = fileURLToPath(new URL('../bin/tandem.js', import.meta.url));
/** The repository root: the working directory of bin runs. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** What one CLI run printed and returned. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real `tandem` bin in a child process, from the repository root. */
export function tandem(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [TANDEM_BIN, ...args],
      { env: { ...process.env, ...env }, cwd: REPO_ROOT },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
      },
    );
  });
}

/** Runs the CLI in this process, capturing what it prints. */
export async function inProcess(argv: readonly string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (text: string) => void) =>
    new Writable({
      write(chunk, _encoding, done) {
        append(String(chunk));
        done();
      },
    });
  const code = await runCli(argv, {
    stdout: sink((t) => {
      stdout += t;
    }),
    stderr: sink((t) => {
      stderr += t;
    }),
  });
  return { code, stdout, stderr };
}
