/** The core's side of cached grants (src/README.md, "Cached grants", K1–K5 and token rule T5), in-process. */

import { describe, expect, it } from 'vitest';
import { LockManager, type DlmLock } from '../../src/index.js';
import { CACHE_TOKEN_RUN } from '../../src/limits.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const manager = () => new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }] });
const outcome = (p: Promise<unknown>) => p.then(() => 'granted', (e: { code: string }) => e.code);

describe('cached grants in the core', () => {
  it('T5/K2: a cached grant takes a run of tokens; every later grant is above it', async () => {
    const lm = manager();
    const l = (await lm.owner('a').lock('lin', 'r', 'EX', { cache: true })) as DlmLock;
    expect(l.cached).toBe(true);
    expect(l.tokenLast).toBe(l.token + BigInt(CACHE_TOKEN_RUN));
    l.release();
    const next = await lm.owner('b').lock('lin', 'r', 'EX');
    expect(next.token).toBeGreaterThan(l.tokenLast!);
    expect(lm.snapshot().domains[0]!.resources[0]!.granted[0]!.cache).toBeUndefined();
  });

  it('T5: a run stops short of the headroom a durable token store keeps', async () => {
    const reserved: number[] = [];
    const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }], tokens: { block: 100, reserve: (upTo) => { reserved.push(upTo); } } });
    const l = (await lm.owner('a').lock('lin', 'r', 'EX', { cache: true })) as DlmLock;
    // Block 100: the first reservation covers 100, a quarter (25) stays unissued.
    expect(Number(l.tokenLast)).toBeLessThanOrEqual(reserved.at(-1)! - 25);
    expect(l.tokenLast!).toBeGreaterThanOrEqual(l.token);
  });

  it('K1: an unconfirmed cached grant is no wait-for edge; once confirmed, the cycle through it is found', async () => {
    const lm = manager();
    const [a, b] = [lm.owner('alice'), lm.owner('bob')];
    const ha = (await a.lock('lin', 'r1', 'EX', { cache: true, onBlocking: () => {} })) as DlmLock;
    const hb = (await b.lock('lin', 'r2', 'EX', { cache: true, onBlocking: () => {} })) as DlmLock;
    const pa = outcome(a.lock('lin', 'r2', 'EX', { timeoutMs: 2_000 }));
    const pb = outcome(b.lock('lin', 'r1', 'EX', { timeoutMs: 2_000 }));
    await sleep(20);
    expect(lm.snapshot().deadlocks).toHaveLength(0);
    expect(lm.snapshot().edges).toHaveLength(0);
    expect(hb.confirmCache()).toBe(true);
    await sleep(5);
    expect(lm.snapshot().deadlocks).toHaveLength(0); // one confirmed edge, no cycle yet
    expect(ha.confirmCache()).toBe(true);
    expect((await Promise.all([pa, pb])).sort()).toEqual(['EDEADLK', 'ETIMEDOUT']);
    expect(lm.snapshot().deadlocks).toHaveLength(1);
  });

  it('K3: a noQueue request that fails on a cached grant still calls it back; other holders are not called', async () => {
    const lm = manager();
    const seen: string[] = [];
    const plainSeen: string[] = [];
    await lm.owner('a').lock('lin', 'r', 'PR', { cache: true, onBlocking: (m) => seen.push(m) });
    await lm.owner('p').lock('lin', 'r', 'PR', { onBlocking: (m) => plainSeen.push(m) });
    expect(await outcome(lm.owner('b').lock('lin', 'r', 'EX', { noQueue: true }))).toBe('EAGAIN');
    await sleep(0);
    expect(seen).toEqual(['EX']);
    expect(plainSeen).toEqual([]);
  });

  it('K5: a cached request granted while others still wait is a plain lock', async () => {
    const lm = manager();
    const first = await lm.owner('a').lock('lin', 'r', 'EX');
    const second = lm.owner('b').lock('lin', 'r', 'EX', { cache: true });
    const third = lm.owner('c').lock('lin', 'r', 'EX', { cache: true });
    first.release();
    const got = (await second) as DlmLock;
    expect(got.cached).toBe(false);
    expect(got.tokenLast).toBeNull();
    got.release();
    const last = (await third) as DlmLock;
    expect(last.cached).toBe(true); // nobody waits behind it
  });

  it('K4: a reported use shows in the snapshot, and changes no edge', async () => {
    const lm = manager();
    const l = (await lm.owner('a').lock('lin', 'r', 'EX', { cache: true })) as DlmLock;
    l.reportCacheUse(true, 'worker', 'at app (/srv/app.js:1:1)', 1234);
    expect(lm.snapshot().domains[0]!.resources[0]!.granted[0]!.cache).toEqual({
      confirmed: false, inUse: true, user: 'worker', site: 'at app (/srv/app.js:1:1)', reportedAt: 1234, tokenLast: String(l.tokenLast),
    });
    await expect(lm.owner('x').lock('lin', 'q', 'EX', { cache: true, range: { start: 0, end: 1 } })).rejects.toThrow(/options.cache/);
  });

  it('K6: handOver passes a granted lock to another owner in place; refused for a converting lock or past the new owner\'s limits', async () => {
    const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }], limits: { locksPerOwnerMax: 1 } });
    const [a, b, full] = [lm.owner('a'), lm.owner('b'), lm.owner('full')];
    const l = (await a.lock('lin', 'r', 'PR', { cache: true })) as DlmLock;
    const seen: string[] = [];
    lm.on('cache-use', (e) => seen.push(e.owner));
    lm.handOver(l, b);
    expect([l.owner.name, a.holding, b.holding, l.state]).toEqual(['b', 0, 1, 'granted']);
    expect(seen).toEqual(['b']);
    expect(lm.snapshot().domains[0]!.resources[0]!.granted.map((x) => x.owner)).toEqual(['b']);
    await full.lock('lin', 'other', 'EX');
    expect(() => lm.handOver(l, full)).toThrow(/locksPerOwnerMax/);
    // A converting lock is not handed over.
    const x = lm.owner('x');
    const held = await x.lock('lin', 'r', 'PR');
    const up = l.convert('EX').catch((e: { code: string }) => e.code);
    expect(l.state).toBe('converting');
    expect(() => lm.handOver(l, a)).toThrow(/granted lock/);
    held.release();
    expect(await up).toBe(l);
    expect(l.owner.name).toBe('b');
  });
});
