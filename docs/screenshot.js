// Takes docs/dashboard.png: the dashboard under the demo workload, after it has run long enough
// for every panel to fill. Run after `npm run build`: node docs/screenshot.js [seconds]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { createServer } from '../dist/server/index.js';
import { DEMO, DEMO_DOMAINS, startDemo } from '../dist/server/demo.js';

const seconds = Number(process.argv[2] ?? 40);
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
await page.screenshot({ path: new URL('./dashboard.png', import.meta.url).pathname, fullPage: true });
await context.close();
await demo.stop();
await server.close();
rmSync(profile, { recursive: true, force: true });
rmSync(dumps, { recursive: true, force: true });
console.log('docs/dashboard.png written');
