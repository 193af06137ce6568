import { TandemError } from '@tandem/core';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  errorBody,
  HTTP_STATUS,
  httpErrorOf,
  issuePaths,
  ServingError,
  type ServingErrorCode,
  toServingError,
} from './errors.js';

describe('serving errors', () => {
  it('maps every code to one HTTP status', () => {
    const statuses = Object.entries(HTTP_STATUS) as [ServingErrorCode, number][];
    for (const [code, status] of statuses) {
      expect(new ServingError(code, 'x').status).toBe(status);
      expect(status).toBeGreaterThanOrEqual(400);
      expect(status).toBeLessThan(600);
    }
    expect(HTTP_STATUS.INVALID_REQUEST).toBe(400);
    expect(HTTP_STATUS.UNAUTHENTICATED).toBe(401);
    expect(HTTP_STATUS.FORBIDDEN).toBe(403);
    expect(HTTP_STATUS.UNKNOWN_MODEL).toBe(404);
    expect(HTTP_STATUS.PAYLOAD_TOO_LARGE).toBe(413);
    expect(HTTP_STATUS.OVERLOADED).toBe(429);
    expect(HTTP_STATUS.CIRCUIT_OPEN).toBe(503);
    expect(HTTP_STATUS.DEADLINE_EXCEEDED).toBe(504);
  });

  it('builds the body { error, code, issues? } and Retry-After', () => {
    const invalid = new ServingError('INVALID_REQUEST', 'bad request', { issues: ['user_id'] });
    expect(errorBody(invalid)).toEqual({
      error: 'bad request',
      code: 'INVALID_REQUEST',
      issues: ['user_id'],
    });
    expect(errorBody(new ServingError('UNKNOWN_MODEL', 'no model'))).toEqual({
      error: 'no model',
      code: 'UNKNOWN_MODEL',
    });
    const busy = httpErrorOf(new ServingError('OVERLOADED', 'busy', { retryAfterSeconds: 1.2 }));
    expect(busy.status).toBe(429);
    expect(busy.headers).toEqual({ 'Retry-After': '2' });
  });

  it('maps TandemErrors, body-parser errors and unknown errors', () => {
    const tandem = toServingError(
      new TandemError('TYPE_MISMATCH', 'not a number', { path: 'amount' }),
    );
    expect(tandem.code).toBe('INVALID_REQUEST');
    expect(tandem.issues).toEqual(['amount']);
    expect(
      toServingError(Object.assign(new Error('x'), { type: 'entity.parse.failed' })).code,
    ).toBe('MALFORMED_JSON');
    const large = toServingError(
      Object.assign(new Error('x'), { type: 'entity.too.large', limit: 10 }),
    );
    expect(large.code).toBe('PAYLOAD_TOO_LARGE');
    expect(large.message).toMatch(/10 bytes/);
    const internal = httpErrorOf(new Error('secret detail'));
    expect(internal.status).toBe(500);
    expect(internal.body).toEqual({ error: 'internal error', code: 'INTERNAL' });
    expect(toServingError(new TandemError('INVALID_DEFINITION', 'x')).code).toBe('INTERNAL');
  });

  it('turns zod issues into dotted field paths', () => {
    const schema = z.object({
      user_id: z.string(),
      nested: z.object({ list: z.array(z.number()) }),
    });
    const result = schema.safeParse({ nested: { list: [1, 'x'] } });
    expect(result.success).toBe(false);
    expect(issuePaths(result.error!.issues)).toEqual(['user_id', 'nested.list.1']);
    expect(issuePaths([{ path: [] }])).toEqual(['(root)']);
    const strict = z.object({ a: z.number() }).strict().safeParse({ a: 1, b: 2, c: 3 });
    expect(issuePaths(strict.error!.issues)).toEqual(['b', 'c']);
  });
});
