/**
 * The browser tests' harness: real Chromium (the system's, driven by
 * playwright-core) against a real server on a free port serving the built
 * page. The page is built once if dist/web is missing.
 */

import { execSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { createServer, type LockServer, type ServerOptions } from '../../server/index.js';

export const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const ROOT = join(import.meta.dirname, '..', '..');

export function ensurePageBuilt(): void {
  if (!existsSync(join(ROOT, 'dist', 'web', 'index.html'))) execSync('npm run build:web', { cwd: ROOT, stdio: 'ignore' });
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/**
 * A fresh profile each time: no token or state left over from another run. The page's Content-Security-Policy
 * forbids evaluating strings as script, which is how the tests' waitForFunction probes run, so it is bypassed
 * unless a test asks for it enforced (the test of the policy itself).
 */
export async function launch(options: { enforceCsp?: boolean } = {}): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'lockscope-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: ARGS, acceptDownloads: true, viewport: { width: 1500, height: 1400 }, bypassCSP: options.enforceCsp !== true,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Open the dashboard with a token (in the URL fragment, as an operator would) and wait until it is live. */
export async function openDashboard(b: Browser, url: string, token: string | null, errors: string[] = []): Promise<Page> {
  const page = await b.context.newPage();
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${url}/${token === null ? '' : `#token=${token}`}`);
  // A string, since this file is type-checked without the DOM library.
  await page.waitForFunction(`document.getElementById('conn')?.textContent === 'live'`, undefined, { timeout: 5000 });
  return page;
}

export interface DashboardFixture {
  /** The file's browser (launched before its tests). */
  readonly browser: Browser;
  /** A dump directory of its own, removed after the file's tests. */
  dumpDir(prefix: string): string;
  /** A server for this test, closed after it. */
  serve(options: ServerOptions): Promise<LockServer>;
}

/**
 * One browser per test file; after each test its pages, cookies and server
 * are closed (closing the server waits for the browser's HTTP connections,
 * which has taken over 10 s once in three runs: hence the long hook timeout).
 */
export function dashboardFixture(): DashboardFixture {
  let browser: Browser | null = null;
  let server: LockServer | null = null;
  const dirs: string[] = [];
  beforeAll(async () => {
    ensurePageBuilt();
    browser = await launch();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  afterEach(async () => {
    if (browser !== null) {
      for (const p of browser.context.pages()) await p.close();
      await browser.context.clearCookies();
    }
    await server?.close();
    server = null;
  }, 30_000);
  return {
    get browser(): Browser {
      if (browser === null) throw new Error('the browser is launched in beforeAll');
      return browser;
    },
    dumpDir(prefix) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    async serve(options) {
      server = await createServer(options);
      return server;
    },
  };
}
