import { type Logger, pino } from 'pino';

/** Options of {@link createServingLogger}. */
export interface ServingLoggerOptions {
  /** A pino logger of the host app to derive from (a child is made); default a new one. */
  readonly logger?: Logger;
  /** Level of a new logger; default `info`. */
  readonly level?: string;
  /**
   * Request fields holding personal data (`email`, `card.number`): redacted in logs (as
   * `request.<field>`, `entity.<field>` and the bare path) and in prediction logs.
   */
  readonly redact?: readonly string[];
  /** Where a new logger writes; default stdout. */
  readonly destination?: NodeJS.WritableStream;
}

/** The censor that replaces redacted values. */
export const REDACTED = '[REDACTED]';

/**
 * A pino logger for the serving layer (`component: "tandem-serving"`), with the configured PII
 * fields redacted wherever a request, entity or body is logged.
 */
export function createServingLogger(options: ServingLoggerOptions = {}): Logger {
  const fields = options.redact ?? [];
  const paths = redactionPaths(fields);
  if (options.logger !== undefined) {
    // pino can only set redaction at creation; a child gets its own through `redact`.
    return options.logger.child(
      { component: 'tandem-serving' },
      paths.length === 0 ? {} : { redact: { paths, censor: REDACTED } },
    );
  }
  const base = pino(
    {
      level: options.level ?? 'info',
      base: { component: 'tandem-serving' },
      ...(paths.length === 0 ? {} : { redact: { paths, censor: REDACTED } }),
    },
    options.destination as pino.DestinationStream | undefined,
  );
  return base;
}

/** The pino redaction paths of PII fields: bare and under `request`, `entity`, `body`, `req.body`. */
export function redactionPaths(fields: readonly string[]): string[] {
  const paths = new Set<string>();
  for (const field of fields) {
    const path = field
      .split('.')
      .map((part) => (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(part) ? part : `["${part}"]`))
      .join('.')
      .replace(/\.\[/g, '[');
    for (const scope of ['', 'request', 'entity', 'body', 'req.body', 'features']) {
      paths.add(scope === '' || path.startsWith('[') ? scope + path : `${scope}.${path}`);
    }
  }
  return [...paths];
}

/**
 * A copy of `record` with the PII fields (dotted paths) replaced by {@link REDACTED}; the input
 * is not changed. Used for prediction logs.
 */
export function redactRecord<T>(record: T, fields: readonly string[]): T {
  if (fields.length === 0 || record === null || typeof record !== 'object') return record;
  const copy = structuredClone(record) as Record<string, unknown>;
  for (const field of fields) {
    const parts = field.split('.');
    let target: unknown = copy;
    for (let i = 0; i < parts.length - 1 && target !== null && typeof target === 'object'; i++) {
      target = (target as Record<string, unknown>)[parts[i]!];
    }
    const last = parts[parts.length - 1]!;
    if (target !== null && typeof target === 'object' && Object.hasOwn(target, last)) {
      (target as Record<string, unknown>)[last] = REDACTED;
    }
  }
  return copy as T;
}
