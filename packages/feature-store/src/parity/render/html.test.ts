import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { derived, entity, eventSource } from '@tandem/core';
import { openPglite, type PgliteTestDatabase } from '@tandem/testing';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteOrPostgresExecutor } from '../../../test/executor-of.js';
import { createOfflineStore, type OfflineStore } from '../../offline/store.js';
import { memoryAdapter } from '../../online/memory/adapter.js';
import { createOnlineStore } from '../../online/store.js';
import { checkParity } from '../check.js';
import type { ParityReport } from '../types.js';
import { renderParityHtml } from './html.js';

/** Debian's chromium (apt-get install chromium), or CHROMIUM_PATH. */
const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium'].find(
  (path): path is string => path !== undefined && path !== '' && existsSync(path),
);
const skipReason =
  CHROMIUM === undefined
    ? 'skipped: no chromium at /usr/bin/chromium (apt-get install -y chromium) or CHROMIUM_PATH'
    : null;
if (skipReason !== null) console.warn(`parity HTML report test ${skipReason}`);

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const BASE = Date.UTC(2026, 4, 1);
const account = entity({ name: 'account', keys: { account_id: 'string' } });
const logins = eventSource({
  name: 'logins',
  entity: account,
  fields: { amount: 'float', device: { type: 'string', nullable: true } },
});
const count1h = logins.count().window('1h').as('logins_1h');
const sum1h = logins.sum('amount').window('1h').as('amount_1h');
const device = logins.last('device').window('1h').as('last_device_1h');
const perLogin = derived('amount_per_login_1h', { s: sum1h, n: count1h }, (f) => f.s.div(f.n));
const features = [count1h, sum1h, device, perLogin];
const q0 = BASE + 3 * HOUR + 17 * MINUTE + 123;

let database: PgliteTestDatabase;
let offline: OfflineStore;
let work: string;
let broken: ParityReport;
let healthy: ParityReport;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'tandem-parity-html-'));
  database = await openPglite('fs_parity_html');
  offline = createOfflineStore({
    executor: pgliteOrPostgresExecutor(database),
    schema: database.schema,
    clock: () => BASE,
  });
  await offline.apply([logins]);
  await offline.ingest(logins, [
    { account_id: 'a<1>', ts: q0 - 10 * MINUTE, eventId: 'h1', amount: 1.5, device: 'web' },
    { account_id: 'a<1>', ts: q0, eventId: 'h-at-q', amount: 100, device: '<b>app</b>' },
    { account_id: 'b', ts: q0 - 30 * MINUTE, eventId: 'b1', amount: 2, device: null },
  ]);
  const sample = [
    { entity: { account_id: 'a<1>' }, q: q0 },
    { entity: { account_id: 'b' }, q: q0 },
    { entity: { account_id: 'nobody' }, q: q0 },
  ];
  healthy = await checkParity({ offline, features, sample });
  broken = await checkParity({
    offline,
    features,
    sample,
    online: (scratch) => {
      const store = createOnlineStore({ adapter: memoryAdapter(), ...scratch });
      return {
        ...store,
        getOnlineFeatures: (request) =>
          store.getOnlineFeatures({ ...request, at: (request.at ?? 0) + 1 }),
      };
    },
  });
});
afterAll(async () => {
  await offline?.executor.close();
  await database?.close();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

it('renders a self-contained page: no external references, the report embedded as JSON', () => {
  const html = renderParityHtml(broken);
  expect(html).toMatch(/^<!doctype html>/);
  expect(html).not.toMatch(/<link|src=|https?:\/\//);
  expect(html).not.toContain('<b>app</b>');
  expect(html).toContain('&lt;b&gt;app&lt;/b&gt;');
  const embedded = /<script type="application\/json" id="parity-report">(.*?)<\/script>/s.exec(
    html,
  );
  expect(JSON.parse(embedded![1]!)).toEqual(JSON.parse(JSON.stringify(broken)));
});

describe.skipIf(skipReason !== null)('the HTML report in headless Chromium', () => {
  let context: BrowserContext;
  const external: string[] = [];
  beforeAll(async () => {
    context = await chromium.launchPersistentContext(join(work, 'profile'), {
      executablePath: CHROMIUM!,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      external.push(url);
      return route.abort();
    });
  }, 60_000);
  afterAll(async () => {
    await context?.close();
  });

  async function open(report: ParityReport, name: string) {
    const file = join(work, name);
    await writeFile(file, renderParityHtml(report));
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(pathToFileURL(file).href);
    return { page, errors };
  }

  it('shows the verdict, a row and bars per feature, and the mismatch examples with events', async () => {
    const { page, errors } = await open(broken, 'broken.html');
    expect(await page.title()).toBe('Tandem parity report');
    expect(await page.locator('#verdict').textContent()).toMatch(
      /^FAIL: \d+ of 12 values disagree$/,
    );
    const background = await page.locator('#verdict').evaluate(
      (e) =>
        (
          globalThis as unknown as {
            getComputedStyle(e: unknown): { backgroundColor: string };
          }
        ).getComputedStyle(e).backgroundColor,
    );
    expect(background).toBe('rgb(207, 34, 46)');

    const rows = page.locator('#features tbody tr');
    expect(
      await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-feature'))),
    ).toEqual(features.map((f) => f.name));
    const countRow = page.locator('#features tbody tr[data-feature="logins_1h"]');
    const cells = await countRow.locator('td').allInnerTexts();
    // feature, comparison, total, agree, both_null, offline_null, online_null, mismatch, ...
    expect(cells.slice(0, 8)).toEqual(['logins_1h', 'exact', '3', '2', '0', '0', '0', '1']);
    expect(await countRow.getAttribute('class')).toBe('failing');
    const segment = countRow.locator('[data-segment="mismatch"]');
    expect(await segment.getAttribute('data-count')).toBe('1');
    const box = await segment.boundingBox();
    expect(box!.width).toBeGreaterThan(50); // a third of a 260 px bar
    const lastDevice = page.locator('#features tbody tr[data-feature="last_device_1h"]');
    expect(await lastDevice.getAttribute('class')).toBe('failing');

    // The worst example of logins_1h, with the event at q that the shifted read let in.
    const examples = page.locator('article[data-feature="logins_1h"]');
    const first = examples.locator('tr.example').first();
    const exampleCells = await first.locator('td').allInnerTexts();
    expect(exampleCells.slice(0, 6)).toEqual([
      'mismatch',
      'account_id="a<1>"',
      `${new Date(q0).toISOString()} (${q0})`,
      '1',
      '2 (present)',
      '1',
    ]);
    const events = examples.locator('tr.events').first();
    expect(await events.isVisible()).toBe(true);
    const eventRows = await events.locator('table.events tbody tr').allInnerTexts();
    expect(eventRows).toHaveLength(2);
    expect(eventRows[1]).toMatch(/h-at-q/);
    expect(eventRows[1]).toMatch(/<b>app<\/b>/);
    expect(eventRows[1]).toMatch(/after\s+excluded\s+q/);
    expect(await events.locator('.edge').textContent()).toBe('q');

    // Clicking an example row hides its events; the filter hides agreeing features.
    await first.click();
    expect(await events.isVisible()).toBe(false);
    await page.locator('#only-failing').check();
    const visible = await rows.evaluateAll((trs) =>
      trs
        .map((tr) => tr as unknown as { offsetParent: unknown; dataset: { feature?: string } })
        .filter((tr) => tr.offsetParent !== null)
        .map((tr) => tr.dataset.feature),
    );
    expect(visible).toEqual(
      broken.features
        .filter((f) => f.mismatch + f.offlineNull + f.onlineNull > 0)
        .map((f) => f.name),
    );
    expect(errors).toEqual([]);
    expect(external).toEqual([]);
    await page.close();
  });

  it('shows a clean run as OK with no disagreements', async () => {
    const { page, errors } = await open(healthy, 'healthy.html');
    expect(await page.locator('#verdict').textContent()).toBe('OK: all 12 values agree');
    expect(await page.locator('#no-disagreements').isVisible()).toBe(true);
    expect(await page.locator('#features tbody tr.failing').count()).toBe(0);
    const bothNull = page.locator(
      '#features tbody tr[data-feature="amount_per_login_1h"] [data-segment="both_null"]',
    );
    expect(await bothNull.getAttribute('data-count')).toBe('1');
    expect(errors).toEqual([]);
    expect(external).toEqual([]);
    await page.close();
  });
});
