/**
 * Open mode's checks from Node, one rule at a time (server/README.md, "Web
 * pages and open mode", O1–O3); test/browser/origin.test.ts runs the attack
 * itself in Chromium. With tokens none of them applies.
 */

import { afterEach, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { connect, type LockClient } from '../../client/index.js';
import type { LockServer } from '../../server/index.js';
import { api, client, startServer, TOKENS, until } from './support.js';

let server: LockServer | null = null;
let c: LockClient | null = null;
afterEach(async () => {
  await c?.close();
  c = null;
  await server?.close();
  server = null;
});

function handshake(url: string, headers: Record<string, string>): Promise<string> {
  const s = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { name: 'h' }, extraHeaders: headers });
  return new Promise((resolve) => {
    s.once('session', () => { s.disconnect(); resolve('session'); });
    s.once('connect_error', () => { s.disconnect(); resolve('refused'); });
  });
}

it('open mode: a state-changing request must be JSON (O3), an Origin must be ours (O2), on HTTP and on the socket.io handshake', async () => {
  server = await startServer({ tokens: [] });
  c = await connect(server.url, { name: 'holder' });
  const held = await c.owner('o').lock('lin', 'r', 'EX');
  const path = `/api/locks/${held.id}/break`;

  const plain = await api(server, path, null, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' });
  expect(plain).toMatchObject({ status: 400, body: { error: { code: 'EINVAL' } } });
  const bare = await api(server, path, null, { method: 'POST' });
  expect(bare.body.error.code).toBe('EINVAL');
  expect(held.state).toBe('granted');

  const foreign = await api(server, '/api/snapshot', null, { headers: { origin: 'http://evil.example' } });
  expect(foreign).toMatchObject({ status: 403, body: { error: { code: 'EPERM' } } });
  const own = await api(server, '/api/snapshot', null, { headers: { origin: server.url } });
  expect(own.status).toBe(200);
  expect(await handshake(server.url, { origin: 'http://evil.example' })).toBe('refused');
  expect(await handshake(server.url, { origin: server.url })).toBe('session');

  const json = await api(server, path, null, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(json.status).toBe(200);
  await until(() => held.state === 'lost');
});

it('with tokens the token is the protection: a foreign Origin or a body-less POST is judged by the token alone', async () => {
  server = await startServer();
  c = await client(server, 'holder');
  const held = await c.owner('o').lock('lin', 'r', 'EX');
  expect((await api(server, '/api/snapshot', TOKENS.viewer, { headers: { origin: 'http://grafana.example' } })).status).toBe(200);
  expect((await api(server, `/api/locks/${held.id}/break`, TOKENS.admin, { method: 'POST' })).status).toBe(200);
  await until(() => held.state === 'lost');
});
