// Takes the README's screenshots of the dashboard under the demo workload, after it has run long
// enough for every panel to fill: docs/dashboard.png (live), docs/dashboard-paused.png (paused a
// moment ago) and docs/dashboard-scrubbed.png (scrubbed back to the latest deadlock's marker).
// Run after `npm run build`: node docs/screenshot.js [seconds]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createServer } from '../dist/server/index.js';
import { DEMO, DEMO_DOMAINS, startDemo } from '../dist/server/demo.js';

const seconds = Number(process.argv[2] ?? 40);
const out = (name) => new URL(`./${name}`, import.meta.url).pathname;
const dumps = mkdtempSync(join(tmpdir(), 'lockscope-shot-dumps-'));
const server = await createServer({
  port: 0, node: 'demo-node', domains: DEMO_DOMAINS, leaseMs: DEMO.leaseMs,
  dumps: { dir: dumps, rateLimitMs: DEMO.dumpRateLimitMs },
});
const demo = await startDemo(server.url);
const profile = mkdtempSync(join(tmpdir(), 'lockscope-shot-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium', headless: true, viewport: { width: 1600, height: 1300 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await context.newPage();
await page.goto(`${server.url}/`);
await new Promise((r) => setTimeout(r, seconds * 1000));
await page.screenshot({ path: out('dashboard.png'), fullPage: true });
await page.click('#tl-pause');
await page.waitForFunction(`/^paused at /.test(document.getElementById('tl-at').textContent)`);
await page.screenshot({ path: out('dashboard-paused.png'), fullPage: false });
await page.locator('#tl-markers .marker.deadlock').last().click();
await page.waitForFunction(`document.querySelector('#graph g.node.victim') !== null`);
await page.screenshot({ path: out('dashboard-scrubbed.png'), fullPage: false });
await context.close();
await demo.stop();
await server.close();
rmSync(profile, { recursive: true, force: true });
rmSync(dumps, { recursive: true, force: true });
console.log('docs/dashboard.png, docs/dashboard-paused.png, docs/dashboard-scrubbed.png written');
