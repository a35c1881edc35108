/**
 * The dashboard's tables in real Chromium against a real server: sorting by
 * a header, export of exactly the rows shown, a link that carries the
 * filters, posix locks breakable by an admin only, a failed action's code
 * said once outside the "live" pill, "persistent" only on a wait still
 * blocked, the wait-time axis readable, and no panel wider than the screen
 * at 1024 and 2560 px.
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { beforeAll, expect, it } from 'vitest';
import { type LockServer } from '../../server/index.js';
import { TOKEN_SPECS, TOKENS } from '../spec/remote.js';
import { connect } from '../../client/index.js';
import { dashboardFixture, openDashboard, type Browser } from './support.js';

const fx = dashboardFixture();
let browser: Browser;
let server: LockServer | null = null;
beforeAll(() => {
  browser = fx.browser;
});

async function start(): Promise<LockServer> {
  const dir = fx.dumpDir('lockscope-tables-dumps-');
  server = await fx.serve({
    port: 0, node: 'tables-test', tokens: TOKEN_SPECS, dumps: { dir, rateLimitMs: 0 },
    domains: [{ name: 'lin', kind: 'dlm', softTimeoutMs: 200, persistentAfterMs: 300 }, { name: 'data', kind: 'dlm', ranges: true }, { name: 'adv', kind: 'posix' }],
  });
  return server;
}

const waitCount = (page: Page, text: string): Promise<unknown> =>
  page.waitForFunction(`document.getElementById('table-count')?.textContent === ${JSON.stringify(text)}`, undefined, { timeout: 5000 });
/** The resource column of the rows shown, top to bottom. */
const resources = async (page: Page): Promise<string[]> =>
  page.evaluate(`[...document.querySelectorAll('#table .row')].sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top)).map((r) => r.children[1].textContent)`) as Promise<string[]>;

async function downloadText(page: Page, button: string, dir: string): Promise<{ name: string; text: string }> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
  const file = join(dir, download.suggestedFilename());
  await download.saveAs(file);
  return { name: download.suggestedFilename(), text: readFileSync(file, 'utf8') };
}

it('a header click sorts, again reverses, a third time restores; export writes exactly the rows shown, in that order', async () => {
  const s = await start();
  const [a, b] = [s.manager.owner('alpha'), s.manager.owner('beta')];
  for (const r of ['m-2', 'z-1', 'a-3']) await a.lock('lin', r, 'PR');
  await b.lock('lin', '=cmd', 'PR');
  await b.lock('data', 'b-4', 'EX');
  const page = await openDashboard(browser, s.url, TOKENS.viewer);
  await waitCount(page, '5 of 5');
  await page.click('#table-head [data-sort="resource"]');
  expect(await resources(page)).toEqual(['=cmd', 'a-3', 'b-4', 'm-2', 'z-1']);
  expect(await page.getAttribute('#table-head [data-sort="resource"]', 'aria-sort')).toBe('ascending');
  await page.click('#table-head [data-sort="resource"]');
  expect(await resources(page)).toEqual(['z-1', 'm-2', 'b-4', 'a-3', '=cmd']);
  await page.click('#table-head [data-sort="resource"]');
  expect(await page.getAttribute('#table-head [data-sort="resource"]', 'aria-sort')).toBe('none');
  expect(new URL(page.url()).search).toBe('');

  await page.click('#table-head [data-sort="resource"]');
  await page.fill('#f-owner', 'alpha');
  await waitCount(page, '3 of 5');
  const dir = fx.dumpDir('lockscope-export-');
  const csv = await downloadText(page, '#export-csv', dir);
  expect(csv.name).toMatch(/^lockscope-locks-tables-test-.*\.csv$/);
  const lines = csv.text.trimEnd().split('\r\n');
  expect(lines[0]).toBe('domain,resource,owner,state,mode,requested,range,since,for_ms,lock_id,wait_id');
  expect(lines.slice(1).map((l) => l.split(',').slice(0, 5).join(' '))).toEqual(['lin a-3 alpha granted PR', 'lin m-2 alpha granted PR', 'lin z-1 alpha granted PR']);
  await page.fill('#f-owner', 'beta');
  await waitCount(page, '2 of 5');
  const json = JSON.parse((await downloadText(page, '#export-json', dir)).text) as Array<{ resource: string; owner: string; lock_id: number }>;
  expect(json.map((r) => [r.resource, r.owner])).toEqual([['=cmd', 'beta'], ['b-4', 'beta']]);
  expect(typeof json[0]!.lock_id).toBe('number');
  // A resource that reads like a formula is written so a spreadsheet shows it and never runs it.
  const csvBeta = await downloadText(page, '#export-csv', dir);
  expect(csvBeta.text).toContain("\r\nlin,'=cmd,beta,");
});

it('a link carries the filters and the sort: another browser opening it sees the same rows', async () => {
  const s = await start();
  for (let i = 0; i < 12; i++) await s.manager.owner(`task-${i % 3}`).lock(i % 2 === 0 ? 'lin' : 'data', `res-${String(i).padStart(2, '0')}`, 'PR');
  const page = await openDashboard(browser, s.url, TOKENS.viewer);
  await waitCount(page, '12 of 12');
  await page.selectOption('#f-domain', 'lin');
  await page.fill('#f-owner', 'task-0');
  await page.click('#table-head [data-sort="resource"]');
  await page.click('#table-head [data-sort="resource"]');
  await waitCount(page, '2 of 6');
  const shown = await resources(page);
  expect(shown).toEqual(['res-06', 'res-00']);
  const link = page.url();
  expect(new URL(link).searchParams.get('domain')).toBe('lin');

  const other = await browser.context.newPage();
  await other.goto(link);
  await waitCount(other, '2 of 6');
  expect(await resources(other)).toEqual(shown);
  expect(await other.inputValue('#f-owner')).toBe('task-0');
  expect(await other.inputValue('#f-domain')).toBe('lin');
});

it('posix locks: a viewer cannot break one; an admin can, after confirming, and the waiter behind it is granted', async () => {
  const s = await start();
  const holder = s.manager.owner('posix-holder');
  await holder.setlk('adv', 'file-1', { type: 'write', start: 0, len: 100 });
  const waiter = s.manager.owner('posix-waiter').setlk('adv', 'file-1', { type: 'write', start: 10, len: 10 }, { wait: true });
  const viewer = await openDashboard(browser, s.url, TOKENS.viewer);
  const row = viewer.locator('#table .row.granted', { hasText: 'posix-holder' });
  await row.waitFor();
  expect(await row.locator('button').isDisabled()).toBe(true);
  await viewer.close();

  const admin = await openDashboard(browser, s.url, TOKENS.admin);
  const adminRow = admin.locator('#table .row.granted', { hasText: 'posix-holder' });
  await adminRow.locator('button:not([disabled])').click();
  await admin.locator('#confirm-yes').click();
  await waiter;
  await admin.locator('#table .row.granted', { hasText: 'posix-waiter' }).waitFor();
  expect(await admin.locator('#table .row', { hasText: 'posix-holder' }).count()).toBe(0);
  expect(await admin.locator('#status').innerText()).toBe('done');
});

it('a failed cancel shows its code once, in the status line, and the pill still says only "live"', async () => {
  const s = await start();
  const holder = s.manager.owner('holder');
  const lock = await holder.lock('data', 'r', 'EX');
  const wait = s.manager.owner('waiter').lock('data', 'r', 'PR');
  const admin = await openDashboard(browser, s.url, TOKENS.admin);
  await admin.locator('#table .row.waiting button:not([disabled])').click();
  await admin.locator('#confirm[open]').waitFor();
  // The wait ends while the operator reads the question: the cancel then names a wait that is gone.
  lock.release();
  await wait;
  await admin.locator('#confirm-yes').click();
  await admin.locator('#status.failed').waitFor();
  const text = await admin.locator('#status').innerText();
  expect(text.startsWith('ENOENT: ')).toBe(true);
  expect(text.match(/ENOENT/g)).toHaveLength(1);
  expect(await admin.locator('#conn').innerText()).toBe('live');
});

it('"persistent" only while the wait lasts: once it ends, the hang and its dump read transient', async () => {
  const s = await start();
  const holder = s.manager.owner('slow');
  const lock = await holder.lock('lin', 'inode:7', 'EX');
  const wait = s.manager.owner('stuck').lock('lin', 'inode:7', 'PR');
  const page = await openDashboard(browser, s.url, TOKENS.viewer);
  await page.locator('#hangs .hang.persistent', { hasText: 'stuck' }).waitFor({ timeout: 5000 });
  await page.locator('#dumps td.persistent').waitFor({ timeout: 5000 });
  lock.release();
  await wait;
  await page.locator('#hangs .hang.transient', { hasText: 'stuck' }).waitFor({ timeout: 5000 });
  await page.locator('#dumps td.transient').waitFor({ timeout: 5000 });
  expect(await page.locator('#hangs .hang.persistent').count()).toBe(0);
  expect(await page.locator('#dumps td.persistent').count()).toBe(0);
});

/** Elements wider than their box (content cut or pushing the page), by id or class. */
async function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(`(() => {
    const out = [];
    const doc = document.documentElement;
    if (doc.scrollWidth > doc.clientWidth) out.push('page ' + doc.scrollWidth + ' > ' + doc.clientWidth);
    for (const el of document.querySelectorAll('.panel, .panel table, #filters, header')) {
      if (el.scrollWidth > el.clientWidth + 1) out.push((el.id || el.className || el.tagName) + ' ' + el.scrollWidth + ' > ' + el.clientWidth);
    }
    return out;
  })()`) as Promise<string[]>;
}

it('at 1024 and 2560 px wide nothing overflows (long names, a dump listed), and the wait-time axis labels do not collide', async () => {
  const s = await start();
  const long = 'volume-0123456789/'.repeat(8);
  await s.manager.owner(`owner-with-a-rather-long-name-${'x'.repeat(40)}`).lock('lin', long, 'EX');
  for (let i = 0; i < 20; i++) {
    const l = await s.manager.owner(`w${i}`).lock('data', `d${i}`, 'EX');
    const w = s.manager.owner(`v${i}`).lock('data', `d${i}`, 'PR');
    setTimeout(() => l.release(), 1 + i * 7);
    await w;
  }
  const page = await openDashboard(browser, s.url, TOKENS.admin);
  await page.click('#dump-now');
  await page.locator('#confirm-yes').click();
  await page.locator('#dumps a.dump-link').first().waitFor({ timeout: 5000 });
  for (const width of [1024, 2560]) {
    await page.setViewportSize({ width, height: 1200 });
    await page.evaluate('window.lockscope.render()');
    expect(await overflowing(page), `at ${width} px`).toEqual([]);
    const ticks = await page.evaluate(`[...document.querySelectorAll('#series .y-axis text')].map((t) => { const b = t.getBoundingClientRect(); return [b.y, b.y + b.height]; })`) as Array<[number, number]>;
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    const sorted = ticks.sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]![0]).toBeGreaterThanOrEqual(sorted[i - 1]![1]);
  }
});

it('top lists: the resource waited on longest and the owner that made others wait, with where it runs', async () => {
  const s = await start();
  const hog = await s.manager.owner('hog').lock('data', 'hot-file', 'EX');
  const waits = [s.manager.owner('w1').lock('data', 'hot-file', 'EX'), s.manager.owner('w2').lock('data', 'hot-file', 'EX')].map((w) => w.then((l) => l.release(), () => {}));
  const page = await openDashboard(browser, s.url, TOKENS.viewer);
  // The page asks again every few seconds while live; the waits go on meanwhile.
  const first = page.locator('#top ol').first().locator('li').first();
  await page.waitForFunction(`/hot-file/.test(document.querySelector('#top ol li')?.textContent ?? '')`, undefined, { timeout: 15_000 });
  expect(await first.innerText()).toMatch(/^data:hot-file /);
  const blocker = page.locator('#top ol').nth(1).locator('li').first();
  const text = await blocker.innerText();
  expect(text.startsWith('hog ')).toBe(true);
  // Where it runs comes with the sessions' summary, which may land a refresh after the list itself.
  await expect.poll(() => blocker.locator('.where').innerText(), { timeout: 10_000 }).toBe('in-process · node tables-test');
  await expect.poll(() => page.locator('#tree .where').first().innerText(), { timeout: 10_000 }).toBe('in-process · node tables-test');
  hog.release();
  await Promise.all(waits);
}, 40_000);

it('a cached grant shows as such, live: in use by its owner, then idle once its client reports the release', async () => {
  const s = await start();
  const c = await connect(s.url, { token: TOKENS.client, name: 'cacher', cache: true });
  try {
    const page = await openDashboard(browser, s.url, TOKENS.viewer);
    const l = await c.owner('keeper').lock('lin', 'kept', 'EX');
    const stateOf = `[...document.querySelectorAll('#table .row')].find((r) => r.children[1].textContent === 'kept')?.children[3].textContent`;
    await page.waitForFunction(`${stateOf} === 'granted (cached, in use)'`, undefined, { timeout: 5000 });
    await l.release();
    c.cache!.flush();
    await page.waitForFunction(`${stateOf} === 'granted (cached, idle)'`, undefined, { timeout: 5000 });
    await page.close();
  } finally {
    await c.close();
  }
});
