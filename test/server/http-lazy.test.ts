/**
 * The HTTP side (express) is built on the first HTTP request (server.ts,
 * http-app.ts): requests that arrive together before it is ready all wait for
 * it and are answered as usual, and the lock protocol works before any HTTP
 * request was made.
 */

import { afterEach, describe, expect, it } from 'vitest';
import type { LockServer } from '../../server/index.js';
import type { LockClient } from '../../src/client/index.js';
import { api, client, startServer, TOKENS } from './support.js';

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
    server = await startServer();
    c = await client(server, 'early');
    const l = await c.owner('o').lock('lin', 'r', 'EX');
    expect(l.state).toBe('granted');

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
  });
});
