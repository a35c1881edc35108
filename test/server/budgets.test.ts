/**
 * The server's budgets (server/budget.ts, server/README.md "Budgets"):
 * a viewer's refused requests store nothing; request sites are bounded per
 * session; locks, waits and owners are bounded for the whole server, per
 * principal and per session, refused ENOLCK naming the limit, and given
 * back when a session ends. Real servers, real socket.io connections.
 */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import type { LockClient } from '../../client/index.js';
import type { LockServer } from '../../server/index.js';
import { api, client, startServer, TOKENS } from './support.js';

let server: LockServer | null = null;
const clients: LockClient[] = [];
const raws: Socket[] = [];

afterEach(async () => {
  for (const r of raws.splice(0)) r.disconnect();
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  await server?.close();
  server = null;
});

async function rawSocket(s: LockServer, token: string, name: string): Promise<{ emit: (event: string, msg: unknown) => Promise<any> }> {
  const raw = io(s.url, { transports: ['websocket'], auth: { token, name }, reconnection: false, forceNew: true });
  raws.push(raw);
  await new Promise<void>((resolve) => raw.once('session', () => resolve()));
  return { emit: (event, msg) => new Promise<any>((resolve) => (raw.emit as any)(event, msg, resolve)) };
}

/** A metric's value from /metrics, by its full series text (name and labels). */
async function metric(s: LockServer, series: string): Promise<number> {
  const { body } = await api(s, '/metrics', TOKENS.admin);
  const line = String(body).split('\n').find((l) => l.startsWith(`${series} `));
  if (line === undefined) throw new Error(`no series ${series}`);
  return Number(line.slice(series.length + 1));
}

const bigSite = (i: number): string => `    at site${i} (${'x'.repeat(8000)}.js:1:1)`;

describe('request sites', () => {
  it("a viewer's lock requests are refused EPERM and keep none of their sites", async () => {
    server = await startServer();
    // A viewer gets no lock session at all (server/README.md, Sessions): its sites never reach a connection.
    for (let i = 1; i <= 20; i++) {
      const s = io(server.url, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token: TOKENS.viewer, name: 'viewer' } });
      const refused = await new Promise<string>((resolve) => {
        s.once('connect', () => resolve('connected'));
        s.once('connect_error', (err: Error & { data?: { code: string } }) => resolve(err.data?.code ?? 'network'));
      });
      s.close();
      expect(refused).toBe('EPERM');
    }
    expect(await metric(server, 'lockscope_budget_used{budget="siteBytesMax"}')).toBe(0);
    // A client's site is kept (and counted): the same message from a role that may lock.
    const c = await rawSocket(server, TOKENS.client, 'client');
    expect(await c.emit('owner', { oid: 1, name: 'o' })).toEqual({ ok: null });
    const ok = await c.emit('lock', { req: 1, oid: 1, domain: 'lin', resource: 'r', mode: 'EX', site: bigSite(1), siteId: 1 });
    expect(ok.ok.state).toBe('granted');
    expect(await metric(server, 'lockscope_budget_used{budget="siteBytesMax"}')).toBeGreaterThanOrEqual(16_000);
  });

  it('past its site budget a session keeps a placeholder: the lock is granted and the number still resolves', async () => {
    server = await startServer({ budgets: { siteBytesPerSessionMax: 5 * 16_200 } });
    const c = await rawSocket(server, TOKENS.client, 'sites');
    await c.emit('owner', { oid: 1, name: 'o' });
    for (let i = 1; i <= 8; i++) {
      const r = await c.emit('lock', { req: i, oid: 1, domain: 'lin', resource: `s${i}`, mode: 'EX', site: bigSite(i), siteId: i });
      expect(r.ok.state).toBe('granted');
    }
    const again = await c.emit('lock', { req: 9, oid: 1, domain: 'lin', resource: 's9', mode: 'EX', siteId: 8 });
    expect(again.ok.state).toBe('granted');
    const stack = (name: string): string => server!.manager.snapshot().domains.flatMap((d) => d.resources).find((r) => r.name === name)!.granted[0]!.stack!;
    expect(stack('s1')).toMatch(/^at site1 /);
    expect(stack('s5')).toMatch(/^at site5 /);
    expect(stack('s6')).toBe("at <site not kept: the server's site budget is spent>");
    expect(stack('s9')).toBe(stack('s8'));
    expect(await metric(server, 'lockscope_budget_used{budget="siteBytesMax"}')).toBeLessThanOrEqual(5 * 16_200);
  });
});

describe('locks, waits and owners', () => {
  it('the whole server: the lock past locksMax is ENOLCK naming locksMax, for any client', async () => {
    server = await startServer({ budgets: { locksMax: 30 } });
    const a = await client(server, 'a');
    const b = await client(server, 'b', TOKENS.other);
    clients.push(a, b);
    const oa = a.owner('oa');
    for (let i = 0; i < 30; i++) await oa.lock('lin', `g${i}`, 'EX');
    await expect(oa.lock('lin', 'g-over', 'EX')).rejects.toMatchObject({ code: 'ENOLCK', limit: 'locksMax' });
    await expect(b.owner('ob').lock('lin', 'g-other', 'EX')).rejects.toMatchObject({ code: 'ENOLCK', limit: 'locksMax' });
    expect(server.manager.lockTotal).toBe(30);
  });

  it('per session and per principal: refused ENOLCK naming the quota; another principal is unaffected; an ended session gives its share back', async () => {
    server = await startServer({ budgets: { locksPerSessionMax: 20, locksPerPrincipalMax: 30 } });
    const a1 = await client(server, 'a1');
    const a2 = await client(server, 'a2');
    const b = await client(server, 'b', TOKENS.other);
    clients.push(a2, b);
    const o1 = a1.owner('o1');
    for (let i = 0; i < 20; i++) await o1.lock('lin', `a1-${i}`, 'EX');
    await expect(o1.lock('lin', 'a1-over', 'EX')).rejects.toMatchObject({ code: 'ENOLCK', limit: 'locksPerSessionMax' });
    const o2 = a2.owner('o2');
    for (let i = 0; i < 10; i++) await o2.lock('lin', `a2-${i}`, 'EX');
    await expect(o2.lock('lin', 'a2-over', 'EX')).rejects.toMatchObject({ code: 'ENOLCK', limit: 'locksPerPrincipalMax' });
    // Waits count too: a request that would queue is refused the same way.
    await expect(o2.lock('lin', 'a1-0', 'EX')).rejects.toMatchObject({ code: 'ENOLCK', limit: 'locksPerPrincipalMax' });
    const ob = b.owner('ob');
    for (let i = 0; i < 20; i++) await ob.lock('lin', `b-${i}`, 'EX');
    await a1.close();
    const after = await o2.lock('lin', 'a2-after', 'EX');
    expect(after.state).toBe('granted');
  });

  it('waits: the request that would queue past waitsMax is ENOLCK naming waitsMax; a free lock is still granted', async () => {
    server = await startServer({ budgets: { waitsMax: 2 } });
    const a = await client(server, 'a');
    const b = await client(server, 'b', TOKENS.other);
    clients.push(a, b);
    await a.owner('holder').lock('lin', 'w', 'EX');
    const waits = [b.owner('w1').lock('lin', 'w', 'EX'), b.owner('w2').lock('lin', 'w', 'EX')];
    for (const w of waits) w.catch(() => {});
    await expect(b.owner('w3').lock('lin', 'w', 'EX')).rejects.toMatchObject({ code: 'ENOLCK', limit: 'waitsMax' });
    expect((await b.owner('free').lock('lin', 'free', 'EX')).state).toBe('granted');
  });

  it('owners: past ownersPerPrincipalMax the registration is ENOLCK; metadata bytes are bounded the same way', async () => {
    server = await startServer({ budgets: { ownersPerPrincipalMax: 3, metaBytesMax: 4000 } });
    const c = await rawSocket(server, TOKENS.client, 'owners');
    for (let oid = 1; oid <= 3; oid++) expect(await c.emit('owner', { oid, name: `o${oid}` })).toEqual({ ok: null });
    const over = await c.emit('owner', { oid: 4, name: 'o4' });
    expect(over.error).toMatchObject({ code: 'ENOLCK', limit: 'ownersPerPrincipalMax' });
    const other = await rawSocket(server, TOKENS.other, 'meta');
    const bigMeta = { a: 'y'.repeat(1000), b: 'y'.repeat(1000), c: 'y'.repeat(1000) };
    expect(await other.emit('owner', { oid: 1, name: 'm1', meta: bigMeta })).toEqual({ ok: null });
    const meta = await other.emit('owner', { oid: 2, name: 'm2', meta: bigMeta });
    expect(meta.error).toMatchObject({ code: 'ENOLCK', limit: 'metaBytesMax' });
    expect(await metric(server, 'lockscope_budget_used{budget="ownersMax"}')).toBe(4);
  });

  it('budgets are checked at the boundary: an unknown name or a bad value is EINVAL', async () => {
    await expect(startServer({ budgets: { locksMaxx: 1 } as never })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(startServer({ budgets: { locksMax: -1 } })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('a bad budget with a state directory starts nothing: the directory is free for the next server at once', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'ls-budget-state-'));
    await expect(startServer({ stateDir, budgets: { locksMax: -1 } })).rejects.toMatchObject({ code: 'EINVAL' });
    server = await startServer({ stateDir });
    expect(server.url).toMatch(/^http:/);
  });
});
