/**
 * A lock server killed with SIGKILL and started again on the same state
 * directory: clients reclaim what they held in its grace period, nobody else
 * is granted a conflicting lock meanwhile, tokens keep increasing, and grace
 * ends early, at its deadline, or survives a second crash.
 */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LockClient, ReclaimReport } from '../../client/index.js';
import { codeOf, track } from '../spec/harness.js';
import { linkOf } from '../server/support.js';
import { connect } from '../../client/index.js';
import { ADMIN, CLIENT, client, ServerProcess, sleep, until } from './support.js';
import { readTarGz } from '../dumps/support.js';

const servers: ServerProcess[] = [];
const clients: LockClient[] = [];

async function server(options: { graceMs?: number } = {}): Promise<ServerProcess> {
  const s = await ServerProcess.create(options);
  servers.push(s);
  await s.start();
  return s;
}

async function open(s: ServerProcess, name: string): Promise<LockClient> {
  const c = await client(s, name);
  clients.push(c);
  return c;
}

function nextReport(c: LockClient): Promise<ReclaimReport> {
  return new Promise((resolve) => {
    const on = (r: ReclaimReport): void => {
      c.off('reclaim', on);
      resolve(r);
    };
    c.on('reclaim', on);
  });
}

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) await s.kill();
});

describe('restart with clients that come back', () => {
  it('reclaims every lock held (mode, range, value block, posix pieces), keeps the handles working, and tokens only increase', async () => {
    const s = await server();
    const [a, b] = [await open(s, 'a'), await open(s, 'b')];
    const oa = a.owner('a1');
    const seed = await oa.lock('lin', 'lvb', 'EX');
    await seed.release({ lvb: new Uint8Array([1, 2, 3, 4]) });
    const withLvb = await oa.lock('lin', 'lvb', 'EX');
    const ranged = await oa.lock('data', 'd', 'PR', { range: { start: 0, end: 10 } });
    const px = a.owner('a2');
    await px.setlk('adv', 'f', { type: 'write', start: 0, len: 100 });
    await px.setlk('adv', 'f', { type: 'unlock', start: 40, len: 10 });
    const shared = await b.owner('b1').lock('lin', 'shared', 'PR');
    const before = [withLvb.token, ranged.token, shared.token].reduce((x, y) => (x > y ? x : y));

    const reports = [nextReport(a), nextReport(b)];
    await s.kill();
    await s.start();
    const [ra, rb] = await Promise.all(reports);
    expect([ra.reclaimed, ra.lost, rb.reclaimed, rb.lost]).toEqual([4, [], 1, []]);
    const grace = await s.api('/api/grace');
    expect(grace.body).toMatchObject({ active: false, ended: 'all-reclaimed', reclaims: 5 });

    for (const h of [withLvb, ranged, shared]) {
      expect(h.state).toBe('granted');
      expect(h.token > before).toBe(true);
    }
    expect([...withLvb.lvb!.slice(0, 4)]).toEqual([1, 2, 3, 4]);
    expect(withLvb.range).toBeNull();
    expect(ranged.range).toEqual({ start: 0, end: 10 });
    // Each handle now carries the id of the reclaimed lock on the new server (it may or may not equal the old one).
    const rows = (await s.api('/api/locks?domain=data')).body.concat((await s.api('/api/locks?domain=lin&resource=lvb')).body) as { id: number; resource: string }[];
    expect(rows.map((r) => [r.resource, r.id]).sort()).toEqual([['d', ranged.id], ['lvb', withLvb.id]]);

    // Nobody else gets what was reclaimed; what was not held is free.
    const c = await open(s, 'c');
    const oc = c.owner('c1');
    expect(await codeOf(oc.lock('lin', 'lvb', 'PR', { noQueue: true }))).toBe('EAGAIN');
    expect(await codeOf(oc.lock('data', 'd', 'EX', { noQueue: true, range: { start: 5, end: 6 } }))).toBe('EAGAIN');
    expect(await oc.getlk('adv', 'f', { type: 'write', start: 0, len: 0 })).toMatchObject({ owner: 'a2', type: 'write', start: 0, len: 40 });
    const gap = await oc.setlk('adv', 'f', { type: 'write', start: 40, len: 10 });
    expect(gap!.token > before).toBe(true);

    // The handles keep working under their new ids.
    await withLvb.convert('PR');
    expect(withLvb.mode).toBe('PR');
    await withLvb.release();
    await ranged.release();
    await px.setlk('adv', 'f', { type: 'unlock', start: 0, len: 0 });
    const got = await oc.lock('lin', 'lvb', 'EX', { noQueue: true });
    expect(got.token > before).toBe(true);
    expect(await oc.setlk('adv', 'f', { type: 'write', start: 0, len: 100 })).not.toBeNull();
  });

  it('a reclaimed lock keeps the site it was first requested from, marked as reclaimed; without stacks, the mark alone', async () => {
    const s = await server();
    const a = await open(s, 'a');
    const plain = await connect(s.url, { token: CLIENT, name: 'plain', stacks: false });
    clients.push(plain);
    const o = a.owner('sited');
    const held = [];
    for (const r of ['sited-1', 'sited-2']) held.push(await o.lock('lin', r, 'EX'));
    await plain.owner('unsited').lock('lin', 'unsited', 'EX');
    // Posix pieces keep the site of the setlk that set each; where two merge, the newer one's (as on the server).
    const line = (): string => /restart\.test\.ts:\d+/.exec(new Error().stack!.split('\n')[2]!)![0];
    const firstLine = line(); await o.setlk('adv', 'sited-px', { type: 'write', start: 0, len: 10 });
    const secondLine = line(); await o.setlk('adv', 'sited-px', { type: 'read', start: 20, len: 0 });
    const mergedLine = line(); await o.setlk('adv', 'sited-px', { type: 'write', start: 10, len: 5 });
    expect(new Set([firstLine, secondLine, mergedLine]).size).toBe(3);
    await plain.owner('unsited').setlk('adv', 'unsited-px', { type: 'write', start: 0, len: 5 });
    const reports = [nextReport(a), nextReport(plain)];
    await s.kill();
    await s.start();
    expect((await Promise.all(reports)).map((r) => r.lost)).toEqual([[], []]);
    // Read as a support engineer would: a dump taken after the restart, its lock state and its stacks.txt.
    const taken = await s.api('/api/dumps', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    const archive = join(s.dumps, 'downloaded.tar.gz');
    const download = await fetch(`${s.url}/api/dumps/${taken.body.id}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    writeFileSync(archive, Buffer.from(await download.arrayBuffer()));
    const files = await readTarGz(archive);
    const lin = JSON.parse(files.get('locks/lin.json')!.toString('utf8')) as { resources: { name: string; granted: { stack: string | null }[] }[] };
    const stackOf = (resource: string): string[] => lin.resources.find((r) => r.name === resource)!.granted[0]!.stack!.split('\n');
    for (const r of ['sited-1', 'sited-2']) {
      expect(stackOf(r)[0]).toMatch(/restart\.test\.ts:\d+/);
      expect(stackOf(r).at(-1)).toBe('at <reclaimed after a server restart>');
    }
    expect(stackOf('unsited')).toEqual(['at <reclaimed after a server restart>']);
    type Piece = { range: { start: number }; stack: string | null };
    const adv = JSON.parse(files.get('locks/adv.json')!.toString('utf8')) as { resources: { name: string; granted: Piece[] }[] };
    const pieces = (resource: string): Piece[] => adv.resources.find((r) => r.name === resource)!.granted;
    const px = new Map(pieces('sited-px').map((p) => [p.range.start, p.stack!.split('\n')]));
    expect([...px.keys()].sort((x, y) => x - y)).toEqual([0, 20]);
    expect(px.get(0)![0]).toContain(mergedLine);
    expect(px.get(20)![0]).toContain(secondLine);
    for (const stack of px.values()) expect(stack.at(-1)).toBe('at <reclaimed after a server restart>');
    expect(pieces('unsited-px').map((p) => p.stack)).toEqual(['at <reclaimed after a server restart>']);
    expect(files.get('stacks.txt')!.toString('utf8')).toMatch(/-- holds EX on lin:sited-1 .*\n.*restart\.test\.ts:\d+/);
    for (const h of held) await h.release();
    await o.setlk('adv', 'sited-px', { type: 'unlock', start: 0, len: 0 });
  });

  it('the value block comes back from readers\' copies (with its sequence number), and is invalid when only a CR copy was left', async () => {
    const s = await server();
    const [a, b] = [await open(s, 'a'), await open(s, 'b')];
    const w = await a.owner('writer').lock('lin', 'read-lvb', 'EX');
    await w.release({ lvb: new Uint8Array([9, 8, 7]) });
    const [r1, r2] = [await a.owner('r1').lock('lin', 'read-lvb', 'PR'), await b.owner('r2').lock('lin', 'read-lvb', 'PR')];
    const seq = r1.lvbSeq;
    expect([r1.lvbValid, seq > 0]).toEqual([true, true]);
    const cw = await a.owner('w2').lock('lin', 'cr-lvb', 'EX');
    await cw.release({ lvb: new Uint8Array([5]) });
    const cr = await b.owner('cr').lock('lin', 'cr-lvb', 'CR');

    const reports = [nextReport(a), nextReport(b)];
    await s.kill();
    await s.start();
    expect((await Promise.all(reports)).map((r) => r.lost)).toEqual([[], []]);
    const c = await open(s, 'c');
    const seen = await c.owner('c1').lock('lin', 'read-lvb', 'NL');
    expect([[...seen.lvb!.slice(0, 3)], seen.lvbSeq, seen.lvbValid]).toEqual([[9, 8, 7], seq, true]);
    // A CR holder's copy may predate a write made since: not trusted, the value is unknown.
    const unknown = await c.owner('c2').lock('lin', 'cr-lvb', 'NL');
    expect(unknown.lvbValid).toBe(false);
    for (const h of [r1, r2, cr, seen, unknown]) await h.release();
  });

  it('a request made in grace waits, retried by the client, and is granted once the last client has reclaimed', async () => {
    const s = await server();
    const [a, late] = [await open(s, 'a'), await open(s, 'late')];
    const held = await a.owner('a1').lock('lin', 'held', 'EX');
    const lateLock = await late.owner('l1').lock('lin', 'late', 'EX');
    linkOf(late).disconnect(); // away when the server dies; grace waits for it
    await until(() => !late.conn.connected);
    await s.kill();
    await s.start();
    await until(() => a.reclaims.length === 1);

    const c = await open(s, 'c');
    const wanted = track(c.owner('c1').lock('lin', 'free', 'EX'));
    const conflicting = track(c.owner('c2').lock('lin', 'held', 'EX', { noQueue: true }));
    await sleep(600);
    expect([wanted.done, conflicting.done]).toEqual([false, false]);
    expect((await s.api('/api/grace')).body).toMatchObject({ active: true, completed: [a.clientId] });

    linkOf(late).connect();
    await until(() => late.reclaims.length === 1);
    const got = await wanted.promise;
    expect(got.state).toBe('granted');
    expect(await codeOf(conflicting.promise)).toBe('EAGAIN');
    expect([held.state, lateLock.state]).toEqual(['granted', 'granted']);
    expect((await s.api('/api/grace')).body).toMatchObject({ active: false, ended: 'all-reclaimed' });
  });

  it('survives a second crash in the grace period: the client reclaims again and nothing is lost', async () => {
    const s = await server();
    const [a, late] = [await open(s, 'a'), await open(s, 'late')];
    const held = await a.owner('a1').lock('lin', 'r', 'EX');
    await late.owner('l1').setlk('adv', 'f', { type: 'read', start: 0, len: 10 });
    const first = held.token;
    linkOf(late).disconnect();
    await until(() => !late.conn.connected);
    await s.kill();
    await s.start();
    await until(() => a.reclaims.length === 1);
    const second = held.token;
    await s.kill();
    await s.start();
    await until(() => a.reclaims.length === 2);
    expect((await s.api('/api/grace')).body).toMatchObject({ active: true, expected: expect.arrayContaining([a.clientId, late.clientId]) });
    linkOf(late).connect();
    await until(() => late.reclaims.length === 1);
    expect(late.reclaims[0]).toMatchObject({ reclaimed: 1, lost: [] });
    expect(a.reclaims.map((r) => r.lost)).toEqual([[], []]);
    expect(held.state).toBe('granted');
    expect(first < second && second < held.token).toBe(true);
    const c = await open(s, 'c');
    expect(await codeOf(c.owner('c1').lock('lin', 'r', 'PR', { noQueue: true }))).toBe('EAGAIN');
    expect(await codeOf(c.owner('c1').setlk('adv', 'f', { type: 'write', start: 5, len: 1 }))).toBe('EAGAIN');
  });
});

describe('clients that do not come back in time', () => {
  it('grace ends at its deadline, the missing client is dropped from the record, and its locks are free', async () => {
    const s = await server({ graceMs: 1500 });
    const [a, gone] = [await open(s, 'a'), await open(s, 'gone')];
    await a.owner('a1').lock('lin', 'kept', 'EX');
    await gone.owner('g1').lock('lin', 'orphan', 'EX');
    linkOf(gone).disconnect();
    await until(() => !gone.conn.connected);
    expect(s.recordedClients()).toEqual([a.clientId, gone.clientId].sort());
    await s.kill();
    const restarted = Date.now();
    await s.start();
    const wanted = track(a.owner('a2').lock('lin', 'orphan', 'EX'));
    const got = await wanted.promise;
    expect(Date.now() - restarted).toBeGreaterThanOrEqual(1400);
    expect(got.state).toBe('granted');
    // The server's log line comes through its stdout, which may arrive after the grant's reply on the socket.
    await until(() => s.events('grace').some((e) => e.phase === 'end'));
    const end = s.events('grace').find((e) => e.phase === 'end')!;
    expect(end).toMatchObject({ ended: 'deadline', missing: [gone.clientId] });
    // Forgetting a client relies on nothing, so it is written a moment later (with other removals).
    await until(() => s.recordedClients().length === 1);
    expect(s.recordedClients()).toEqual([a.clientId]);

    // Back after grace: its reclaim is refused (ENOGRACE) and its handle ends session-expired.
    linkOf(gone).connect();
    await until(() => gone.conn.connected);
    expect(gone.handles.size).toBe(0);
  });

  it('a reclaim after grace is refused with ENOGRACE', async () => {
    const s = await server({ graceMs: 800 });
    const { io } = await import('socket.io-client');
    const raw = (session?: string) => io(s.url, {
      transports: ['websocket'], reconnection: false, forceNew: true,
      auth: { token: 'client-token-for-recovery-tests', name: 'raw', clientId: 'raw#1', secret: 'the-raw-client-secret-of-32-chars-or-more', ...(session === undefined ? {} : { session }) },
    });
    const emit = (sock: ReturnType<typeof raw>, event: string, msg: unknown) => new Promise<any>((resolve) => (sock.emit as any)(event, msg, resolve));
    const first = raw();
    const info = await new Promise<{ id: string }>((resolve) => first.once('session', resolve));
    await emit(first, 'owner', { oid: 1, name: 'o' });
    expect((await emit(first, 'lock', { req: 1, oid: 1, domain: 'lin', resource: 'r', mode: 'EX' })).ok.state).toBe('granted');
    first.disconnect();
    await s.kill();
    await s.start();
    await sleep(1000); // grace (800 ms) is over
    const back = raw(info.id);
    const again = await new Promise<{ restarted: boolean; reclaim: boolean; grace: boolean }>((resolve) => back.once('session', resolve));
    expect(again).toMatchObject({ restarted: true, reclaim: false, grace: false });
    await emit(back, 'owner', { oid: 1, name: 'o' });
    const reply = await emit(back, 'reclaim', { req: 2, items: [{ kind: 'dlm', oid: 1, domain: 'lin', resource: 'r', mode: 'EX' }] });
    expect(reply.ok.map((r: { error: { code: string } }) => r.error.code)).toEqual(['ENOGRACE']);
    back.disconnect();
  });
});
