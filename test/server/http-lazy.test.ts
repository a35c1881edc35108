/**
 * The HTTP side (express) is built on the first HTTP request (server.ts,
 * http-app.ts): requests that arrive together before it is ready all wait for
 * it and are answered as usual, and the lock protocol works before any HTTP
 * request was made. Until then express is not even loaded (seen in this
 * process's CommonJS module cache), and the server logs `http-ready` once,
 * when it has built the app.
 */

import { createRequire } from 'node:module';
import { sep } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LockServer } from '../../server/index.js';
import type { LockClient } from '../../client/index.js';
import { api, client, startServer, TOKENS } from './support.js';

/** Whether a CommonJS package (express is one) has been loaded in this process; each test file runs in a process of its own. */
function loaded(pkg: string): boolean {
  return Object.keys(createRequire(import.meta.url).cache).some((path) => path.includes(`${sep}node_modules${sep}${pkg}${sep}`));
}

let server: LockServer | null = null;
let c: LockClient | null = null;

afterEach(async () => {
  await c?.close();
  await server?.close();
  c = null;
  server = null;
});

describe('the HTTP API, built on first use', () => {
  it('locks work before any HTTP request; the first requests, sent together, are all answered', async () => {
    const lines: string[] = [];
    const ready = (): unknown[] => lines.map((l) => JSON.parse(l) as { event: string }).filter((e) => e.event === 'http-ready');
    server = await startServer({ log: (l) => lines.push(l) });
    c = await client(server, 'early');
    const l = await c.owner('o').lock('lin', 'r', 'EX');
    expect(l.state).toBe('granted');
    expect(ready()).toEqual([]);
    expect(loaded('socket.io')).toBe(true); // the check sees a package the server has loaded
    expect(loaded('express')).toBe(false);

    const [health, grace, locks, bad, metrics] = await Promise.all([
      api(server, '/healthz', null),
      api(server, '/api/grace'),
      api(server, '/api/locks?domain=lin'),
      api(server, '/api/grace/lift', TOKENS.viewer, { method: 'POST' }),
      api(server, '/metrics'),
    ]);
    expect(health.status).toBe(200);
    expect([grace.status, grace.body.active]).toEqual([200, false]);
    expect([locks.status, locks.body.map((x: { resource: string }) => x.resource)]).toEqual([200, ['r']]);
    expect([bad.status, bad.body.error.code]).toEqual([403, 'EPERM']);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('lockscope_locks_held{domain="lin"} 1');
    expect(loaded('express')).toBe(true);
    expect(ready()).toEqual([expect.objectContaining({ ms: expect.any(Number) })]);
    expect((await api(server, '/healthz', null)).status).toBe(200);
    expect(ready()).toHaveLength(1);
  });
});
