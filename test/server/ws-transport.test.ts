/**
 * The lock protocol over a plain WebSocket (server/ws-server.ts,
 * ws-link.ts; server/README.md, "Transports"): the frames of
 * client/protocol.ts spoken by hand with the `ws` client, against a real
 * server. The same admission, protocol and bounds as socket.io's.
 */

import { mkdtempSync } from 'node:fs';
import { connect as tcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { HandshakeAuth } from '../../client/protocol.js';
import { WS_CLOSE_BY_SERVER } from '../../client/protocol-ws.js';
import type { LockClient } from '../../client/index.js';
import type { LockServer, ServerOptions } from '../../server/index.js';
import { serverLimits } from '../../server/limits.js';
import { readTarGz } from '../dumps/support.js';
import { api, client, sleep, startServer, TOKENS, until } from './support.js';
import { WsPeer } from './ws-support.js';

let server: LockServer | null = null;
const peers: WsPeer[] = [];
const clients: LockClient[] = [];
const sockets: Socket[] = [];
let lines: { level: string; event: string; [k: string]: unknown }[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) p.close();
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
  server = null;
  lines = [];
});

async function start(options: ServerOptions = {}): Promise<LockServer> {
  server = await startServer({ log: (l) => lines.push(JSON.parse(l)), ...options });
  return server;
}

async function peer(options = {}, path?: string): Promise<WsPeer> {
  const p = await WsPeer.open(server!, options, path);
  peers.push(p);
  return p;
}

const SECRET = 'a-ws-client-secret-of-at-least-32-characters';
const auth = (more: Partial<HandshakeAuth> = {}): HandshakeAuth => ({ token: TOKENS.client, name: 'ws-1', ...more });

/** A peer whose session is open, with the `session` frame's info. */
async function admitted(more: Partial<HandshakeAuth> = {}): Promise<{ p: WsPeer; info: any }> {
  const p = await peer();
  const [event, info] = await p.hello(auth(more));
  expect(event).toBe('session');
  return { p, info };
}

const sessionsList = async (): Promise<{ id: string; state: string }[]> => (await api(server!, '/api/sessions', TOKENS.viewer)).body;

describe('the ws transport', () => {
  it('hello gets the session with heartbeatMs; a lock in an m batch and a release as a call with an id', async () => {
    await start({ leaseMs: 9_000 });
    const { p, info } = await admitted();
    expect(info).toMatchObject({ resumed: false, expired: null, leaseMs: 9_000, heartbeatMs: 3_000, restarted: false, grace: false });
    const got = await p.batch([[1, 'owner', { oid: 1, name: 'job' }], [2, 'lock', { req: 1, oid: 1, domain: 'lin', resource: 'r', mode: 'EX' }]]);
    expect(got.get(1)).toEqual({ ok: null });
    const lock = got.get(2).ok;
    expect(lock).toMatchObject({ domain: 'lin', resource: 'r', mode: 'EX', state: 'granted' });
    const held = (await api(server!, '/api/locks', TOKENS.viewer)).body as { resource: string; owner: string }[];
    expect(held.map((l) => [l.resource, l.owner])).toEqual([['r', 'job']]);
    expect(await p.call('release', { id: lock.id })).toEqual({ ok: null });
    expect((await api(server!, '/api/locks', TOKENS.viewer)).body).toEqual([]);
    expect(await p.call('ping', {})).toMatchObject({ ok: { time: expect.any(Number) } });
  });

  it('a ws client and a socket.io client share one lock table: the grant a release hands on arrives in an m batch', async () => {
    await start();
    const c = await client(server!, 'io-1');
    clients.push(c);
    const held = await c.owner('io-owner').lock('lin', 'hot', 'EX');
    const { p } = await admitted();
    await p.batch([[1, 'owner', { oid: 1, name: 'ws-owner' }]]);
    p.send(['m', [[2, 'lock', { req: 1, oid: 1, domain: 'lin', resource: 'hot', mode: 'EX' }]]]);
    await sleep(50);
    expect(p.frames.some((f) => f[0] === 'm' && (f[1] as unknown[][]).some((i) => i[1] === 2))).toBe(false);
    await held.release();
    const grant = await p.next((f) => f[0] === 'm' && (f[1] as unknown[][]).some((i) => i[0] === 'ack' && i[1] === 2));
    expect((grant[1] as unknown[][]).find((i) => i[1] === 2)![2]).toMatchObject({ ok: { resource: 'hot', mode: 'EX', state: 'granted' } });
  });

  it('a refused hello gets ["refused", error] and close 4000: a bad token, a bad schema, a first frame that is not hello', async () => {
    await start();
    const bad = await peer();
    expect(await bad.hello(auth({ token: 'not-a-token' }))).toEqual(['refused', expect.objectContaining({ code: 'EPERM' })]);
    expect(await bad.closed).toBe(WS_CLOSE_BY_SERVER);
    const viewer = await peer();
    expect((await viewer.hello(auth({ token: TOKENS.viewer })))[1]).toMatchObject({ code: 'EPERM' }); // S1
    const schema = await peer();
    expect(await schema.hello({ token: TOKENS.client } as HandshakeAuth)).toEqual(['refused', expect.objectContaining({ code: 'EINVAL' })]);
    expect(await schema.closed).toBe(WS_CLOSE_BY_SERVER);
    const first = await peer();
    first.send(['ping', {}, 1]);
    expect(await first.next((f) => f[0] === 'refused')).toEqual(['refused', expect.objectContaining({ code: 'EINVAL' })]);
    expect(await first.closed).toBe(WS_CLOSE_BY_SERVER);
    expect(lines.filter((l) => l.event === 'connection-refused').map((l) => l.code)).toEqual(['EPERM', 'EPERM', 'EINVAL', 'EINVAL']);
    expect(await sessionsList()).toEqual([]);
  });

  it('a connection that sends no hello is closed after headersTimeoutMs, not before (socket.io\'s engine.io leaves it alone)', async () => {
    await start();
    const p = await peer();
    const t0 = Date.now();
    // engine.io ends an upgrade nothing answered after 1 s; this one has its 101.
    await sleep(1_500);
    expect(p.ws.readyState).toBe(p.ws.OPEN);
    expect(await p.closed).not.toBe(WS_CLOSE_BY_SERVER);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(serverLimits.headersTimeoutMs - 50);
  }, 20_000);

  it('an upgrade on another path is still refused (ended unanswered, as before the ws transport)', async () => {
    await start();
    await expect(WsPeer.open(server!, {}, '/elsewhere')).rejects.toThrow();
  });

  for (const [what, send] of [
    ['a binary frame', (p: WsPeer) => p.ws.send(Buffer.from([1, 2, 3]))],
    ['text that is not JSON', (p: WsPeer) => p.ws.send('{nope')],
    ['JSON that is not a frame', (p: WsPeer) => p.ws.send('{"lock":1}')],
    ['a frame over messageBytesMax', (p: WsPeer) => p.send(['ping', 'x'.repeat(serverLimits.messageBytesMax), 1])],
  ] as const) {
    it(`${what} ends the connection (a warn line); the session lives on and is resumed with its secret`, async () => {
      await start();
      const { p, info } = await admitted({ secret: SECRET });
      const got = await p.batch([[1, 'owner', { oid: 1, name: 'job' }], [2, 'lock', { req: 1, oid: 1, domain: 'lin', resource: 'kept', mode: 'EX' }]]);
      send(p);
      expect(await p.closed).not.toBe(WS_CLOSE_BY_SERVER);
      expect(lines.filter((l) => l.event === 'bad-frame')).toEqual([expect.objectContaining({ level: 'warn', session: info.id })]);
      await until(async () => (await sessionsList()).some((s) => s.id === info.id && s.state === 'disconnected'));
      const back = await admitted({ secret: SECRET, session: info.id });
      expect(back.info).toMatchObject({ id: info.id, resumed: true });
      expect(await back.p.call('release', { id: got.get(2).ok.id })).toEqual({ ok: null });
    });
  }

  it('an unknown event with an id is answered EINVAL; a message that cannot be batched is EINVAL under its key', async () => {
    await start();
    const { p } = await admitted();
    expect(await p.call('nonsense', {})).toMatchObject({ error: { code: 'EINVAL' } });
    expect(await p.call('hello', auth())).toMatchObject({ error: { code: 'EINVAL' } });
    const got = await p.batch([[1, 'ping', {}], [2, 'owner', { oid: 1, name: 'ok' }]]);
    expect(got.get(1)).toMatchObject({ error: { code: 'EINVAL' } });
    expect(got.get(2)).toEqual({ ok: null });
    // A bad message is answered and leaves the connection up.
    expect(await p.call('lock', { req: 1, oid: 1, domain: 'lin', resource: 'r', mode: 'XX' })).toMatchObject({ error: { code: 'EINVAL' } });
    expect(p.ws.readyState).toBe(p.ws.OPEN);
  });

  it('a session resumed on another connection: the first gets ["closed", session-taken-over] and close 4000', async () => {
    await start();
    const first = await admitted({ secret: SECRET });
    const second = await admitted({ secret: SECRET, session: first.info.id });
    expect(second.info).toMatchObject({ id: first.info.id, resumed: true });
    expect(await first.p.next((f) => f[0] === 'closed')).toEqual(['closed', { reason: 'session-taken-over' }]);
    expect(await first.p.closed).toBe(WS_CLOSE_BY_SERVER);
    expect(await second.p.call('ping', {})).toMatchObject({ ok: {} });
    expect(await sessionsList()).toEqual([expect.objectContaining({ id: first.info.id, state: 'live' })]);
  });

  it('the server pings every heartbeatMs; a client that answers stays, one that does not is cut off and its session detached', async () => {
    await start({ leaseMs: 3_000 }); // heartbeats of 1 s
    const quiet = await peer({ autoPong: false });
    let pings = 0;
    quiet.ws.on('ping', () => pings++);
    const t0 = Date.now();
    const [, info] = await quiet.hello(auth({ name: 'quiet' }));
    const lively = await admitted({ name: 'lively' });
    await quiet.closed;
    expect(pings).toBeGreaterThanOrEqual(1);
    expect(Date.now() - t0).toBeLessThan(2_500);
    expect((await sessionsList()).find((s) => s.id === (info as { id: string }).id)?.state).toBe('disconnected');
    await sleep(1_200);
    expect(await lively.p.call('ping', {})).toMatchObject({ ok: {} });
  });

  it('a hang-dump asks each ws client for its report: one answer recorded, one client that never answers recorded as such', async () => {
    await start({ dumps: { dir: mkdtempSync(join(tmpdir(), 'ls-ws-reports-')) } });
    const talker = await admitted({ name: 'talker' });
    talker.p.ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as unknown[];
      if (f[0] === 'report') talker.p.send(['ack', f[2], { client: 'talker', clientId: 'c', host: 'h', pid: 1, locks: [], locksTotal: 0, pendingCalls: 0, process: { said: 'hi' } }]);
    });
    await admitted({ name: 'mute' });
    const taken = await api(server!, '/api/dumps', TOKENS.admin, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(taken.status).toBe(200);
    const rec = (await server!.dumper!.list()).find((d) => d.id === taken.body.id)!;
    const files = await readTarGz(join(server!.dumper!.dir, rec.file));
    const reports = new Map([...files].filter(([p]) => /^clients\/[^/]+\/report\.json$/.test(p)).map(([p, d]) => [p.split('/')[1]!.replace(/-[0-9a-f]{8}$/, ''), JSON.parse(d.toString('utf8'))]));
    expect([...reports.keys()].sort()).toEqual(['mute', 'talker']);
    expect(reports.get('talker')).toMatchObject({ client: 'talker', process: { said: 'hi' } });
    expect(reports.get('mute')).toMatchObject({ client: 'mute', error: `no report within ${serverLimits.clientReportMs} ms` });
  }, 15_000);

  it('a stopping server closes ws connections with a code the client retries (not 4000), and close() does not hang', async () => {
    await start();
    const a = await admitted({ name: 'a' });
    const b = await peer(); // upgraded, no hello yet
    const t0 = Date.now();
    await server!.close();
    server = null;
    expect(Date.now() - t0).toBeLessThan(serverLimits.wsCloseTimeoutMs + 1_000);
    expect(await a.p.closed).toBe(1001);
    expect(await b.closed).toBe(1001);
  });

  it('a ws client that never answers the close frame does not hold close() up past wsCloseTimeoutMs', async () => {
    await start();
    const { hostname, port } = new URL(server!.url);
    // A raw upgrade: reads nothing after the 101, so no close frame is ever answered.
    const s = tcp({ host: hostname, port: Number(port) });
    sockets.push(s);
    s.on('error', () => {});
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    s.write(`GET /lockscope/ws HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    await new Promise<void>((resolve) => s.once('data', () => resolve()));
    const t0 = Date.now();
    await server!.close();
    server = null;
    expect(Date.now() - t0).toBeLessThan(serverLimits.wsCloseTimeoutMs + 1_000);
  });

  it('open mode: an upgrade from a foreign Origin or Host is answered 403 (O1, O2); our own origin gets a session', async () => {
    await start({ tokens: [] });
    await expect(peer({ origin: 'http://evil.example' })).rejects.toThrow('HTTP 403');
    await expect(peer({ headers: { host: 'evil.example' } })).rejects.toThrow('HTTP 403');
    const own = await peer({ origin: server!.url });
    expect((await own.hello({ name: 'local' }))[0]).toBe('session');
  });

  it('the connection bound: an upgrade with no hello yet is idle and makes room; an admitted ws connection is pinned', async () => {
    const max = 6;
    await start({ serverLimits: { connectionsMax: max } });
    const kept = await admitted();
    const idle = await peer();
    const { hostname, port } = new URL(server!.url);
    for (let i = 0; i < max; i++) {
      const s = tcp({ host: hostname, port: Number(port) });
      sockets.push(s);
      s.on('error', () => {});
      await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    }
    expect(await idle.closed).not.toBe(WS_CLOSE_BY_SERVER);
    expect(await kept.p.call('ping', {})).toMatchObject({ ok: {} });
  });
});
