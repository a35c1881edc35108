// The dashboard with 10,000 locks: how long the page takes to apply one update batch from the feed
// (measured in the browser, performance.now() around the model's apply), and to redraw after it.
// Real Chromium, a real server from dist/ (npm run build first).
//
//   node bench/dashboard.js [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createServer } from '../dist/server/index.js';

const LOCKS = 10_000;
const OWNERS = 1_000;
const CHURN = 1_000;
const ROUNDS = process.argv.includes('--quick') ? 3 : 10;
const BUDGET_MS = 100;

const server = await createServer({ port: 0, node: 'bench', domains: [{ name: 'lin', kind: 'dlm' }, { name: 'data', kind: 'dlm', ranges: true }] });
const lm = server.manager;
const owners = Array.from({ length: OWNERS }, (_, i) => lm.owner(`task-${i}`));
const held = [];
for (let i = 0; i < LOCKS; i++) held.push(await owners[i % OWNERS].lock(i % 2 ? 'lin' : 'data', `res-${i}`, 'PR'));
// Some waiters, so the graph and the who-blocks-whom tree have work to do too.
const waits = [];
for (let i = 0; i < 200; i++) waits.push(owners[(i + 1) % OWNERS].lock('lin', `res-${i * 2 + 1}`, 'EX').catch(() => {}));

const profile = mkdtempSync(join(tmpdir(), 'lockscope-bench-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1600, height: 1200 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await context.newPage();
await page.goto(`${server.url}/`);
await page.waitForFunction((n) => window.lockscope?.model.rows.size >= n, LOCKS, { timeout: 30_000 });

const applied = [];
const rendered = [];
let next = LOCKS;
for (let r = 0; r < ROUNDS; r++) {
  const before = await page.evaluate(() => window.lockscope.model.version);
  // One burst: CHURN releases and CHURN new grants, which the feed delivers as one batch.
  for (let i = 0; i < CHURN; i++) {
    const k = (r * CHURN + i) % held.length;
    held[k].release();
    held[k] = await owners[k % OWNERS].lock(k % 2 ? 'lin' : 'data', `res-${next++}`, 'PR');
  }
  await page.waitForFunction((v) => window.lockscope.model.version > v, before);
  await page.waitForTimeout(400);
  applied.push(await page.evaluate(() => window.lockscope.lastApplyMs()));
  rendered.push(await page.evaluate(() => { const t = performance.now(); window.lockscope.render(); return performance.now() - t; }));
}
const rows = await page.evaluate(() => window.lockscope.model.rows.size);
const fmt = (xs) => { const s = [...xs].sort((a, b) => a - b); return `median ${s[Math.floor(s.length / 2)].toFixed(1)} ms, max ${s[s.length - 1].toFixed(1)} ms`; };
console.log(`dashboard with ${rows} locks, batches of up to ${2 * CHURN} events (${ROUNDS} rounds):`);
console.log(`  apply one batch (model): ${fmt(applied)}`);
console.log(`  redraw every view after it: ${fmt(rendered)}`);
console.log(`  apply + redraw within ${BUDGET_MS} ms: ${Math.max(...applied) + Math.max(...rendered) < BUDGET_MS ? 'yes' : 'NO'}`);

await context.close();
rmSync(profile, { recursive: true, force: true });
for (const o of owners) o.releaseAll();
await Promise.allSettled(waits);
await server.close();
