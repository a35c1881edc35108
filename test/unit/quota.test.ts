/**
 * Quotas (src/quota.ts): locks and waits of a group of owners bounded, a
 * session's quota inside its principal's; deadlock searches paid from the
 * principal's search credit, a search without credit left to the full pass
 * (rule D1), so a cycle is still broken, once the pass comes round.
 */

import { describe, expect, it } from 'vitest';
import { FakeClock, LockManager, Quota, type Owner } from '../../src/index.js';
import { codeOf, track } from '../spec/harness.js';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('quotas', () => {
  it('locks and waits are charged to the quota and its parent, refused ENOLCK naming the first one full, and given back', async () => {
    const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }] });
    const principal = new Quota('locksPerPrincipalMax', 3);
    const s1 = new Quota('locksPerSessionMax', 2, principal);
    const s2 = new Quota('locksPerSessionMax', 2, principal);
    const a = lm.owner('a', { quota: s1 });
    const b = lm.owner('b', { quota: s2 });
    const a2 = lm.owner('a2', { quota: s1 });
    const l1 = await a.lock('lin', 'r1', 'EX');
    const w = track(a2.lock('lin', 'r1', 'PR')); // a wait counts as well
    expect([s1.used, principal.used]).toEqual([2, 2]);
    expect(await a.lock('lin', 'r2', 'EX').catch((e: { code: string; limit: string }) => [e.code, e.limit])).toEqual(['ENOLCK', 'locksPerSessionMax']);
    await b.lock('lin', 'r3', 'EX');
    expect(await b.lock('lin', 'r4', 'EX').catch((e: { code: string; limit: string }) => [e.code, e.limit])).toEqual(['ENOLCK', 'locksPerPrincipalMax']);
    l1.release();
    await w.promise;
    expect([s1.used, s2.used, principal.used]).toEqual([1, 1, 2]);
    a2.releaseAll();
    expect([s1.used, principal.used]).toEqual([0, 1]);
    lm.close();
  });

  it('the manager-wide locksMax and waitsMax: ENOLCK naming each, nothing stored for the refused request', async () => {
    const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }, { name: 'adv', kind: 'posix' }], limits: { locksMax: 2, waitsMax: 1 } });
    const a = lm.owner('a');
    const b = lm.owner('b');
    await a.lock('lin', 'r1', 'EX');
    await a.setlk('adv', 'f', { type: 'write', start: 0, len: 10 });
    expect(await codeOf(b.lock('lin', 'r2', 'EX'))).toBe('ENOLCK');
    expect(lm.snapshot().domains.find((d) => d.name === 'lin')!.resources.map((r) => r.name)).toEqual(['r1']);
    const lm2 = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }], limits: { waitsMax: 1 } });
    const x = lm2.owner('x');
    await x.lock('lin', 'r', 'EX');
    const w = track(lm2.owner('y').lock('lin', 'r', 'EX'));
    expect(await lm2.owner('z').lock('lin', 'r', 'EX').catch((e: { limit: string }) => e.limit)).toBe('waitsMax');
    expect(lm2.pendingWaits).toBe(1);
    lm.close();
    lm2.close();
    await w.promise.catch(() => {});
  });
});

describe('deadlock searches paid from the quota (rule D1)', () => {
  it('without search credit a wait is not searched from at once; the full pass breaks its cycle', async () => {
    const clock = new FakeClock();
    const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }], clock, deadlock: { fullPassMs: 1000 } });
    const q = new Quota('locksPerPrincipalMax', 100, null, 1);
    const [a, b, c, d] = ['A', 'B', 'C', 'D'].map((n) => lm.owner(n, { quota: q })) as [Owner, Owner, Owner, Owner];
    await a.lock('lin', 'r1', 'EX');
    await b.lock('lin', 'r2', 'EX');
    await c.lock('lin', 'r3', 'EX');
    await d.lock('lin', 'r4', 'EX');
    // The first cycle is searched and broken at once: the search spends the second's only credit.
    const aw = track(a.lock('lin', 'r2', 'EX'));
    await flush();
    expect(await codeOf(b.lock('lin', 'r1', 'EX'))).toBe('EDEADLK');
    // The second, in the same second, is not searched: it waits for the full pass.
    const cw = track(c.lock('lin', 'r4', 'EX'));
    const dw = track(d.lock('lin', 'r3', 'EX'));
    await flush();
    expect(lm.detector.stats.throttled).toBeGreaterThanOrEqual(1);
    expect([cw.done, dw.done]).toEqual([false, false]);
    expect(lm.deadlocks).toHaveLength(1);
    clock.advance(1000);
    await flush();
    expect(lm.deadlocks).toHaveLength(2);
    expect([cw.done, dw.done].filter(Boolean)).toHaveLength(1);
    lm.close();
    await Promise.allSettled([aw.promise, cw.promise, dw.promise]);
  });

  it('a quota without a search bound searches at once, as before', async () => {
    const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }] });
    const q = new Quota('locksPerPrincipalMax', 100);
    const a = lm.owner('A', { quota: q });
    const b = lm.owner('B', { quota: q });
    await a.lock('lin', 'r1', 'EX');
    await b.lock('lin', 'r2', 'EX');
    const aw = track(a.lock('lin', 'r2', 'EX'));
    await flush();
    expect(await codeOf(b.lock('lin', 'r1', 'EX'))).toBe('EDEADLK');
    expect(lm.detector.stats.throttled).toBe(0);
    lm.close();
    await aw.promise.catch(() => {});
  });
});
