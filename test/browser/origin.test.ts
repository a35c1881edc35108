/**
 * Open mode and other web pages (issue 13, item 14; server/README.md, rules
 * O1–O3): a page from another origin, in real Chromium, tries what a tester
 * did on the old server: take a lock over a raw WebSocket, read the state
 * through the feed, break a victim's lock and take a dump with `no-cors`
 * text/plain POSTs. A rebound host name is refused too. The dashboard itself
 * (same origin) and the Node client (no Origin header) keep working.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { connect, type LockClient } from '../../client/index.js';
import { createServer, type LockServer } from '../../server/index.js';
import { until } from '../server/support.js';
import { ensurePageBuilt, launch, openDashboard, type Browser } from './support.js';

let browser: Browser;
let server: LockServer | null = null;
let attacker: Server | null = null;
let victim: LockClient | null = null;
const dirs: string[] = [];

beforeAll(async () => {
  ensurePageBuilt();
  browser = await launch();
}, 60_000);
afterAll(async () => {
  await browser.close();
});
afterEach(async () => {
  await victim?.close();
  victim = null;
  await server?.close();
  server = null;
  attacker?.closeAllConnections();
  await new Promise<void>((resolve) => (attacker === null ? resolve() : attacker.close(() => resolve())));
  attacker = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * The hostile page: everything it manages is written to `window.results`.
 * socket.io's wire format spoken by hand over a raw WebSocket (engine.io v4:
 * `0` open, `2`/`3` ping/pong; socket.io: `40` connect, `42` event, `43` ack).
 */
const HOSTILE_PAGE = (target: string, victimLock: number): string => `<!doctype html><meta charset="utf-8"><script>
const target = ${JSON.stringify(target)};
const results = { lock: 'pending', feed: 'pending', break: 'pending', dump: 'pending' };
window.results = results;
function ws(namespace, onEvent) {
  return new Promise((resolve) => {
    let sock;
    try { sock = new WebSocket(target.replace('http', 'ws') + '/socket.io/?EIO=4&transport=websocket'); } catch (e) { return resolve('refused'); }
    const nsp = namespace === '/' ? '' : namespace + ',';
    sock.onerror = () => resolve('refused');
    sock.onclose = () => resolve('refused');
    sock.onmessage = (m) => {
      const d = String(m.data);
      if (d === '2') return sock.send('3');
      if (d.startsWith('0')) return sock.send('40' + nsp + JSON.stringify({ name: 'evil' }));
      if (d.startsWith('44' + nsp)) return resolve('refused');
      // '4' (message) + socket.io type + namespace + payload: handed on as type + payload.
      if (d.startsWith('4') && d.slice(2).startsWith(nsp)) onEvent(d[1] + d.slice(2 + nsp.length), (msg) => sock.send(msg), resolve);
    };
  });
}
(async () => {
  results.lock = await ws('/', (d, send, done) => {
    if (d.startsWith('2["session"')) {
      send('42' + JSON.stringify(['m', [[1, 'owner', { oid: 1, name: 'evil' }], [2, 'lock', { req: 1, oid: 1, domain: 'lin', resource: 'evil', mode: 'EX' }]]]));
    } else if (d.startsWith('2["m"') && d.includes('"granted"')) done('granted');
  });
})();
(async () => {
  results.feed = await ws('/feed', (d, _send, done) => { if (d.startsWith('2["snapshot"')) done('read'); });
})();
fetch(target + '/api/locks/${victimLock}/break', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{}' })
  .then(() => (results.break = 'sent'), () => (results.break = 'failed'));
fetch(target + '/api/dumps', { method: 'POST', mode: 'no-cors', headers: { 'content-type': 'text/plain' }, body: '{}' })
  .then(() => (results.dump = 'sent'), () => (results.dump = 'failed'));
</script>`;

async function openModeServer(): Promise<LockServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ls-origin-dumps-'));
  dirs.push(dir);
  return createServer({ port: 0, node: 'origin-test', domains: [{ name: 'lin', kind: 'dlm' }], dumps: { dir, rateLimitMs: 0 } });
}

async function json(url: string): Promise<any> {
  return (await fetch(url)).json();
}

it('a page of another origin takes no lock, reads nothing, breaks nothing and takes no dump', async () => {
  server = await openModeServer();
  victim = await connect(server.url, { name: 'victim' });
  const held = await victim.owner('v').lock('lin', 'victim', 'EX');

  attacker = createHttpServer((_req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(HOSTILE_PAGE(server!.url, held.id));
  });
  await new Promise<void>((resolve) => attacker!.listen(0, '127.0.0.1', () => resolve()));
  const page = await browser.context.newPage();
  await page.goto(`http://127.0.0.1:${(attacker.address() as { port: number }).port}/`);
  await page.waitForFunction(`Object.values(window.results).every((r) => r !== 'pending')`, undefined, { timeout: 15_000 });
  const results = await page.evaluate('window.results');
  await page.close();
  expect(results).toMatchObject({ lock: 'refused', feed: 'refused' });

  // What the page could not see, checked from here (a Node caller: no Origin).
  expect(held.state).toBe('granted');
  const snap = await json(`${server.url}/api/snapshot`);
  const resources = snap.domains.find((d: { name: string }) => d.name === 'lin').resources.map((r: { name: string }) => r.name);
  expect(resources).toEqual(['victim']);
  expect(await json(`${server.url}/api/dumps`)).toEqual([]);
});

it('a rebound host name is refused; the dashboard on its own origin and the Node client keep working', async () => {
  server = await openModeServer();
  const { port } = new URL(server.url);
  const rebound = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: Number(port), path: '/api/snapshot', headers: { host: `attacker.example:${port}` } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
  expect(rebound.status).toBe(403);
  expect(JSON.parse(rebound.body).error.code).toBe('EPERM');

  victim = await connect(server.url, { name: 'node-client' });
  const l = await victim.owner('n').lock('lin', 'by-node', 'EX');
  const page = await openDashboard(browser, server.url, null);
  // The page's own POST (JSON, same origin) still works: break the Node client's lock from the dashboard's origin.
  const status = await page.evaluate(
    `fetch('/api/locks/${l.id}/break', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }).then((r) => r.status)`,
  );
  expect(status).toBe(200);
  await page.close();
  await until(() => l.state === 'lost');
});
