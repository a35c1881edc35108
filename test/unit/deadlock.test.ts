/**
 * Deadlock detection and breaking: every classic shape, each victim policy,
 * the delayed (LTP fcntl17) deadlock in every ordering, no false deadlocks.
 */

import { describe, expect, it } from 'vitest';
import { FakeClock, LockManager, type DeadlockOptions, type LockManagerOptions } from '../../src/index.js';
import { codeOf, track } from '../spec/harness.js';

const DOMAINS: LockManagerOptions['domains'] = [
  { name: 'lin', kind: 'dlm' },
  { name: 'data', kind: 'dlm', ranges: true },
  { name: 'adv', kind: 'posix' },
];

function manager(deadlock: DeadlockOptions = {}, extra: Partial<LockManagerOptions> = {}): LockManager {
  return new LockManager({ node: 't', domains: DOMAINS, deadlock, ...extra });
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe('deadlock detection', () => {
  it('ABBA: the request that closes the cycle fails with EDEADLK and the whole cycle; the other proceeds', async () => {
    const lm = manager();
    const a = lm.owner('A');
    const b = lm.owner('B');
    await a.lock('lin', 'r1', 'EX');
    const b2 = await b.lock('lin', 'r2', 'EX');
    const aWait = track(a.lock('lin', 'r2', 'EX'));
    await flush();
    const err = (await b.lock('lin', 'r1', 'EX').then(() => null, (e: unknown) => e)) as { code: string; cycle: Array<Record<string, unknown>> };
    expect(err.code).toBe('EDEADLK');
    expect(err.cycle.map((c) => [c.owner, c.resource, c.held, c.wanted])).toEqual([
      ['B', 'r1', null, 'EX'],
      ['A', 'r2', null, 'EX'],
    ]);
    expect(err.cycle.map((c) => (c.blocker as { owner: string }).owner)).toEqual(['A', 'B']);
    expect(String(err.cycle[0]!.stack)).toContain('deadlock.test.ts');
    expect(aWait.done).toBe(false);
    b2.release();
    await aWait.promise;
    const snap = lm.snapshot();
    expect(snap.deadlocks.map((d) => [d.kind, d.victim, d.policy, d.cycle.length])).toEqual([['cycle', 'B', 'requester', 2]]);
    expect(snap.cycles).toEqual([]);
  });

  it('a three-owner cycle', async () => {
    const lm = manager();
    const [a, b, c] = ['A', 'B', 'C'].map((n) => lm.owner(n)) as [ReturnType<LockManager['owner']>, ReturnType<LockManager['owner']>, ReturnType<LockManager['owner']>];
    await a.lock('lin', 'r1', 'EX');
    await b.lock('lin', 'r2', 'EX');
    await c.lock('lin', 'r3', 'EX');
    const w1 = track(a.lock('lin', 'r2', 'EX'));
    const w2 = track(b.lock('lin', 'r3', 'EX'));
    await flush();
    expect(await codeOf(c.lock('lin', 'r1', 'EX'))).toBe('EDEADLK');
    expect([w1.done, w2.done]).toEqual([false, false]);
    expect(lm.deadlocks[0]!.cycle.map((e) => e.owner)).toEqual(['C', 'A', 'B']);
  });

  it('a cycle through shared holders: two readers, one of them waits for the writer', async () => {
    const lm = manager();
    const a = lm.owner('A');
    const b = lm.owner('B');
    const c = lm.owner('C');
    await a.lock('lin', 'r1', 'PR');
    await b.lock('lin', 'r1', 'PR');
    await c.lock('lin', 'r2', 'EX');
    const cWait = track(c.lock('lin', 'r1', 'EX'));
    await flush();
    expect(await codeOf(a.lock('lin', 'r2', 'PR'))).toBe('EDEADLK');
    expect(cWait.done).toBe(false);
  });

  it('a cycle through queue order is resolved by reordering, with no victim', async () => {
    const lm = manager();
    const a = lm.owner('A');
    const b = lm.owner('B');
    await a.lock('lin', 'r', 'PR');
    const bWait = track(b.lock('lin', 'r', 'EX'));
    await flush();
    // A's second PR must queue behind B's EX (FIFO), B waits for A's first PR: a soft cycle.
    const second = await a.lock('lin', 'r', 'PR');
    expect(second.mode).toBe('PR');
    expect(bWait.done).toBe(false);
    expect(lm.deadlocks.map((d) => [d.victim, d.policy])).toEqual([[null, 'reorder']]);
  });

  it('a cross-domain cycle between a dlm lock and a posix lock', async () => {
    const lm = manager();
    const a = lm.owner('A');
    const b = lm.owner('B');
    await a.lock('lin', 'inode:1', 'EX');
    await b.setlk('adv', 'file:/x', { type: 'write', start: 0, len: 10 });
    const aWait = track(a.setlk('adv', 'file:/x', { type: 'write', start: 5, len: 1 }, { wait: true }));
    await flush();
    const err = (await b.lock('lin', 'inode:1', 'PR').then(() => null, (e: unknown) => e)) as { code: string; cycle: Array<{ domain: string }> };
    expect(err.code).toBe('EDEADLK');
    expect(err.cycle.map((c) => c.domain)).toEqual(['lin', 'adv']);
    expect(aWait.done).toBe(false);
  });

  describe('the delayed deadlock of LTP fcntl17, in every ordering', () => {
    // C holds [0,5), B holds [5,10), A holds [100,110). A wants [0,10): blocked by C and B.
    // B wants [100,110): blocked by A. Whatever the order, exactly one of A and B fails with EDEADLK.
    const orders = [
      ['A waits', 'B waits', 'C unlocks'],
      ['B waits', 'A waits', 'C unlocks'],
      ['A waits', 'C unlocks', 'B waits'],
      ['C unlocks', 'A waits', 'B waits'],
      ['B waits', 'C unlocks', 'A waits'],
      ['C unlocks', 'B waits', 'A waits'],
    ];
    for (const order of orders) {
      it(order.join(', '), async () => {
        const lm = manager();
        const [a, b, c] = [lm.owner('A'), lm.owner('B'), lm.owner('C')];
        await c.setlk('adv', 'f', { type: 'write', start: 0, len: 5 });
        await b.setlk('adv', 'f', { type: 'write', start: 5, len: 5 });
        await a.setlk('adv', 'f', { type: 'write', start: 100, len: 10 });
        const waits: Record<string, ReturnType<typeof track>> = {};
        for (const step of order) {
          if (step === 'A waits') waits.A = track(a.setlk('adv', 'f', { type: 'write', start: 0, len: 10 }, { wait: true }));
          if (step === 'B waits') waits.B = track(b.setlk('adv', 'f', { type: 'write', start: 100, len: 10 }, { wait: true }));
          if (step === 'C unlocks') await c.setlk('adv', 'f', { type: 'unlock', start: 0, len: 0 });
          await flush();
        }
        const codes = ['A', 'B'].map((n) => (waits[n]!.done ? ((waits[n]!.error as { code?: string } | undefined)?.code ?? 'granted') : 'waiting'));
        expect(codes.filter((x) => x === 'EDEADLK')).toHaveLength(1);
        const survivor = codes[0] === 'EDEADLK' ? 'B' : 'A';
        // The victim lets go of what it holds; the survivor then gets its range.
        (survivor === 'A' ? b : a).releaseAll();
        await flush();
        expect(waits[survivor]!.done && waits[survivor]!.error === undefined).toBe(true);
      });
    }
  });

  describe('victim policies', () => {
    async function abba(victim: DeadlockOptions['victim'], setup: (lm: LockManager) => [ReturnType<LockManager['owner']>, ReturnType<LockManager['owner']>]): Promise<string> {
      const lm = manager({ victim });
      const [x, y] = setup(lm);
      await x.lock('lin', 'r1', 'EX');
      await y.lock('lin', 'r2', 'EX');
      const xw = track(x.lock('lin', 'r2', 'EX'));
      await flush();
      const yw = track(y.lock('lin', 'r1', 'EX'));
      await flush();
      const failed = [xw, yw].findIndex((t) => t.done && (t.error as { code?: string })?.code === 'EDEADLK');
      return failed === 0 ? x.name : y.name;
    }
    it('requester: the wait that closed the cycle', async () => {
      expect(await abba('requester', (lm) => [lm.owner('first'), lm.owner('second')])).toBe('second');
    });
    it('youngest: the owner created most recently, even if it waited first', async () => {
      expect(await abba('youngest', (lm) => { const old = lm.owner('old'); return [lm.owner('young'), old]; })).toBe('young');
    });
    it('least-locks: the owner holding fewest locks', async () => {
      expect(
        await abba('least-locks', (lm) => {
          const rich = lm.owner('rich');
          for (let i = 0; i < 3; i++) void rich.lock('lin', `extra${i}`, 'EX');
          return [lm.owner('poor'), rich];
        }),
      ).toBe('poor');
    });
    it('priority: the owner with the lowest priority', async () => {
      expect(await abba('priority', (lm) => [lm.owner('low', { priority: -5 }), lm.owner('high', { priority: 10 })])).toBe('low');
    });
  });

  it('a chain of 3,000 waiters with no cycle reports no deadlock, and drains when the end is released', async () => {
    const lm = manager();
    const n = 3000;
    const owners = Array.from({ length: n }, (_, i) => lm.owner(`o${i}`));
    for (let i = 0; i < n; i++) await owners[i]!.lock('lin', `r${i}`, 'EX');
    const waits = owners.slice(0, n - 1).map((o, i) => track(o.lock('lin', `r${i + 1}`, 'EX').then((l) => l)));
    await flush();
    lm.detectDeadlocks();
    expect(lm.deadlocks).toEqual([]);
    expect(waits.some((w) => w.done)).toBe(false);
    expect(lm.snapshot().edges).toHaveLength(n - 1);
    owners[n - 1]!.releaseAll();
    for (let i = n - 2; i >= 0; i--) {
      const lock = await waits[i]!.promise;
      expect(lock.resource).toBe(`r${i + 1}`);
      owners[i]!.releaseAll();
    }
  });

  it('a cycle longer than the search budget is found by the full pass at once', async () => {
    const lm = manager({ searchBudget: 3 });
    const n = 12;
    const owners = Array.from({ length: n }, (_, i) => lm.owner(`o${i}`));
    for (let i = 0; i < n; i++) await owners[i]!.lock('lin', `r${i}`, 'EX');
    const waits = owners.map((o, i) => track(o.lock('lin', `r${(i + 1) % n}`, 'EX')));
    await flush();
    await new Promise((r) => setTimeout(r, 20));
    await flush();
    expect(waits.filter((w) => w.done).map((w) => (w.error as { code: string }).code)).toEqual(['EDEADLK']);
    expect(lm.snapshot().detection.stats.exhausted).toBeGreaterThan(0);
    expect(lm.deadlocks[0]!.cycle).toHaveLength(n);
    lm.close();
  });

  it('deferred: a cycle is broken only after delayMs; one broken by a cancel before that has no victim', async () => {
    const clock = new FakeClock();
    const lm = manager({ detect: 'deferred', delayMs: 1000 }, { clock });
    const a = lm.owner('A');
    const b = lm.owner('B');
    await a.lock('lin', 'r1', 'EX');
    await b.lock('lin', 'r2', 'EX');
    const ac = new AbortController();
    const aw = track(a.lock('lin', 'r2', 'EX', { signal: ac.signal }));
    const bw = track(b.lock('lin', 'r1', 'EX'));
    await flush();
    clock.advance(500);
    await flush();
    expect([aw.done, bw.done]).toEqual([false, false]);
    ac.abort();
    await flush();
    clock.advance(2000);
    await flush();
    // The cancel broke the cycle: B still waits for what A holds, and nobody was a victim.
    expect(bw.done).toBe(false);
    expect(lm.deadlocks).toEqual([]);
    a.releaseAll();
    await bw.promise;

    const lm2 = manager({ detect: 'deferred', delayMs: 1000 }, { clock });
    const x = lm2.owner('X');
    const y = lm2.owner('Y');
    await x.lock('lin', 'r1', 'EX');
    await y.lock('lin', 'r2', 'EX');
    const xw = track(x.lock('lin', 'r2', 'EX'));
    const yw = track(y.lock('lin', 'r1', 'EX'));
    clock.advance(999);
    await flush();
    expect([xw.done, yw.done]).toEqual([false, false]);
    clock.advance(2);
    await flush();
    expect([xw.done, yw.done].filter(Boolean)).toHaveLength(1);
    expect(lm2.deadlocks).toHaveLength(1);
  });

  it('detect off: nothing is broken, but the graph and its cycles are shown', async () => {
    const lm = manager({ detect: 'off' });
    const a = lm.owner('A');
    const b = lm.owner('B');
    await a.lock('lin', 'r1', 'EX');
    await b.lock('lin', 'r2', 'EX');
    const aw = track(a.lock('lin', 'r2', 'EX'));
    const bw = track(b.lock('lin', 'r1', 'EX'));
    await flush();
    const snap = lm.snapshot();
    expect([aw.done, bw.done]).toEqual([false, false]);
    expect(snap.edges.map((e) => [e.fromName, e.toName, e.kind, e.resource]).sort()).toEqual([
      ['A', 'B', 'hard', 'r2'],
      ['B', 'A', 'hard', 'r1'],
    ]);
    expect(snap.cycles.map((c) => [...c.owners].sort())).toEqual([['A', 'B']]);
    expect(lm.deadlocks).toEqual([]);
  });

  it('an owner waiting for a lock it already holds incompatibly is a cycle of one', async () => {
    const lm = manager();
    const a = lm.owner('A');
    await a.lock('lin', 'r', 'EX');
    expect(await codeOf(a.lock('lin', 'r', 'EX'))).toBe('EDEADLK');
  });
});

describe('no false deadlocks', () => {
  it('an owner with several requests queued on one resource is not waiting for itself', async () => {
    const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }] });
    const h = await lm.owner('holder').lock('lin', 'r', 'EX');
    const o = lm.owner('many');
    const waits = Array.from({ length: 50 }, () => track(o.lock('lin', 'r', 'PR')));
    await flush();
    lm.detectDeadlocks();
    expect(waits.some((w) => w.done)).toBe(false);
    expect(lm.deadlocks).toEqual([]);
    h.release();
    await Promise.all(waits.map((w) => w.promise));
  });
});

describe('the wait-for graph follows the tables', () => {
  it('an ended wait takes its edges with it, granted or cancelled, the last one on its resource included', async () => {
    for (const detect of ['immediate', 'off'] as const) {
      const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }, { name: 'adv', kind: 'posix' }], deadlock: { detect } });
      const h = await lm.owner('holder').lock('lin', 'r', 'EX');
      const granted = track(lm.owner('w1').lock('lin', 'r', 'PR'));
      void lm.owner('w2').lock('lin', 'q', 'EX').catch(() => {});
      await lm.owner('p').setlk('adv', 'f', { type: 'write', start: 0, len: 1 });
      const ac = new AbortController();
      void lm.owner('w3').setlk('adv', 'f', { type: 'read', start: 0, len: 1 }, { wait: true, signal: ac.signal }).catch(() => {});
      await flush();
      expect(lm.snapshot().edges).toHaveLength(2);
      h.release();
      await granted.promise;
      ac.abort();
      await flush();
      expect(lm.snapshot().edges).toEqual([]);
      expect(lm.detector.graph.size).toEqual({ owners: 0, edges: 0 });
    }
  });
});
