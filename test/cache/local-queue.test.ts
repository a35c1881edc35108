/**
 * Owners of one client contending for a cached grant (client/cache.ts, C9):
 * a request that conflicts with a grant another owner of the client uses
 * waits in the client, is handed the grant at that owner's release without
 * a round trip, and is on the server's wait-for graph from the next turn on.
 * Against a real lock server and real socket.io clients: the handover, its
 * bound once another client is called for (no starvation), mutual exclusion
 * and fencing under a loop, deadlocks among local owners and through a
 * remote one, timeouts and aborts of a local wait.
 */

import { describe, expect, it } from 'vitest';
import type { DeadlockError, Snapshot } from '../../src/index.js';
import { cacheHarness, expectTwoWayDeadlock, resourceOf, sleep } from './support.js';

const h = cacheHarness('local-queue', [{ name: 'lin', kind: 'dlm' }]);
const start = () => h.start();
const client = (name: string, minHoldMs: number) => h.client(name, { minHoldMs });
const snapshot = () => h.snapshot();
const resource = (snap: Snapshot, name: string) => resourceOf(snap, 'lin', name);

/** Let `n` microtasks run: no I/O, no timer and no server reply can happen meanwhile. */
async function microtasks(n = 20): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => queueMicrotask(resolve));
}

describe('owners of one client wait for each other in the client (C9)', () => {
  it('a grant in use passes to the owner waiting for it at its release, in microtasks: no request of its own reaches the server', async () => {
    await start();
    const c = await client('c', 1_000);
    const [one, two] = [c.owner('one'), c.owner('two')];
    const l1 = await one.lock('lin', 'r', 'EX');
    let l2: Awaited<ReturnType<typeof two.lock>> | null = null;
    void two.lock('lin', 'r', 'EX', { timeoutMs: 5_000 }).then((l) => { l2 = l; });
    await microtasks();
    expect(l2).toBeNull();
    void l1.release();
    await microtasks();
    expect(l2).not.toBeNull();
    expect(l2!.id).toBe(l1.id);
    expect(l2!.token).toBeGreaterThan(l1.token);
    await c.ping();
    const r = resource(await snapshot(), 'r')!;
    expect(r.granted.map((l) => l.owner)).toEqual(['two']);
    expect(r.waiting).toHaveLength(0);
    expect(h.server.manager.deadlocks).toHaveLength(0);
  });

  it('a wait longer than LOCAL_WAIT_REPORT_MS is on the server (an edge, the holder called back) and is still handed over within the minimum hold', async () => {
    await start();
    const c = await client('c', 1_000);
    const [one, two] = [c.owner('one'), c.owner('two')];
    const seen: string[] = [];
    const l1 = await one.lock('lin', 'r', 'EX', { onBlocking: (m) => seen.push(m) });
    let l2: Awaited<ReturnType<typeof two.lock>> | null = null;
    void two.lock('lin', 'r', 'PR', { timeoutMs: 5_000 }).then((l) => { l2 = l; });
    await sleep(150);
    // The server sees two's request waiting for one's grant, which the client confirmed in use (K1).
    const before = resource(await snapshot(), 'r')!;
    expect(before.waiting.map((w) => w.owner)).toEqual(['two']);
    expect(before.granted[0]!.cache).toMatchObject({ confirmed: true, inUse: true, user: 'one' });
    expect(seen).toEqual(['PR']);
    void l1.release();
    await microtasks();
    expect(l2).not.toBeNull();
    expect(l2!.id).toBe(l1.id);
    expect(l2!.mode).toBe('PR');
    await c.ping();
    const after = resource(await snapshot(), 'r')!;
    expect(after.granted.map((l) => l.owner)).toEqual(['two']);
    expect(after.waiting).toHaveLength(0); // its own request was cancelled with the handover
  });

  it('many owners of one client on one key take turns in the client: grants pass from owner to owner, exclusion and fencing hold', async () => {
    await start();
    const c = await client('c', 10);
    let inside = 0;
    let worst = 0;
    const tokens: bigint[] = [];
    const ids = new Set<number>();
    const loop = async (name: string): Promise<void> => {
      const o = c.owner(name);
      for (let i = 0; i < 200; i++) {
        const l = await o.lock('lin', 'hot', 'EX', { timeoutMs: 10_000 });
        inside++;
        worst = Math.max(worst, inside);
        tokens.push(l.token);
        ids.add(l.id);
        inside--;
        await l.release();
      }
    };
    await Promise.all(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map(loop));
    expect(tokens).toHaveLength(1_600);
    expect(worst).toBe(1);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]! > tokens[i - 1]!).toBe(true);
    // Server grants only when a run of tokens ran out or at the start, not one per lock.
    expect(ids.size).toBeLessThan(100);
    expect(h.server.manager.deadlocks).toHaveLength(0);
  });

  it('past the minimum hold after a callback the grant is given up instead, and the server grants the waiter', async () => {
    await start();
    const c = await client('c', 0);
    const [one, two] = [c.owner('one'), c.owner('two')];
    const l1 = await one.lock('lin', 'r', 'EX');
    const p = two.lock('lin', 'r', 'EX', { timeoutMs: 5_000 });
    await sleep(150);
    await l1.release();
    const l2 = await p;
    expect(l2.id).not.toBe(l1.id);
    expect(l2.token).toBeGreaterThan(l1.token);
  });

  it('a client whose owners loop on one key does not starve another client; exclusion and fencing hold throughout', async () => {
    await start();
    const c = await client('c', 30);
    const d = await client('d', 0);
    let inside = 0;
    let worst = 0;
    const tokens: bigint[] = [];
    let stop = false;
    const loop = async (name: string): Promise<number> => {
      const o = c.owner(name);
      let n = 0;
      while (!stop) {
        const l = await o.lock('lin', 'hot', 'EX', { timeoutMs: 10_000 });
        inside++;
        worst = Math.max(worst, inside);
        tokens.push(l.token);
        if (n % 50 === 0) await sleep(1);
        inside--;
        await l.release();
        n++;
      }
      return n;
    };
    const loops = ['a', 'b', 'c', 'd'].map(loop);
    await sleep(200);
    const foreign = await d.owner('x').lock('lin', 'hot', 'EX', { timeoutMs: 5_000 });
    inside++;
    worst = Math.max(worst, inside);
    tokens.push(foreign.token);
    await sleep(50);
    inside--;
    await foreign.release();
    await sleep(200);
    stop = true;
    const counts = await Promise.all(loops);
    expect(worst).toBe(1);
    for (const n of counts) expect(n).toBeGreaterThan(0);
    for (let i = 1; i < tokens.length; i++) expect(tokens[i]! > tokens[i - 1]!).toBe(true);
    expect(h.server.manager.deadlocks).toHaveLength(0);
  });

  it('two owners of one client each waiting in the client for the other: a deadlock, found on the server', async () => {
    await start();
    const c = await client('c', 1_000);
    const [alice, bob] = [c.owner('alice'), c.owner('bob')];
    const ha = await alice.lock('lin', 'r1', 'EX');
    const hb = await bob.lock('lin', 'r2', 'EX');
    await expectTwoWayDeadlock(alice, bob, ha, hb, 0);
    expect(h.server.manager.deadlocks).toHaveLength(1);
  });

  it('a cycle through a wait in one client and a remote owner is found too', async () => {
    await start();
    const c = await client('c', 1_000);
    const d = await client('d', 1_000);
    const [alice, bob, xavier] = [c.owner('alice'), c.owner('bob'), d.owner('xavier')];
    const h1 = await alice.lock('lin', 'r1', 'EX');
    const h3 = await bob.lock('lin', 'r3', 'EX');
    const h2 = await xavier.lock('lin', 'r2', 'EX');
    const outcome = (p: Promise<unknown>) => p.then(() => null, (e: DeadlockError) => e);
    const pa = outcome(alice.lock('lin', 'r2', 'EX', { timeoutMs: 10_000 })); // alice → xavier, on the server
    const px = outcome(xavier.lock('lin', 'r3', 'EX', { timeoutMs: 10_000 })); // xavier → bob (bob's grant called back)
    await sleep(100);
    const pb = outcome(bob.lock('lin', 'r1', 'EX', { timeoutMs: 10_000 })); // bob → alice, in the client first
    const [who, e] = await Promise.race([
      pa.then((x) => ['alice', x] as const), px.then((x) => ['xavier', x] as const), pb.then((x) => ['bob', x] as const),
    ]);
    expect(e?.code).toBe('EDEADLK');
    expect(e!.cycle.map((x) => x.owner).sort()).toEqual(['alice', 'bob', 'xavier']);
    const held = { alice: h1, bob: h3, xavier: h2 }[who];
    await held.release();
    const rest = { alice: [px, pb], bob: [pa, px], xavier: [pa, pb] }[who];
    // The others finish once the victim let go (each releases what it got, so the chain drains).
    for (const l of [h1, h2, h3]) if (l !== held) void l.release();
    expect(await Promise.all(rest)).toEqual([null, null]);
  });

  it('a local wait times out or is aborted like any wait, and hands nothing over afterwards', async () => {
    await start();
    const c = await client('c', 1_000);
    const [one, two] = [c.owner('one'), c.owner('two')];
    const l1 = await one.lock('lin', 'r', 'EX');
    await expect(two.lock('lin', 'r', 'EX', { timeoutMs: 30 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const ac = new AbortController();
    const p = two.lock('lin', 'r', 'EX', { signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: 'ECANCELED' });
    // The waits reached the server (each lasted a turn), so the grant was called back: released, it is given up.
    await l1.release();
    await c.ping();
    expect(resource(await snapshot(), 'r')?.granted ?? []).toHaveLength(0);
    expect(resource(await snapshot(), 'r')?.waiting ?? []).toHaveLength(0);
    const l2 = await two.lock('lin', 'r', 'EX', { timeoutMs: 2_000 });
    expect(l2.token).toBeGreaterThan(l1.token);
    // No time to wait: ETIMEDOUT (from the client within the turn, else from the server), as without a cache.
    const l3p = one.lock('lin', 'r', 'EX', { timeoutMs: 0 });
    await expect(l3p).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    await l2.release();
  });
});
