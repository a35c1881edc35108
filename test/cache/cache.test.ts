/**
 * Cached grants (client/cache.ts) against a real lock server and real
 * socket.io clients: re-grants without a message, the blocking callback that
 * moves a grant to another client (value block written back, minimum hold
 * honoured), deadlocks through cached grants (true ones found, false ones
 * never), fencing tokens, and what the lock tables show.
 */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readTarGz } from '../dumps/support.js';
import type { Snapshot } from '../../src/index.js';
import { TOKENS } from '../spec/remote.js';
import { cacheHarness, expectTwoWayDeadlock, resourceOf, sleep } from './support.js';
import { linkOf } from '../server/support.js';

const DOMAINS = [
  { name: 'lin', kind: 'dlm' as const },
  { name: 'val', kind: 'dlm' as const, lvbBytes: 16 },
];

const h = cacheHarness('cache-test', DOMAINS);
const start = () => h.start();
const client = (name: string, cache: unknown = { minHoldMs: 0 }) => h.client(name, cache);
const snapshot = () => h.snapshot();

function granted(snap: Snapshot, domain: string, resource: string) {
  return resourceOf(snap, domain, resource)?.granted ?? [];
}

describe('cached grants', () => {
  it('re-grants a released lock without a message: the server keeps one grant, tokens still increase', async () => {
    await start();
    const c = await client('cacher');
    const o = c.owner('job');
    const first = await o.lock('lin', 'r', 'EX');
    const t1 = first.token;
    await first.release();
    expect(first.state).toBe('released');
    const second = await o.lock('lin', 'r', 'PR');
    expect(second.id).toBe(first.id);
    expect(second.mode).toBe('PR');
    expect(second.token).toBeGreaterThan(t1);
    await second.release();
    const third = await o.lock('lin', 'r', 'EX');
    expect(third.token).toBeGreaterThan(second.token);
    c.cache!.flush();
    await c.ping();
    const g = granted(await snapshot(), 'lin', 'r');
    expect(g).toHaveLength(1);
    expect(g[0]!.mode).toBe('EX');
    expect(g[0]!.cache).toMatchObject({ confirmed: false, inUse: true, user: 'job' });
    expect(g[0]!.cache!.site).toContain('cache.test.ts');
    await third.release();
    c.cache!.flush();
    await c.ping();
    expect(granted(await snapshot(), 'lin', 'r')[0]!.cache).toMatchObject({ inUse: false });
  });

  it('an idle grant moves to another client on its callback, after the minimum hold, with the value block written back', async () => {
    await start();
    const a = await client('a', { minHoldMs: 300 });
    const b = await client('b', undefined);
    const la = await a.owner('writer').lock('val', 'v', 'PW');
    const grantedAt = Date.now();
    await la.release({ lvb: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) });
    const lb = await b.owner('reader').lock('val', 'v', 'EX', { timeoutMs: 5_000 });
    expect(Date.now() - grantedAt).toBeGreaterThanOrEqual(280);
    expect([...lb.lvb!.slice(0, 8)]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(lb.lvbValid).toBe(true);
    expect(lb.token).toBeGreaterThan(la.token);
    // a's cache no longer has it: its next request goes to the server and waits for b.
    let again = false;
    const p = a.owner('writer').lock('val', 'v', 'PR').then((l) => { again = true; return l; });
    await sleep(100);
    expect(again).toBe(false);
    await lb.release();
    expect((await p).token).toBeGreaterThan(lb.token);
  });

  it('a grant in use is called back (onBlocking), kept until its user releases, then given up', async () => {
    await start();
    const a = await client('a');
    const b = await client('b');
    const seen: string[] = [];
    const la = await a.owner('holder').lock('lin', 'r', 'EX', { onBlocking: (m) => seen.push(m) });
    let done = false;
    const p = b.owner('rival').lock('lin', 'r', 'PR').then((l) => { done = true; return l; });
    await sleep(200);
    expect(seen).toEqual(['PR']);
    expect(done).toBe(false);
    const g = granted(await snapshot(), 'lin', 'r');
    expect(g[0]!.cache).toMatchObject({ confirmed: true, inUse: true });
    await la.release();
    const lb = await p;
    expect(lb.token).toBeGreaterThan(la.token);
    expect(granted(await snapshot(), 'lin', 'r').map((l) => l.owner)).toEqual(['rival']);
  });

  it('owners of one client: an idle grant passes to the other owner without waiting; one in use makes it wait on the server', async () => {
    await start();
    const c = await client('c');
    const [one, two] = [c.owner('one'), c.owner('two')];
    const l1 = await one.lock('lin', 'r', 'EX');
    await l1.release();
    const l2 = await two.lock('lin', 'r', 'PR', { timeoutMs: 2_000 });
    expect(l2.id).toBe(l1.id); // the same grant, handed over (K6)
    expect(l2.token).toBeGreaterThan(l1.token);
    await c.ping();
    expect(granted(await snapshot(), 'lin', 'r').map((l) => l.owner)).toEqual(['two']);
    // In use by `two`: `one` asks the server, is queued, and gets it once `two` lets go (the callback made it give up).
    let done = false;
    const p = one.lock('lin', 'r', 'EX', { timeoutMs: 5_000 }).then((l) => { done = true; return l; });
    await sleep(150);
    expect(done).toBe(false);
    await l2.release();
    const l3 = await p;
    expect(l3.token).toBeGreaterThan(l2.token);
    expect(granted(await snapshot(), 'lin', 'r').map((l) => l.owner)).toEqual(['one']);
  });

  it('a cycle through cached grants in use is a deadlock (EDEADLK with the cycle); the other side is granted', async () => {
    await start();
    const a = await client('a');
    const b = await client('b');
    const [alice, bob] = [a.owner('alice'), b.owner('bob')];
    const ha = await alice.lock('lin', 'r1', 'EX');
    const hb = await bob.lock('lin', 'r2', 'EX');
    await expectTwoWayDeadlock(alice, bob, ha, hb, 100);
    expect((await snapshot()).deadlocks).toHaveLength(1);
  });

  it('an idle cached grant in a wait-for path is no deadlock: it is given up and both are granted', async () => {
    await start();
    const a = await client('a', { minHoldMs: 50 });
    const b = await client('b');
    const [alice, bob] = [a.owner('alice'), b.owner('bob')];
    const ha = await alice.lock('lin', 'r1', 'EX');
    await ha.release(); // idle in a's cache
    const hb = await bob.lock('lin', 'r2', 'EX');
    const pa = alice.lock('lin', 'r2', 'EX', { timeoutMs: 10_000 });
    await sleep(50);
    // bob waits for r1, held idle by alice, who waits for r2 held by bob: not a deadlock.
    const lb = await bob.lock('lin', 'r1', 'EX', { timeoutMs: 10_000 });
    expect(lb.state).toBe('granted');
    expect((await snapshot()).deadlocks).toHaveLength(0);
    await hb.release();
    expect((await pa).state).toBe('granted');
  });

  it('a lost session loses the cache: the local use says lost with the reason', async () => {
    const server = await h.start({ leaseMs: 300 });
    const c = await client('c');
    const l = await c.owner('o').lock('lin', 'r', 'EX');
    const idle = await c.owner('o').lock('lin', 'idle', 'EX');
    await idle.release();
    const socket = linkOf(c);
    socket.disconnect();
    await sleep(800);
    socket.connect();
    for (let i = 0; i < 200 && l.state !== 'lost'; i++) await sleep(20);
    expect(l.state).toBe('lost');
    expect(l.lostReason).toBe('session-expired');
    await expect(l.convert('PR')).rejects.toMatchObject({ code: 'EINVAL' });
    // The idle grant is gone with the session: the next request goes to the server and is granted afresh.
    const again = await c.owner('o').lock('lin', 'idle', 'EX');
    expect(again.id).not.toBe(idle.id);
  });

  it('a hang-dump lists cached grants: in use by whom and from where, or idle, in the summary, the lock tables and the client\'s report', async () => {
    const server = await h.start({ dumps: { dir: mkdtempSync(join(tmpdir(), 'ls-cache-dump-')) } });
    const c = await client('cacher');
    const o = c.owner('worker');
    const idle = await o.lock('lin', 'idle-one', 'PR');
    await idle.release();
    const busy = await o.lock('lin', 'busy-one', 'EX');
    await busy.release();
    const again = await o.lock('lin', 'busy-one', 'EX'); // re-granted locally: only the client knows, until it reports
    expect(again.id).toBe(busy.id);
    const taken = await fetch(`${server.url}/api/dumps`, {
      method: 'POST', body: '{}', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKENS.admin}` },
    });
    expect(taken.status).toBe(200);
    const { id } = (await taken.json()) as { id: string };
    const rec = (await server.dumper!.list()).find((d) => d.id === id)!;
    const files = await readTarGz(join(server.dumper!.dir, rec.file));
    const report = JSON.parse(files.get([...files.keys()].find((p) => /^clients\/cacher-[^/]+\/report\.json$/.test(p))!)!.toString('utf8')) as {
      locks: Array<{ resource: string; cached?: { inUse: boolean; site?: string } }>;
    };
    const byRes = new Map(report.locks.map((l) => [l.resource, l.cached]));
    expect(byRes.get('idle-one')).toEqual({ inUse: false });
    expect(byRes.get('busy-one')).toMatchObject({ inUse: true });
    expect(byRes.get('busy-one')!.site).toContain('cache.test.ts');
    // The lazy report went with the client's answer: the next dump's tables and summary have it.
    await c.ping();
    const second = await fetch(`${server.url}/api/dumps`, {
      method: 'POST', body: '{}', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKENS.admin}` },
    });
    const id2 = ((await second.json()) as { id: string }).id;
    const rec2 = (await server.dumper!.list()).find((d) => d.id === id2)!;
    const files2 = await readTarGz(join(server.dumper!.dir, rec2.file));
    const summary = files2.get('summary.txt')!.toString('utf8');
    expect(summary).toContain('Cached grants');
    expect(summary).toMatch(/lin:busy-one EX cached by worker: in use by worker, re-granted at .*cache\.test\.ts/);
    expect(summary).toContain('lin:idle-one PR cached by worker: idle');
  });
});
