/**
 * Sessions between real clients and a real server: contention, deadlock
 * across clients, survival within the lease, expiry after it, and the
 * boundaries between sessions and roles.
 */

import { afterEach, describe, expect, it } from 'vitest';
import type { LockClient } from '../../client/index.js';
import type { LockServer } from '../../server/index.js';
import { codeOf, track } from '../spec/harness.js';
import { api, client, linkOf, sleep, socketOf, startServer, TOKENS, until } from './support.js';

let server: LockServer;
/** A raw socket's session secret: any 32 characters or more, the same on its reconnections. */
const RAW_SECRET = 'raw-client-secret-of-at-least-32-chars';

const clients: LockClient[] = [];
async function open(name: string, token?: string, transport?: 'ws' | 'socket.io'): Promise<LockClient> {
  const c = await client(server, name, token, transport);
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await server.close();
});

describe('two clients', () => {
  it('contend for one resource: the second waits and is granted on release, with a higher token', async () => {
    server = await startServer();
    const [a, b] = [await open('a'), await open('b')];
    const la = await a.owner('job-a').lock('lin', 'shared', 'EX');
    const lb = track(b.owner('job-b').lock('lin', 'shared', 'EX'));
    await b.ping();
    expect(lb.done).toBe(false);
    await la.release();
    const got = await lb.promise;
    expect(got.state).toBe('granted');
    expect(got.token > la.token).toBe(true);
  });

  it('deadlock across clients: the request that closes the cycle fails EDEADLK with the cycle, logged as one JSON line', async () => {
    const lines: string[] = [];
    server = await startServer({ log: (l) => lines.push(l) });
    const [a, b] = [await open('a'), await open('b')];
    const oa = a.owner('tx-a');
    const ob = b.owner('tx-b');
    const a1 = await oa.lock('lin', 'r1', 'EX');
    await ob.lock('lin', 'r2', 'EX');
    const aWaits = track(oa.lock('lin', 'r2', 'EX'));
    await a.ping();
    const err = (await ob.lock('lin', 'r1', 'EX').then(() => null, (e: unknown) => e)) as { code: string; cycle: { owner: string }[] };
    expect(err.code).toBe('EDEADLK');
    expect(err.cycle.map((c) => c.owner).sort()).toEqual(['tx-a', 'tx-b']);
    expect(aWaits.done).toBe(false);
    await b.owner('x').releaseAll(); // unrelated owner: nothing changes
    const held = await api(server, '/api/locks?domain=lin&resource=r2');
    expect(held.body.map((l: { owner: string; state: string }) => `${l.owner}:${l.state}`)).toEqual(['tx-b:granted', 'tx-a:waiting']);
    expect(a1.state).toBe('granted');
    const logged = lines.map((l) => JSON.parse(l) as { event: string; level: string; victim?: string }).filter((l) => l.event === 'deadlock');
    expect(logged.map((l) => [l.level, l.victim])).toEqual([['warn', 'tx-b']]);
  });
});

describe('sessions and leases', () => {
  it('a client that reconnects within the lease keeps its locks and its session', async () => {
    server = await startServer({ leaseMs: 2000 });
    const a = await open('a');
    const lock = await a.owner('keeper').lock('lin', 'kept', 'EX');
    const session = a.session;
    linkOf(a).cut(); // the transport drops; the client reconnects by itself
    await until(() => linkOf(a).connected === false);
    await until(() => linkOf(a).connected);
    await a.ping();
    expect(a.session).toBe(session);
    expect(lock.state).toBe('granted');
    const other = await open('b');
    expect(await codeOf(other.owner('intruder').lock('lin', 'kept', 'EX', { noQueue: true }))).toBe('EAGAIN');
    await lock.release();
    await other.owner('next').lock('lin', 'kept', 'EX', { noQueue: true });
  });

  it('a grant that happens while the client is away is delivered when it returns', async () => {
    server = await startServer({ leaseMs: 2000 });
    const [a, b] = [await open('a'), await open('b')];
    const held = await a.owner('holder').lock('lin', 'r', 'EX');
    const waiting = track(b.owner('waiter').lock('lin', 'r', 'EX'));
    await b.ping();
    linkOf(b).disconnect();
    await held.release();
    await sleep(50);
    linkOf(b).connect();
    const got = await waiting.promise;
    expect(got.state).toBe('granted');
    expect(b.session).not.toBeNull();
  });

  it('after the lease passes, the locks are gone (session-expired), waiters get them, and the client is told', async () => {
    server = await startServer({ leaseMs: 300 });
    const [a, b] = [await open('a'), await open('b')];
    const ownerA = a.owner('leaser');
    const lock = await ownerA.lock('lin', 'r', 'EX');
    await b.owner('busy-holder').lock('lin', 'busy', 'EX');
    const pending = track(ownerA.lock('lin', 'busy', 'EX'));
    const next = track(b.owner('next').lock('lin', 'r', 'EX'));
    await a.ping();
    const old = a.session;
    linkOf(a).disconnect();
    await next.promise; // granted when a's session expired
    expect(next.value!.state).toBe('granted');
    linkOf(a).connect();
    await until(() => lock.state === 'lost');
    expect(lock.lostReason).toBe('session-expired');
    expect(await codeOf(pending.promise)).toBe('EREVOKED');
    expect(a.session).not.toBe(old);
    // The owner can go on in the new session.
    const again = await ownerA.lock('lin', 'fresh', 'EX');
    expect(again.state).toBe('granted');
    const sessions = await api(server, '/api/sessions');
    expect(sessions.body.map((s: { client: string }) => s.client).sort()).toEqual(['a', 'b']);
  });

  it('a server restart: the client reconnects by itself, is told its session is gone, and goes on in a new one', async () => {
    server = await startServer();
    const port = Number(new URL(server.url).port);
    const a = await open('a');
    const owner = a.owner('survivor');
    const lock = await owner.lock('lin', 'r', 'EX');
    const old = a.session;
    await server.close();
    server = await startServer({ port });
    await until(() => lock.state === 'lost');
    expect(lock.lostReason).toBe('session-expired');
    expect(a.session).not.toBe(old);
    const again = await owner.lock('lin', 'r', 'EX', { noQueue: true });
    expect(again.state).toBe('granted');
  });

  it('a request aborted while the client is away fails ECANCELED and never reaches the server', async () => {
    server = await startServer({ leaseMs: 5000 });
    const a = await open('a');
    const owner = a.owner('o');
    await owner.lock('lin', 'warm', 'EX');
    linkOf(a).disconnect();
    await until(() => !a.conn.connected);
    const ac = new AbortController();
    const p = track(owner.lock('lin', 'r', 'EX', { signal: ac.signal }));
    ac.abort();
    expect(await codeOf(p.promise)).toBe('ECANCELED');
    linkOf(a).connect();
    await until(() => a.conn.connected);
    await a.ping();
    const rows = (await api(server, '/api/locks?domain=lin')).body as { resource: string }[];
    expect(rows.map((r) => r.resource)).toEqual(['warm']);
  });

  it('close() ends the session at once: everything is released, not kept for the lease', async () => {
    server = await startServer({ leaseMs: 60_000 });
    const a = await client(server, 'a');
    await a.owner('o').lock('lin', 'r', 'EX');
    await a.close();
    const b = await open('b');
    const l = await b.owner('p').lock('lin', 'r', 'EX', { noQueue: true });
    expect(l.state).toBe('granted');
  });

  it('remote owners are named by client, host and pid in the snapshot and the graph', async () => {
    server = await startServer();
    const a = await open('web-1');
    await a.owner('job-7', { meta: { tag: 'x' } }).lock('lin', 'r', 'EX');
    const b = await open('web-2');
    void b.owner('job-8').lock('lin', 'r', 'PR').catch(() => {});
    await b.ping();
    const owners = (await api(server, '/api/owners')).body as { name: string; meta: Record<string, unknown> }[];
    const job7 = owners.find((o) => o.name === 'job-7')!;
    expect(job7.meta).toMatchObject({ tag: 'x', client: 'web-1', clientPid: process.pid });
    expect(typeof job7.meta.host).toBe('string');
    const graph = (await api(server, '/api/graph')).body as { nodes: { id: number; name: string; client: string; pid: number }[]; edges: { from: number; to: number }[] };
    const byName = new Map(graph.nodes.map((n) => [n.name, n]));
    expect(byName.get('job-8')).toMatchObject({ client: 'web-2', pid: process.pid });
    expect(graph.edges.map((e) => [e.from, e.to])).toEqual([[byName.get('job-8')!.id, byName.get('job-7')!.id]]);
  });
});

describe('permissions', () => {
  it("releasing another session's lock by id is EPERM; an unknown id is ENOENT", async () => {
    server = await startServer();
    // b speaks socket.io itself here: a release of a lock that is not its own cannot be sent through its handles.
    const [a, b] = [await open('a'), await open('b', TOKENS.other, 'socket.io')];
    const lock = await a.owner('o').lock('lin', 'r', 'EX');
    const sock = socketOf(b);
    const reply = await new Promise<{ error?: { code: string } }>((resolve) => sock.emit('release', { id: lock.id }, resolve));
    expect(reply.error?.code).toBe('EPERM');
    const convert = await new Promise<{ error?: { code: string } }>((resolve) => sock.emit('convert', { req: 1, id: lock.id, mode: 'NL' }, resolve));
    expect(convert.error?.code).toBe('EPERM');
    const unknown = await new Promise<{ error?: { code: string } }>((resolve) => sock.emit('release', { id: 999_999 }, resolve));
    expect(unknown.error?.code).toBe('ENOENT');
    expect(lock.state).toBe('granted');
  });

  it('a client token cannot break a lock through the admin API (EPERM); a viewer cannot either; an admin can', async () => {
    server = await startServer();
    const a = await open('a');
    const lock = await a.owner('o').lock('lin', 'r', 'EX');
    const asClient = await api(server, `/api/locks/${lock.id}/break`, TOKENS.client, { method: 'POST' });
    expect([asClient.status, asClient.body.error.code]).toEqual([403, 'EPERM']);
    const asViewer = await api(server, `/api/locks/${lock.id}/break`, TOKENS.viewer, { method: 'POST' });
    expect([asViewer.status, asViewer.body.error.code]).toEqual([403, 'EPERM']);
    const noToken = await api(server, '/api/snapshot', null);
    expect([noToken.status, noToken.body.error.code]).toEqual([403, 'EPERM']);
    expect(lock.state).toBe('granted');
    const asAdmin = await api(server, `/api/locks/${lock.id}/break`, TOKENS.admin, { method: 'POST' });
    expect(asAdmin.status).toBe(200);
    await until(() => lock.state === 'lost');
    expect(lock.lostReason).toBe('revoked');
    const again = await api(server, `/api/locks/${lock.id}/break`, TOKENS.admin, { method: 'POST' });
    expect([again.status, again.body.error.code]).toEqual([404, 'ENOENT']);
  });

  it('an admin cancels a waiter: it fails ECANCELED', async () => {
    server = await startServer();
    const a = await open('a');
    await a.owner('holder').lock('lin', 'r', 'EX');
    const w = track(a.owner('waiter').lock('lin', 'r', 'EX'));
    await a.ping();
    const rows = (await api(server, '/api/locks?state=waiting')).body as { id: number }[];
    expect(rows).toHaveLength(1);
    const viewer = await api(server, `/api/waits/${rows[0]!.id}/cancel`, TOKENS.viewer, { method: 'POST' });
    expect(viewer.status).toBe(403);
    const admin = await api(server, `/api/waits/${rows[0]!.id}/cancel`, TOKENS.admin, { method: 'POST' });
    expect(admin.status).toBe(200);
    expect(await codeOf(w.promise)).toBe('ECANCELED');
  });

  it('a viewer token may not take locks (it gets no session at all); a bad token cannot connect', async () => {
    server = await startServer();
    expect(await codeOf(client(server, 'viewer', TOKENS.viewer))).toBe('EPERM');
    expect(await codeOf(client(server, 'bad', 'not-a-valid-token-at-all'))).toBe('EPERM');
  });

  it('refuses to listen on a non-loopback address without tokens', async () => {
    server = await startServer();
    expect(await codeOf(startServer({ host: '0.0.0.0', tokens: [] }))).toBe('EPERM');
    const port = Number(new URL(server.url).port);
    expect(await codeOf(startServer({ port }))).toBe('EADDRINUSE');
  });
});

describe('replies lost with a connection', () => {
  it('sync: the server answers again what it already answered, and names what it never received', async () => {
    server = await startServer({ leaseMs: 5000 });
    const { io } = await import('socket.io-client');
    const first = io(server.url, { transports: ['websocket'], auth: { token: TOKENS.client, name: 'raw', secret: RAW_SECRET }, reconnection: false, forceNew: true });
    const info = await new Promise<{ id: string }>((resolve) => first.once('session', resolve));
    const emit = (s: typeof first, event: string, msg: unknown) => new Promise<any>((resolve) => (s.emit as any)(event, msg, resolve));
    expect(await emit(first, 'owner', { oid: 1, name: 'o' })).toEqual({ ok: null });
    const granted = await emit(first, 'lock', { req: 5, oid: 1, domain: 'lin', resource: 'r', mode: 'EX' });
    expect(granted.ok.state).toBe('granted');
    first.disconnect();
    const second = io(server.url, { transports: ['websocket'], auth: { token: TOKENS.client, name: 'raw', session: info.id, secret: RAW_SECRET }, reconnection: false, forceNew: true });
    const resumed = await new Promise<{ id: string; resumed: boolean }>((resolve) => second.once('session', resolve));
    expect(resumed).toMatchObject({ id: info.id, resumed: true });
    const replies: unknown[] = [];
    // Late replies travel in the server's `m` batches, in order, before the sync's own reply.
    second.on('m', (items: unknown[][]) => {
      for (const [event, m] of items) if (event === 'reply') replies.push(m);
    });
    expect(await emit(second, 'sync', { reqs: [5, 6] })).toEqual({ ok: { unknown: [6] } });
    expect(replies).toEqual([{ req: 5, reply: granted }]);
    // The owner registration sent again is not an error; the lock is still this session's.
    expect(await emit(second, 'owner', { oid: 1, name: 'o' })).toEqual({ ok: null });
    expect(await emit(second, 'release', { id: granted.ok.id })).toEqual({ ok: null });
    second.disconnect();
  });
});

describe('owners that the application drops', () => {
  it('dropOwner: the server forgets an owner that holds nothing, and keeps one that still holds', async () => {
    server = await startServer();
    const { io } = await import('socket.io-client');
    const s = io(server.url, { transports: ['websocket'], auth: { token: TOKENS.client, name: 'raw' }, reconnection: false, forceNew: true });
    await new Promise((resolve) => s.once('session', resolve));
    const emit = (event: string, msg: unknown) => new Promise<any>((resolve) => (s.emit as any)(event, msg, resolve));
    await emit('owner', { oid: 1, name: 'o' });
    const l = await emit('lock', { req: 1, oid: 1, domain: 'lin', resource: 'r', mode: 'EX' });
    expect(await emit('dropOwner', { oid: 1 })).toEqual({ ok: { dropped: false } });
    await emit('release', { id: l.ok.id });
    expect(await emit('dropOwner', { oid: 1 })).toEqual({ ok: { dropped: true } });
    expect((await emit('lock', { req: 2, oid: 1, domain: 'lin', resource: 'r', mode: 'EX' })).error.code).toBe('ENOENT');
    s.disconnect();
  });

  it('an owner object the client garbage-collects is dropped on the server', async () => {
    const v8 = await import('node:v8');
    const vm = await import('node:vm');
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    server = await startServer();
    const a = await open('a');
    await (async () => {
      const l = await a.owner('short-lived').lock('lin', 'r', 'EX');
      await l.release();
    })();
    const count = async (): Promise<number> => ((await api(server, '/api/sessions')).body as { owners: number }[])[0]!.owners;
    expect(await count()).toBe(1);
    await until(async () => {
      gc();
      await sleep(20);
      return (await count()) === 0;
    }, 5000);
  });
});
