import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createServingLogger, REDACTED, redactionPaths, redactRecord } from './logger.js';

function sink() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      callback();
    },
  });
  return { lines, stream };
}

describe('serving logger', () => {
  it('redacts configured PII fields wherever a request, entity or body is logged', () => {
    const { lines, stream } = sink();
    const logger = createServingLogger({ redact: ['email', 'card.number'], destination: stream });
    logger.info(
      {
        request: { user_id: 'u1', email: 'a@b.c', card: { number: '4111', brand: 'visa' } },
        email: 'x@y.z',
      },
      'prediction',
    );
    expect(lines[0]).toMatchObject({
      component: 'tandem-serving',
      msg: 'prediction',
      email: REDACTED,
      request: { user_id: 'u1', email: REDACTED, card: { number: REDACTED, brand: 'visa' } },
    });
  });

  it('derives a child from the host app logger, with redaction', () => {
    const { lines, stream } = sink();
    const host = pino({ base: { app: 'shop' } }, stream);
    const logger = createServingLogger({ logger: host, redact: ['email'] });
    logger.warn({ entity: { email: 'a@b.c' } }, 'hello');
    expect(lines[0]).toMatchObject({
      app: 'shop',
      component: 'tandem-serving',
      entity: { email: REDACTED },
    });
  });

  it('builds pino paths and redacts plain records without changing the input', () => {
    expect(redactionPaths(['my-field'])).toContain('request["my-field"]');
    const input = { a: 1, email: 'e', nested: { secret: 's' } };
    const out = redactRecord(input, ['email', 'nested.secret', 'absent.deep']);
    expect(out).toEqual({ a: 1, email: REDACTED, nested: { secret: REDACTED } });
    expect(input.email).toBe('e');
    expect(redactRecord(input, [])).toBe(input);
  });
});
