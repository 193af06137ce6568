/**
 * Fingerprints are stable across processes: the same definitions, loaded in a child `node`
 * process through tsx (esbuild) with another time zone and locale, give the same fingerprints as in
 * this vitest (vite) process. No fingerprint value is hard-coded: parent and child are compared.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * Definitions of every kind. Written to a temporary `.mts` module (next to a `node_modules` link
 * to the repository's) so both processes load the very same file.
 */
const FIXTURE = `
import { attributeSource, canonicalJson, derived, entity, eventSource, featureService, fingerprint, requestFeature } from '@tandem/core';
import { pgTable, text, bigint, doublePrecision } from 'drizzle-orm/pg-core';
import { z } from 'zod';

const user = entity({ name: 'user', keys: { user_id: 'string' } });
const account = entity({ name: 'account', keys: { tenant: 'string', account_id: 'int' } });
const tx = eventSource({
  name: 'tx',
  entity: user,
  fields: { amount: 'float', n: 'int', merchant: 'string', ok: 'bool' },
});
const table = pgTable('ledger', {
  tenant: text('tenant').notNull(),
  accountId: bigint('account_id', { mode: 'number' }).notNull(),
  ts: bigint('ts', { mode: 'number' }).notNull(),
  amount: doublePrecision('amount_usd'),
});
const ledger = eventSource({
  name: 'ledger',
  entity: account,
  table,
  keyColumns: { tenant: table.tenant, account_id: table.accountId },
  fields: { amount: table.amount },
});
const profiles = attributeSource({ name: 'profiles', entity: user, table: 'crm.users', fields: { country: 'string', age: 'int' } });

const count7d = tx.count().window('7d').as('count_7d');
const sum7d = tx.sum('amount').window('7d', { hop: '1d' }).where((f) => f.merchant.ne('x').and(f.amount.gt(0))).as('sum_7d');
const features = [
  count7d,
  sum7d,
  tx.count('merchant').as('count_merchant'),
  tx.mean('amount').window('30d').default(0).as('mean_30d'),
  tx.min('n').as('min_n'),
  tx.max((f) => f.amount.mul(f.n).abs()).window('1h', { hop: '5m' }).as('max_expr'),
  tx.variance('amount').as('variance'),
  tx.stddev('n').window('24h').as('stddev'),
  tx.last('merchant').default('none').as('last_merchant'),
  tx.lastK('amount', 5).as('last5'),
  tx.firstK('ok', 2).as('first2'),
  tx.countDistinct('merchant').window('90d').as('distinct_merchants'),
  ledger.sum('amount').window('14d').as('ledger_sum'),
  profiles.latest('country').as('country'),
  profiles.latest('age', { ttl: '365d' }).as('age'),
  derived('avg_ticket', { s: sum7d, c: count7d }, (f) => f.s.div(f.c)),
  requestFeature({
    name: 'amount_ratio',
    input: z.object({ amount: z.number(), currency: z.enum(['EUR', 'USD']).optional() }),
    uses: { s: sum7d },
    type: 'float',
    compute: (input, f) => {
      // A comment and some formatting the compilers print differently.
      const scale = input.currency === 'USD' ? 0.9 : 1_000 / 1e3;
      return f.s === null ? null : (input.amount * scale) / (f.s + 1);
    },
  }),
];

export function fingerprints() {
  const service = featureService('svc', features);
  return {
    features: Object.fromEntries(features.map((f) => [f.name, fingerprint(f)])),
    layout: service.layout.map((l) => l.fingerprint),
    irs: features.map((f) => canonicalJson(f.ir)),
  };
}
`;

const dir = mkdtempSync(join(tmpdir(), 'tandem-fingerprint-'));
symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');
const fixture = join(dir, 'fixture.mts');
writeFileSync(fixture, FIXTURE);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Fingerprints = {
  features: Record<string, string>;
  layout: string[];
  irs: string[];
};

function inChild(env: Record<string, string>): Fingerprints {
  const script = `const m = await import(${JSON.stringify(pathToFileURL(fixture).href)});
process.stdout.write(JSON.stringify(m.fingerprints()));`;
  const child = spawnSync(
    process.execPath,
    ['--conditions=tandem-source', '--import', 'tsx', '--input-type=module', '-e', script],
    {
      cwd: repoRoot,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      timeout: 60_000,
    },
  );
  if (child.status !== 0) throw new Error(`child failed (${child.status}): ${child.stderr}`);
  return JSON.parse(child.stdout) as Fingerprints;
}

describe('fingerprints across processes', () => {
  it('are the same in a tsx child process (other time zone and locale) as in this one', async () => {
    const parent = (
      (await import(pathToFileURL(fixture).href)) as { fingerprints(): Fingerprints }
    ).fingerprints();
    expect(Object.keys(parent.features)).toHaveLength(17);
    expect(new Set(Object.values(parent.features)).size).toBe(17);
    const children = [
      inChild({ TZ: 'UTC', LANG: 'C' }),
      inChild({ TZ: 'Pacific/Chatham', LANG: 'tr_TR.UTF-8', LC_ALL: 'tr_TR.UTF-8' }),
    ];
    for (const child of children) {
      expect(child.irs).toEqual(parent.irs);
      expect(child.features).toEqual(parent.features);
      expect(child.layout).toEqual(parent.layout);
    }
  });
});
