/**
 * The wait-for graph as an operator sees it, in real Chromium against a
 * real server: labels measured from the rendered boxes never overlap (a
 * staged deadlock, a hang with a crowd of waiters and a chain), a deadlock
 * stays drawn with its victim after it is broken, edge labels say who wants
 * what, and with nothing waiting the panel says so.
 */

import type { Page } from 'playwright-core';
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
  const dir = fx.dumpDir('lockscope-graph-dumps-');
  server = await fx.serve({
    port: 0, node: 'graph-test', tokens: TOKEN_SPECS, dumps: { dir, rateLimitMs: 0 },
    domains: [{ name: 'lin', kind: 'dlm', softTimeoutMs }, { name: 'data', kind: 'dlm', ranges: true }],
  });
  return server;
}

interface Rect { x: number; y: number; w: number; h: number; text: string }

/** Every label drawn in the graph, as the browser laid it out (screen pixels), empty and hidden ones left out. */
async function labelBoxes(page: Page): Promise<Rect[]> {
  return page.evaluate(`[...document.querySelectorAll('#graph text')].map((t) => {
    const b = t.getBoundingClientRect();
    return { x: b.x, y: b.y, w: b.width, h: b.height, text: t.textContent };
  }).filter((b) => b.w > 0 && b.h > 0 && b.text !== '')`) as Promise<Rect[]>;
}

function overlapping(boxes: Rect[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) {
      const [a, b] = [boxes[i]!, boxes[j]!];
      if (a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h) out.push(`${a.text} | ${b.text}`);
    }
  }
  return out;
}

/** Wait until the graph drew `n` edges. */
const waitLinks = (page: Page, n: number): Promise<unknown> =>
  page.waitForFunction(`document.querySelectorAll('#graph g.link').length === ${n}`, undefined, { timeout: 5000 });

it('a staged deadlock: labels do not overlap, edges read "wants …, blocked by …", and the broken cycle stays drawn with its victim', async () => {
  const s = await start();
  const page = await openDashboard(browser, s.url, TOKENS.viewer);
  await page.locator('#graph-empty:not([hidden])').waitFor();
  const a = s.manager.owner('mover-a');
  const b = s.manager.owner('mover-b');
  await a.lock('lin', 'dir:a', 'EX');
  await b.lock('lin', 'dir:b', 'EX');
  const wa = a.lock('lin', 'dir:b', 'PR').catch((e: unknown) => e);
  const wb = b.lock('lin', 'dir:a', 'EX').catch((e: unknown) => e);
  expect(((await wb) as { code: string }).code).toBe('EDEADLK');
  await page.locator('#graph g.node.victim[data-owner="mover-b"]').waitFor({ timeout: 3000 });
  await waitLinks(page, 2);
  const texts = (await labelBoxes(page)).map((r) => r.text);
  expect(texts).toContain('lin:dir:b · wants PR, blocked by EX');
  expect(texts).toContain('lin:dir:a · wants EX, blocked by EX');
  expect(texts).toContain('mover-b · deadlock victim');
  expect(overlapping(await labelBoxes(page))).toEqual([]);
  expect(await page.locator('#graph-empty').isHidden()).toBe(true);

  // Broken and over: nobody waits any more, yet the cycle is still there to see, in red.
  b.releaseAll();
  await wa;
  expect(s.manager.snapshot().edges).toEqual([]);
  await page.waitForFunction(`window.lockscope.model.edges.length === 0`);
  await page.evaluate('window.lockscope.render()');
  expect(await page.locator('#graph g.link.cycle').count()).toBe(2);
  expect(await page.locator('#graph g.node.victim[data-owner="mover-b"]').count()).toBe(1);
  expect(await page.locator('#graph-empty').isHidden()).toBe(true);
  a.releaseAll();
});

it('a hang with a crowd of waiters and a chain behind them: no two labels overlap, in either layout', async () => {
  const s = await start(200);
  const page = await openDashboard(browser, s.url, TOKENS.viewer);
  const owners = [s.manager.owner('slow-holder')];
  await owners[0]!.lock('lin', 'inode:7', 'EX');
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < 8; i++) {
    const [reader, writer] = [s.manager.owner(`reader-${i}`), s.manager.owner(`writer-${i}`)];
    owners.push(reader, writer);
    await reader.lock('data', `file:${i}`, 'EX');
    pending.push(reader.lock('lin', 'inode:7', 'PR').catch(() => {}));
    // Each reader in turn blocks a writer of its own file: a chain two deep under the slow holder.
    pending.push(writer.lock('data', `file:${i}`, 'PW').catch(() => {}));
  }
  await page.locator('#hangs .hang', { hasText: 'reader-0' }).waitFor({ timeout: 5000 });
  await waitLinks(page, 16);
  const layered = await labelBoxes(page);
  expect(layered.length).toBe(16 + 17); // every edge label and every owner's label is drawn
  expect(overlapping(layered)).toEqual([]);
  // The root blocker is on top: every reader is drawn below it.
  const y = async (owner: string): Promise<number> => (await page.locator(`#graph g.node[data-owner="${owner}"] circle`).boundingBox())!.y;
  expect(await y('slow-holder')).toBeLessThan(await y('reader-3'));
  expect(await y('reader-3')).toBeLessThan(await y('writer-3'));

  await page.click('#layout-toggle');
  await page.waitForFunction(`document.getElementById('layout-toggle').textContent === 'layered layout'`);
  expect(overlapping(await labelBoxes(page))).toEqual([]);
  for (const o of owners) o.releaseAll();
  await Promise.all(pending);
});

it('scrubbing back: a deadlock marker shows the broken cycle and the table as they were; the link reproduces it; live returns', async () => {
  const s = await start();
  const page = await openDashboard(browser, s.url, TOKENS.admin);
  const a = s.manager.owner('mover-a');
  const b = s.manager.owner('mover-b');
  await a.lock('lin', 'dir:a', 'EX');
  await b.lock('lin', 'dir:b', 'EX');
  const wa = a.lock('lin', 'dir:b', 'PR').catch((e: unknown) => e);
  expect(((await b.lock('lin', 'dir:a', 'EX').catch((e: unknown) => e)) as { code: string }).code).toBe('EDEADLK');
  // Hold the survivor's wait until the server's history has stored the deadlock's batch, then end everything.
  // (Asked from here: a page predicate returning a promise counts as true at once, and the test then raced the flush.)
  const stored = async (): Promise<boolean> => {
    const res = await fetch(`${s.url}/api/history/moment?at=${Date.now()}`, { headers: { authorization: `Bearer ${TOKENS.admin}` } });
    const m = (await res.json()) as { entries?: { batch?: { events: { event: string }[] } }[] };
    return m.entries?.some((e) => e.batch?.events.some((x) => x.event === 'deadlock') === true) === true;
  };
  for (const end = Date.now() + 5000; !(await stored());) {
    if (Date.now() > end) throw new Error('the deadlock\'s batch was not stored in time');
    await new Promise((r) => setTimeout(r, 50));
  }
  b.releaseAll();
  await wa;
  a.releaseAll();
  await page.waitForFunction(`document.getElementById('table-count')?.textContent === '0 of 0'`);

  // Pausing fetches the kept window with its markers; the deadlock's marker shows the moment just after it.
  const marker = page.locator('#tl-markers .marker.deadlock');
  await page.click('#tl-pause');
  await marker.first().waitFor({ timeout: 5000 });
  await marker.first().click();
  await page.waitForFunction(`/^paused at /.test(document.getElementById('tl-at').textContent) && document.getElementById('table-count').textContent === '3 of 3'`, undefined, { timeout: 15_000 });
  await page.locator('#graph g.node.victim[data-owner="mover-b"]').waitFor();
  expect(await page.locator('#graph g.link[data-from="mover-a"][data-to="mover-b"]').count()).toBe(1);
  const waiting = page.locator('#table .row.waiting', { hasText: 'mover-a' });
  expect(await waiting.locator('span').nth(1).innerText()).toBe('dir:b');
  // A past moment cannot be acted on, even by an admin.
  expect(await waiting.locator('button').isDisabled()).toBe(true);
  const link = page.url();
  const at = Number(new URL(link).searchParams.get('at'));
  expect(at).toBeGreaterThan(0);

  const other = await browser.context.newPage();
  await other.goto(link);
  await other.waitForFunction(`document.getElementById('table-count')?.textContent === '3 of 3'`, undefined, { timeout: 15_000 });
  await other.locator('#graph g.node.victim[data-owner="mover-b"]').waitFor();
  expect(await other.locator('#tl-at').innerText()).toMatch(/^paused at /);

  await page.click('#tl-live');
  await page.waitForFunction(`document.getElementById('table-count')?.textContent === '0 of 0'`);
  expect(new URL(page.url()).searchParams.get('at')).toBeNull();
}, 60_000);
