/** The dashboard's live feed: the state on subscribing, then lock events in batches; viewers only. */

import { afterEach, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import type { LockServer } from '../../server/index.js';
import { client, startServer, TOKENS, until } from './support.js';

let server: LockServer;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await server.close();
});

function feed(token: string): Socket {
  const s = io(`${server.url}/feed`, { transports: ['websocket'], auth: { token }, reconnection: false, forceNew: true });
  sockets.push(s);
  return s;
}

it('a viewer gets the snapshot and sessions, then batched lock events in order', async () => {
  server = await startServer();
  const c = await client(server, 'feeder');
  await c.owner('early').lock('lin', 'before', 'EX');
  const f = feed(TOKENS.viewer);
  const snapshot = await new Promise<{ domains: { name: string; resources: { name: string }[] }[] }>((resolve) => f.once('snapshot', resolve));
  expect(snapshot.domains.find((d) => d.name === 'lin')!.resources.map((r) => r.name)).toEqual(['before']);
  const events: { event: string; payload: { resource?: string; owner?: string } }[] = [];
  f.on('batch', (b: { events: typeof events; overflow: boolean }) => {
    expect(b.overflow).toBe(false);
    events.push(...b.events);
  });
  await until(() => f.connected);
  const o = c.owner('live');
  const l = await o.lock('lin', 'r', 'EX');
  void c.owner('waiter').lock('lin', 'r', 'PR').catch(() => {});
  await c.ping();
  await l.release();
  await until(() => events.filter((e) => e.payload.resource === 'r').length >= 4);
  expect(events.filter((e) => e.payload.resource === 'r').map((e) => `${e.event}:${e.payload.owner}`)).toEqual([
    'granted:live', 'waiting:waiter', 'released:live', 'granted:waiter',
  ]);
  await c.close();
});

it('a client token or no token cannot subscribe', async () => {
  server = await startServer();
  for (const token of [TOKENS.client, 'x'.repeat(20)]) {
    const f = feed(token);
    const err = await new Promise<{ data?: { code: string } }>((resolve) => f.once('connect_error', resolve));
    expect(err.data?.code).toBe('EPERM');
  }
});

it('a dashboard filtered to one domain gets that domain only: the server filters (a room per domain)', async () => {
  server = await startServer();
  const c = await client(server, 'feeder');
  await c.owner('a').lock('lin', 'held-before', 'EX');
  await c.owner('p').setlk('adv', 'f-before', { type: 'write', start: 0, len: 1 });
  const f = feed(TOKENS.viewer);
  await new Promise((resolve) => f.once('snapshot', resolve));
  const filtered = new Promise<{ domains: { name: string; resources: { name: string }[] }[] }>((resolve) => f.once('snapshot', resolve));
  f.emit('subscribe', { domains: ['adv'] });
  const snap = await filtered;
  expect(snap.domains.map((d) => [d.name, d.resources.map((r) => r.name)])).toEqual([
    ['lin', []], ['data', []], ['adv', ['f-before']],
  ]);
  const seen: string[] = [];
  f.on('batch', (b: { events: { payload: { domain?: string; resource?: string } }[]; graph?: { edges: { domain: string }[] } }) => {
    for (const e of b.events) seen.push(`${e.payload.domain}:${e.payload.resource}`);
    for (const e of b.graph?.edges ?? []) seen.push(`edge:${e.domain}`);
  });
  const held = await c.owner('b').lock('lin', 'r', 'EX');
  void c.owner('w').lock('lin', 'r', 'EX').catch(() => {});
  await c.owner('q').setlk('adv', 'g', { type: 'write', start: 0, len: 5 });
  await until(() => seen.includes('adv:g'));
  await held.release();
  await c.ping();
  await new Promise((r) => setTimeout(r, 600));
  expect(seen.filter((x) => !x.startsWith('adv:'))).toEqual([]);
  // Bad input changes nothing: still filtered.
  f.emit('subscribe', { domains: ['no-such-domain'] });
  f.emit('subscribe', { domains: 'adv', extra: 1 });
  await c.owner('c').lock('lin', 'r2', 'EX');
  await c.owner('q').setlk('adv', 'h', { type: 'read', start: 0, len: 5 });
  await until(() => seen.includes('adv:h'));
  expect(seen.filter((x) => !x.startsWith('adv:'))).toEqual([]);
  await c.close();
});
