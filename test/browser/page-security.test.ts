/**
 * What a hostile name and a stolen page can do to the dashboard, in real
 * Chromium against a real server: a domain named like markup shows as text
 * and runs nothing (the page escapes it, and its Content-Security-Policy
 * would block an inline handler anyway); the token the page was opened with
 * ends in an HttpOnly cookie, out of every script's reach, not in page
 * storage; and that cookie is honoured only from the server's own origin.
 */

import { beforeAll, expect, it } from 'vitest';
import { type LockServer } from '../../server/index.js';
import { TOKEN_SPECS, TOKENS } from '../spec/remote.js';
import { dashboardFixture, launch, openDashboard, type Browser } from './support.js';

const fx = dashboardFixture();
let browser: Browser;
let server: LockServer | null = null;
beforeAll(() => {
  browser = fx.browser;
});

const HOSTILE = '<img src=x onerror="window.__xss=(window.__xss||0)+1">';

async function start(): Promise<LockServer> {
  const dir = fx.dumpDir('lockscope-browser-sec-');
  server = await fx.serve({
    port: 0, node: 'web-test', tokens: TOKEN_SPECS, dumps: { dir, rateLimitMs: 0 },
    domains: [{ name: 'lin', kind: 'dlm' }, { name: HOSTILE, kind: 'dlm' }],
  });
  return server;
}

it('a domain named like markup shows as text in the wait-time legend and runs no script', async () => {
  const s = await start();
  const errors: string[] = [];
  const page = await openDashboard(browser, s.url, TOKENS.viewer, errors);
  // A grant in that domain puts it in the wait-time legend (every grant is a wait sample, 0 ms included).
  await s.manager.owner('holder').lock(HOSTILE, 'inode:1', 'EX');
  await page.waitForFunction(`document.getElementById('series-legend')?.textContent.includes(${JSON.stringify(HOSTILE)})`);
  // Parsed as markup, the name would have made an <img> (whose failed load runs the handler); as text it made none.
  expect(await page.locator('img').count()).toBe(0);
  expect(await page.evaluate('window.__xss')).toBeUndefined();
  expect(errors).toEqual([]);
}, 40_000);

it('the page is served with a policy that blocks inline script: an injected handler is refused, not run', async () => {
  const s = await start();
  const res = await fetch(`${s.url}/`);
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp.split(';').map((d) => d.trim())).toContain("script-src 'self'");
  const enforcing = await launch({ enforceCsp: true });
  try {
    const errors: string[] = [];
    const page = await enforcing.context.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${s.url}/#token=${TOKENS.viewer}`);
    // The page itself runs under its policy: it goes live (a locator, not a string probe, which the policy forbids).
    await page.locator('#conn', { hasText: 'live' }).waitFor({ timeout: 5000 });
    // Markup that escaping had missed: Chromium reports the blocked handler as a policy violation.
    const violation = await page.evaluate(`new Promise((resolve) => {
      document.addEventListener('securitypolicyviolation', (e) => resolve(e.effectiveDirective), { once: true });
      document.body.insertAdjacentHTML('beforeend', '<img src=/nowhere.png onerror="window.__ran = true">');
    })`);
    expect(violation).toBe('script-src-attr');
    expect(await page.evaluate('window.__ran')).toBeUndefined();
    expect(errors).toEqual([]);
  } finally {
    await enforcing.close();
  }
  // It starts a second Chromium (one that enforces the policy): ~20 s on a loaded 2-core machine.
}, 60_000);

it('the #token becomes an HttpOnly SameSite=Strict cookie: gone from the URL, page storage and document.cookie', async () => {
  const s = await start();
  const page = await openDashboard(browser, s.url, TOKENS.admin);
  expect(await page.locator('#role').innerText()).toBe('admin');
  const seen = await page.evaluate(`({
    hash: location.hash, cookie: document.cookie,
    local: JSON.stringify(Object.entries(localStorage)), session: JSON.stringify(Object.entries(sessionStorage)),
  })`) as Record<string, string>;
  for (const v of Object.values(seen)) expect(v).not.toContain(TOKENS.admin);
  const cookies = await browser.context.cookies(s.url);
  expect(cookies.map((c) => ({ value: decodeURIComponent(c.value), httpOnly: c.httpOnly, sameSite: c.sameSite }))).toEqual([
    { value: TOKENS.admin, httpOnly: true, sameSite: 'Strict' },
  ]);
  // Emptying the token box signs the page out: the cookie is cleared and the page has no access.
  await page.locator('#token-form button').click();
  await page.waitForFunction(`document.getElementById('role')?.textContent === 'no access'`);
  expect(await browser.context.cookies(s.url)).toEqual([]);
}, 40_000);

it('the cookie counts only from the server\'s own origin, never for another page of the same site, and a bad token sets none', async () => {
  const s = await start();
  const cookie = `lockscope_token=${encodeURIComponent(TOKENS.admin)}`;
  const host = new URL(s.url).host;
  const whoami = (headers: Record<string, string>) => fetch(`${s.url}/api/whoami`, { headers });
  expect((await whoami({ cookie })).status).toBe(200);
  expect(((await (await whoami({ cookie, origin: `http://${host}` })).json()) as { role: string }).role).toBe('admin');
  // Another port of the same host is the same site for SameSite: its requests carry the cookie, and their Origin.
  const other = await whoami({ cookie, origin: 'http://127.0.0.1:1' });
  expect(other.status).toBe(403);
  expect(((await other.json()) as { error: { code: string } }).error.code).toBe('EPERM');
  const refused = await fetch(`${s.url}/api/page-session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: 'not-a-token-of-this-server' }) });
  expect(refused.status).toBe(403);
  expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('EPERM');
  expect(refused.headers.get('set-cookie')).toBeNull();
  // Not JSON (what a form on another site's page could send): refused before the token is looked at.
  const form = await fetch(`${s.url}/api/page-session`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ token: TOKENS.admin }) });
  expect(((await form.json()) as { error: { code: string } }).error.code).toBe('EINVAL');
  expect(form.headers.get('set-cookie')).toBeNull();
});
