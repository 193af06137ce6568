import { describe, expect, it } from 'vitest';
import { isServingError } from '../errors/errors.js';
import { type AuthRequest, apiKeyAuth, authenticate, authHookFor, verifierAuth } from './auth.js';

const request = (headers: Record<string, string>): AuthRequest => ({
  headers,
  method: 'POST',
  path: '/models/fraud/predict',
});
const fraud = { model: 'fraud', action: 'predict' } as const;
const churn = { model: 'churn', action: 'predict' } as const;

async function codeOf(work: Promise<unknown>): Promise<string | undefined> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  return isServingError(error) ? `${error.code}:${error.status}` : undefined;
}

describe('auth', () => {
  const keys = apiKeyAuth({
    keys: [
      { id: 'checkout', key: 'checkout-secret-1', models: ['fraud'] },
      { id: 'admin', key: 'admin-secret-12' },
    ],
  });

  it('API keys: 401 without or with an unknown key, 403 for another model, principal otherwise', async () => {
    expect(await codeOf(authenticate(keys, request({}), fraud))).toBe('UNAUTHENTICATED:401');
    expect(
      await codeOf(authenticate(keys, request({ 'x-api-key': 'nope-nope-nope' }), fraud)),
    ).toBe('UNAUTHENTICATED:401');
    expect(
      await codeOf(authenticate(keys, request({ 'x-api-key': 'checkout-secret-1' }), churn)),
    ).toBe('FORBIDDEN:403');
    await expect(
      authenticate(keys, request({ 'x-api-key': 'checkout-secret-1' }), fraud),
    ).resolves.toEqual({ id: 'checkout' });
    await expect(
      authenticate(keys, request({ authorization: 'Bearer admin-secret-12' }), churn),
    ).resolves.toEqual({ id: 'admin' });
  });

  it('custom verifier: 401 when missing or refused, 403 when not authorized', async () => {
    const hook = verifierAuth({
      verify: (token) =>
        token.startsWith('ok-') ? { id: token.slice(3), scopes: ['fraud'] } : null,
      authorize: (who, target) => (who.scopes as string[]).includes(target.model),
    });
    expect(await codeOf(authenticate(hook, request({}), fraud))).toBe('UNAUTHENTICATED:401');
    expect(await codeOf(authenticate(hook, request({ authorization: 'Bearer bad' }), fraud))).toBe(
      'UNAUTHENTICATED:401',
    );
    expect(
      await codeOf(authenticate(hook, request({ authorization: 'Bearer ok-ann' }), churn)),
    ).toBe('FORBIDDEN:403');
    await expect(
      authenticate(hook, request({ authorization: 'Bearer ok-ann' }), fraud),
    ).resolves.toMatchObject({ id: 'ann' });
  });

  it('per-model config: a default, a per-model hook, and open models', async () => {
    const config = {
      default: keys,
      models: { open: null, churn: verifierAuth({ verify: () => ({ id: 'v' }) }) },
    };
    expect(authHookFor(config, 'open')).toBeUndefined();
    expect(authHookFor(config, 'fraud')).toBe(keys);
    await expect(
      authenticate(config, request({}), { model: 'open', action: 'predict' }),
    ).resolves.toBeUndefined();
    await expect(
      authenticate(config, request({ authorization: 'Bearer anything' }), churn),
    ).resolves.toEqual({ id: 'v' });
    expect(authHookFor(undefined, 'fraud')).toBeUndefined();
    expect(authHookFor({ models: { fraud: keys } }, 'other')).toBeUndefined();
  });

  it('a failing hook answers 500, not 401', async () => {
    const broken = () => {
      throw new Error('directory down');
    };
    expect(await codeOf(authenticate(broken, request({}), fraud))).toBe('INTERNAL:500');
  });

  it('rejects bad options when created', () => {
    expect(() => apiKeyAuth({ keys: [] })).toThrow(/at least one key/);
    expect(() => apiKeyAuth({ keys: [{ id: 'x', key: 'short' }] })).toThrow(/8\+ characters/);
  });
});
