/**
 * The reclaim protocol spoken directly (socket.io, no client library) to a
 * server restarted with SIGKILL: `done: true` on a client's last reclaim
 * message finishes it, after every reclaim it sent before on the connection;
 * the separate `reclaimComplete` still works; the owners' registrations and
 * the reclaim travel in one batch (`m`) and are answered in one; and the
 * reclaims are counted by the grace state, not as acquisitions in the
 * acquire-wait histogram.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReclaimItem, ReclaimResult, Reply, ServerItem, SessionInfo } from '../../client/protocol.js';
import type { ReclaimReport } from '../../client/index.js';
import { ADMIN, CLIENT, client, ServerProcess, until } from './support.js';
import { readTarGz } from '../dumps/support.js';

let server: ServerProcess | null = null;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await server?.kill();
  server = null;
});

async function raw(url: string, clientId: string, session?: string): Promise<{ socket: Socket; info: SessionInfo }> {
  const socket = io(url, {
    forceNew: true, transports: ['websocket'], reconnection: false,
    auth: { token: CLIENT, name: clientId, clientId, secret: `secret-of-${clientId}`.padEnd(40, '-'), ...(session === undefined ? {} : { session }) },
  });
  sockets.push(socket);
  const info = await new Promise<SessionInfo>((resolve, reject) => {
    socket.once('session', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, info };
}

function call<T>(s: Socket, event: string, msg: unknown): Promise<Reply<T>> {
  return new Promise((resolve) => s.emit(event, msg, resolve));
}

/** A client that holds `n` EX locks on lin, named prefix0..; returns its session id. */
async function holder(url: string, clientId: string, prefix: string, n: number): Promise<string> {
  const { socket, info } = await raw(url, clientId);
  expect(await call(socket, 'owner', { oid: 1, name: 'o' })).toEqual({ ok: null });
  const replies = await Promise.all(Array.from({ length: n }, (_, i) => call(socket, 'lock', { req: i + 1, oid: 1, domain: 'lin', resource: `${prefix}${i}`, mode: 'EX' })));
  expect(replies.every((r) => 'ok' in r)).toBe(true);
  return info.id;
}

/**
 * A server whose clients (id → how many EX locks, named by the id's last letter) took their locks,
 * then killed with SIGKILL and started again; returns each client's old session id.
 */
async function restartedAfter(holders: Record<string, number>): Promise<{ srv: ServerProcess; sessions: Record<string, string> }> {
  const srv = await ServerProcess.create({ graceMs: 60_000 });
  server = srv;
  await srv.start();
  const sessions: Record<string, string> = {};
  for (const [clientId, n] of Object.entries(holders)) sessions[clientId] = await holder(srv.url, clientId, clientId.slice(-1), n);
  await srv.kill();
  for (const s of sockets.splice(0)) s.close();
  await srv.start();
  return { srv, sessions };
}

const items = (prefix: string, from: number, to: number): ReclaimItem[] =>
  Array.from({ length: to - from }, (_, i) => ({ kind: 'dlm', oid: 1, domain: 'lin', resource: `${prefix}${from + i}`, mode: 'EX' }));

async function metric(url: string, line: string): Promise<number | null> {
  const text = await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? null : Number(found.slice(line.length + 1));
}

describe('the last reclaim message says the client is done', () => {
  it('done: true finishes the client after its earlier reclaims on the connection; reclaimComplete still works; reclaims are no acquisitions in the metrics', async () => {
    const { srv, sessions: { 'client-a': sessionA, 'client-b': sessionB } } = await restartedAfter({ 'client-a': 300, 'client-b': 1 });

    const a = await raw(srv.url, 'client-a', sessionA);
    const b = await raw(srv.url, 'client-b', sessionB);
    expect([a.info.reclaim, b.info.reclaim]).toEqual([true, true]);
    expect(await call(a.socket, 'owner', { oid: 1, name: 'o' })).toEqual({ ok: null });
    expect(await call(b.socket, 'owner', { oid: 1, name: 'o' })).toEqual({ ok: null });

    // Sent back to back: the short last message must not finish the client before the long first one is handled.
    const [first, last] = await Promise.all([
      call<ReclaimResult[]>(a.socket, 'reclaim', { req: 1000, items: items('a', 0, 256) }),
      call<ReclaimResult[]>(a.socket, 'reclaim', { req: 1001, items: items('a', 256, 300), done: true }),
    ]);
    for (const r of [first, last]) expect('ok' in r && r.ok.every((x) => 'lock' in x)).toBe(true);
    expect(((first as { ok: ReclaimResult[] }).ok.length) + ((last as { ok: ReclaimResult[] }).ok.length)).toBe(300);
    const mid = await srv.api('/api/grace');
    expect(mid.body).toMatchObject({ active: true, completed: ['client-a'], reclaims: 300 });

    // The old way: reclaim, then reclaimComplete.
    const rb = await call<ReclaimResult[]>(b.socket, 'reclaim', { req: 1, items: items('b', 0, 1) });
    expect('ok' in rb && rb.ok.every((x) => 'lock' in x)).toBe(true);
    expect(await call(b.socket, 'reclaimComplete', {})).toEqual({ ok: null });
    await until(async () => (await srv.api('/api/grace')).body.active === false);
    expect((await srv.api('/api/grace')).body).toMatchObject({ ended: 'all-reclaimed', reclaims: 301 });

    // A reclaim after done: refused.
    const late = await call<ReclaimResult[]>(a.socket, 'reclaim', { req: 1002, items: items('late', 0, 1) });
    expect('ok' in late && late.ok.map((x) => ('error' in x ? x.error.code : 'granted'))).toEqual(['ENOGRACE']);

    // One new grant after grace: the acquire-wait histogram counts it and none of the 301 reclaims.
    expect(await call(a.socket, 'lock', { req: 2000, oid: 1, domain: 'lin', resource: 'new', mode: 'EX' })).toMatchObject({ ok: { state: 'granted' } });
    expect(await metric(srv.url, 'lockscope_acquire_wait_seconds_count{domain="lin",mode="EX"}')).toBe(1);
    expect(await metric(srv.url, 'lockscope_grace_reclaims')).toBe(301);
  });
});

describe('a reclaim in a batch', () => {
  it('the owner registration, the reclaim and done go in one message and are answered in one', async () => {
    const { srv, sessions: { 'client-c': session } } = await restartedAfter({ 'client-c': 3 });

    const c = await raw(srv.url, 'client-c', session);
    expect(c.info.reclaim).toBe(true);
    const answer = new Promise<ServerItem[]>((resolve) => c.socket.once('m', resolve));
    const lvb = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]).toString('base64');
    const all: ReclaimItem[] = [
      ...items('c', 0, 2), { kind: 'dlm', oid: 1, domain: 'lin', resource: 'c2', mode: 'EX', lvb }, { kind: 'dlm', oid: 1, domain: 'data', resource: 'd', mode: 'EX' },
    ];
    c.socket.emit('m', [[1, 'owner', { oid: 1, name: 'o' }], [2, 'reclaim', { req: 10, items: all, done: true }]]);
    const batch = await answer;
    // In the server's order: the owner registered, grace lifted by done (the only recorded client), then the reclaim's reply.
    expect(batch.map((i) => (i[0] === 'ack' ? `ack ${i[1]}` : i[0]))).toEqual(['ack 1', 'grace', 'ack 2']);
    expect(batch[0]).toEqual(['ack', 1, { ok: null }]);
    expect(batch[1]).toEqual(['grace', { active: false }]);
    const results = (batch[2] as ['ack', number, { ok: ReclaimResult[] }])[2].ok;
    expect(results.map((r) => ('lock' in r ? 'granted' : r))).toEqual(['granted', 'granted', 'granted', 'granted']);
    // A reclaimed lock's reply leaves out what it does not have: no value block in 'data' (id and token only);
    // the value block given back in 'lin'.
    const locks = results.map((r) => (r as unknown as { lock: Record<string, unknown> }).lock);
    expect(Object.keys(locks[3]!).sort()).toEqual(['id', 'token']);
    expect(locks[2]!.lvb).toBe(lvb);
    expect((await srv.api('/api/grace')).body).toMatchObject({ active: false, ended: 'all-reclaimed', reclaims: 4 });
  });
});

describe('request sites sent with a reclaim', () => {
  it('items carry their sites numbered on the connection, as lock requests do; a number never sent with its text is EINVAL for the whole message', async () => {
    const { srv, sessions: { 'client-s': session } } = await restartedAfter({ 'client-s': 2 });

    const c = await raw(srv.url, 'client-s', session);
    expect(await call(c.socket, 'owner', { oid: 1, name: 'o' })).toEqual({ ok: null });
    const [first, second] = items('s', 0, 2) as [ReclaimItem, ReclaimItem];
    const site = '    at here (/app/x.js:1:1)';
    const bad = await call(c.socket, 'reclaim', { req: 1, items: [{ ...first, site, siteId: 1 }, { ...second, siteId: 2 }] });
    expect(bad).toMatchObject({ error: { code: 'EINVAL' } });
    expect((bad as { error: { message: string } }).error.message).toContain('siteId 2 was never sent with its text');
    expect((await srv.api('/api/grace')).body).toMatchObject({ active: true, reclaims: 0 });
    // Site 1 was numbered by the refused message (as with a refused lock request): later items may name it alone.
    // A posix piece's item carries its site the same way.
    const piece: ReclaimItem = { kind: 'posix', oid: 1, domain: 'adv', resource: 'p0', request: { type: 'write', start: 0, len: 5 } };
    const good = await call<ReclaimResult[]>(c.socket, 'reclaim', {
      req: 2, items: [{ ...first, siteId: 1 }, { ...second, siteId: 1 }, { ...piece, siteId: 1 }], done: true,
    });
    expect('ok' in good && good.ok.map((r) => ('lock' in r ? 'lock' : 'token' in r ? 'piece' : r))).toEqual(['lock', 'lock', 'piece']);
    // Both locks show the site, marked as reclaimed (read from a dump, as a support engineer would).
    const taken = await srv.api('/api/dumps', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    const archive = join(srv.dumps, 'downloaded.tar.gz');
    writeFileSync(archive, Buffer.from(await (await fetch(`${srv.url}/api/dumps/${taken.body.id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).arrayBuffer()));
    const files = await readTarGz(archive);
    const lin = JSON.parse(files.get('locks/lin.json')!.toString('utf8')) as { resources: { name: string; granted: { stack: string }[] }[] };
    for (const r of ['s0', 's1']) {
      expect(lin.resources.find((x) => x.name === r)!.granted[0]!.stack).toBe('at here (/app/x.js:1:1)\nat <reclaimed after a server restart>');
    }
    const adv = JSON.parse(files.get('locks/adv.json')!.toString('utf8')) as { resources: { name: string; granted: { stack: string }[] }[] };
    expect(adv.resources.find((x) => x.name === 'p0')!.granted[0]!.stack).toBe('at here (/app/x.js:1:1)\nat <reclaimed after a server restart>');
  });
});

describe('reclaim batches are bounded in bytes', () => {
  it('300 locks with two-byte characters in their names (each batch would pass 64 KiB if counted in characters) are all reclaimed', async () => {
    server = await ServerProcess.create({ graceMs: 60_000 });
    await server.start();
    const c = await client(server, 'wide');
    try {
      const o = c.owner('o');
      const name = (i: number): string => `${'é'.repeat(120)}${i}`;
      await Promise.all(Array.from({ length: 300 }, (_, i) => o.lock('lin', name(i), 'EX')));
      const report = new Promise<ReclaimReport>((resolve) => c.on('reclaim', resolve));
      await server.kill();
      await server.start();
      const r = await report;
      expect([r.reclaimed, r.lost.length]).toEqual([300, 0]);
      expect([...c.handles.values()].filter((h) => h.state === 'granted').length).toBe(300);
    } finally {
      await c.close();
    }
  });
});
