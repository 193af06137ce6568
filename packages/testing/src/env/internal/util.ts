/**
 * Small helpers shared by the resolvers. Internal: not exported from the package.
 */

/** Default budget for "does this service answer?" probes. */
export const PROBE_TIMEOUT_MS = 1000;

/**
 * Resolves or rejects like `promise`, but rejects with `timed out after <ms> ms` when it takes
 * longer. The timer never keeps the process alive. The caller must clean up whatever `promise`
 * was doing.
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The message of an error (or of anything thrown), with its code when it has one. */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return describeError(error.errors[0]);
  }
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const message = error.message || error.name;
    return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  }
  return String(error);
}

/** `url` with any password replaced by `***`, so it can go into logs and error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.href;
  } catch {
    return '<unparseable URL>';
  }
}

const noticed = new Set<string>();

/** Writes `[@tandem/testing] <message>` to stderr the first time `key` is seen in this process. */
export function noticeOnce(key: string, message: string): void {
  if (noticed.has(key)) return;
  noticed.add(key);
  console.warn(`[@tandem/testing] ${message}`);
}

/** Forgets which notices were written (see `resetTestEnvironment`). */
export function forgetNotices(): void {
  noticed.clear();
}

/**
 * Budget for probing a service that was configured explicitly (`DATABASE_URL`, `REDIS_URL`),
 * which may be remote or use TLS.
 */
export const CONFIGURED_PROBE_TIMEOUT_MS = 3000;

/** Environment variables, as in `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>;
