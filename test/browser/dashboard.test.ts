/**
 * The dashboard in real Chromium against a real server: it loads clean, a
 * deadlock shows in the graph and the history, a hang shows with a dump
 * that downloads as a real archive, the table's filters narrow it, and only
 * an admin who confirms can break a lock.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { list } from 'tar';
import { beforeAll, expect, it } from 'vitest';
import { type LockServer } from '../../server/index.js';
import { TOKEN_SPECS, TOKENS } from '../spec/remote.js';
import { dashboardFixture, openDashboard, type Browser } from './support.js';

const fx = dashboardFixture();
let browser: Browser;
let server: LockServer | null = null;
beforeAll(() => {
  browser = fx.browser;
});

async function start(softTimeoutMs = 30_000): Promise<LockServer> {
  const dir = fx.dumpDir('lockscope-browser-dumps-');
  server = await fx.serve({
    port: 0, node: 'web-test', tokens: TOKEN_SPECS, dumps: { dir, rateLimitMs: 0 },
    domains: [{ name: 'lin', kind: 'dlm', softTimeoutMs }, { name: 'data', kind: 'dlm', ranges: true }, { name: 'adv', kind: 'posix' }],
  });
  return server;
}

/** Wait until the table says `text` (e.g. "2 of 2"). A string, since this file is type-checked without the DOM library. */
const waitCount = (page: import('playwright-core').Page, text: string): Promise<unknown> =>
  page.waitForFunction(`document.getElementById('table-count')?.textContent === ${JSON.stringify(text)}`);
const tableCount = (page: import('playwright-core').Page): Promise<string> => page.locator('#table-count').innerText();

it('loads with no console errors and shows the live state', async () => {
  const s = await start();
  await s.manager.owner('holder').lock('lin', 'inode:1', 'EX');
  const errors: string[] = [];
  const page = await openDashboard(browser, s.url, TOKENS.admin, errors);
  await waitCount(page, '1 of 1');
  await s.manager.owner('second').lock('data', 'file:1', 'PR', { range: { start: 0, end: 10 } });
  await waitCount(page, '2 of 2');
  expect(await page.locator('#role').innerText()).toBe('admin');
  expect(errors).toEqual([]);
});

it('a deadlock appears in the graph and in the history within 2 s', async () => {
  const s = await start();
  const page = await openDashboard(browser, s.url, TOKENS.viewer);
  const a = s.manager.owner('mover-a');
  const b = s.manager.owner('mover-b');
  await a.lock('lin', 'dir:a', 'EX');
  await b.lock('lin', 'dir:b', 'EX');
  const wa = a.lock('lin', 'dir:b', 'EX').catch((e: unknown) => e);
  const wb = b.lock('lin', 'dir:a', 'EX').catch((e: unknown) => e);
  const t0 = Date.now();
  // The victim keeps what it holds, so the survivor still waits for it: both owners stay in the graph.
  await page.locator('#graph g.node[data-owner="mover-a"]').waitFor({ timeout: 2000 });
  await page.locator('#graph g.node[data-owner="mover-b"]').waitFor({ timeout: 2000 });
  await page.locator('#deadlocks .deadlock').first().waitFor({ timeout: 2000 });
  expect(Date.now() - t0).toBeLessThan(2000);
  const text = await page.locator('#deadlocks .deadlock').first().innerText();
  expect(text).toContain('victim mover-b');
  expect(text).toContain('dir:a');
  expect(text).toContain('dir:b');
  expect(((await wb) as { code: string }).code).toBe('EDEADLK');
  b.releaseAll();
  await wa;
});

it('a hang appears and its dump downloads as a .tar.gz with a manifest', async () => {
  const s = await start(300);
  const page = await openDashboard(browser, s.url, TOKENS.viewer);
  await s.manager.owner('slow').lock('lin', 'inode:7', 'EX');
  void s.manager.owner('stuck').lock('lin', 'inode:7', 'PR').catch(() => {});
  await page.locator('#hangs .hang', { hasText: 'stuck' }).waitFor({ timeout: 3000 });
  expect(await page.locator('#hangs .hang').first().innerText()).toContain('root blocker: slow');
  const link = page.locator('#dumps a.dump-link').first();
  await link.waitFor({ timeout: 5000 });
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  expect(download.suggestedFilename()).toMatch(/\.tar\.gz$/);
  const file = join(fx.dumpDir('lockscope-download-'), 'downloaded.tar.gz');
  await download.saveAs(file);
  expect([...readFileSync(file).subarray(0, 2)]).toEqual([0x1f, 0x8b]);
  const names: string[] = [];
  await list({ file, onReadEntry: (e) => names.push(e.path) });
  expect(names).toContain('manifest.json');
  expect(names).toContain('summary.txt');
});

it('filters and the search narrow the lock table', async () => {
  const s = await start();
  for (let i = 0; i < 30; i++) await s.manager.owner(`task-${i % 3}`).lock(i % 2 === 0 ? 'lin' : 'data', `res-${i}`, 'PR');
  void s.manager.owner('waiter').lock('lin', 'res-0', 'EX').catch(() => {});
  const page = await openDashboard(browser, s.url, TOKENS.viewer);
  await waitCount(page, '31 of 31');
  // The domain filter is applied on the server (a room per domain): the page then holds that domain's locks only.
  await page.selectOption('#f-domain', 'lin');
  await waitCount(page, '16 of 16');
  await page.fill('#f-owner', 'task-1');
  expect(await tableCount(page)).toBe('5 of 16');
  await page.fill('#f-owner', '');
  await page.selectOption('#f-state', 'waiting');
  expect(await tableCount(page)).toBe('1 of 16');
  await page.selectOption('#f-state', '');
  await page.selectOption('#f-domain', '');
  await waitCount(page, '31 of 31');
  await page.fill('#f-search', 'res-1');
  // res-1 and res-10 … res-19
  expect(await tableCount(page)).toBe('11 of 31');
  expect(await page.locator('#table .row').count()).toBe(11);
});

it('a viewer cannot break a lock; an admin can, after confirming', async () => {
  const s = await start();
  const lock = await s.manager.owner('victim').lock('lin', 'inode:9', 'EX');
  const viewer = await openDashboard(browser, s.url, TOKENS.viewer);
  const row = viewer.locator('#table .row', { hasText: 'inode:9' });
  await row.waitFor();
  expect(await row.locator('button').isDisabled()).toBe(true);
  expect(await viewer.locator('#dump-now').isDisabled()).toBe(true);
  // The server refuses it too, whatever the page shows.
  const status = await viewer.evaluate(async (id) => (await fetch(`/api/locks/${id}/break`, { method: 'POST', headers: { authorization: 'Bearer viewer-token-0123456789abcdef' } })).status, lock.id);
  expect(status).toBe(403);
  expect(lock.state).toBe('granted');
  await viewer.close();

  const admin = await openDashboard(browser, s.url, TOKENS.admin);
  const adminRow = admin.locator('#table .row', { hasText: 'inode:9' });
  await adminRow.locator('button:not([disabled])').click();
  await admin.locator('#confirm[open]').waitFor();
  await admin.locator('#confirm-no').click();
  expect(lock.state).toBe('granted');
  await adminRow.locator('button').click();
  await admin.locator('#confirm-yes').click();
  await waitCount(admin, '0 of 0');
  expect(lock.state).toBe('lost');
});
