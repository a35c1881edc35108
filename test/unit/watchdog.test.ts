/**
 * Soft timeouts, hangs, persistent hangs and long holds, on a fake clock;
 * lock-order inversions; request-site stacks; and, on real timers, that a
 * hang listener keeps a stuck program alive until its hang is reported.
 */

import { describe, expect, it } from 'vitest';
import { FakeClock, LockManager, realClock, type Clock, type Hang, type LongHold, type OrderInversion } from '../../src/index.js';
import { codeOf, track } from '../spec/harness.js';

const flush = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

function setup(extra: { holdWarnMs?: number } = {}) {
  const clock = new FakeClock();
  const lm = new LockManager({
    node: 'n1', clock,
    domains: [
      { name: 'lin', kind: 'dlm', softTimeoutMs: 1000, persistentAfterMs: 5000, ...extra },
      { name: 'adv', kind: 'posix', softTimeoutMs: 1000 },
    ],
  });
  const events: Array<[string, Hang | LongHold]> = [];
  for (const e of ['hang', 'hang-persistent', 'hang-resolved', 'long-hold'] as const) lm.on(e, (p) => events.push([e, p]));
  return { clock, lm, events };
}

describe('the watchdog', () => {
  it('after the oldest wait is granted, the next one hangs exactly at its own soft timeout, and an emptied lane leaves no timer', async () => {
    const { clock, lm, events } = setup();
    const holder = await lm.owner('holder').lock('lin', 'hot', 'EX');
    const first = track(lm.owner('first').lock('lin', 'hot', 'EX'));
    clock.advance(300);
    const second = track(lm.owner('second').lock('lin', 'hot', 'EX'));
    clock.advance(100);
    holder.release(); // first leaves the soft-timeout lane's head at t = 400
    await flush();
    expect(first.done).toBe(true);
    clock.advance(600); // t = 1000: first's old deadline; second's is 1300
    expect(events).toEqual([]);
    clock.advance(299);
    expect(events).toEqual([]);
    clock.advance(1); // t = 1300
    expect(events.map(([e, p]) => [e, (p as Hang).owner])).toEqual([['hang', 'second']]);
    (await first.promise).release();
    await flush();
    expect(second.done).toBe(true);
    (await second.promise).release();
    lm.close();
    expect(clock.pending).toBe(0);
  });

  it('reports a hang at the soft timeout with the chain and the root blocker, and never fails the wait', async () => {
    const { clock, lm, events } = setup();
    const root = lm.owner('job-4', { meta: { pid: 4 } });
    const mid = lm.owner('job-9');
    const waiter = lm.owner('job-17');
    const held = await root.lock('lin', 'inode:12', 'EX');
    await mid.lock('lin', 'inode:13', 'EX');
    const midWait = track(mid.lock('lin', 'inode:12', 'PR'));
    clock.advance(10);
    const w = track(waiter.lock('lin', 'inode:13', 'EX'));
    clock.advance(989);
    expect(events).toEqual([]);
    clock.advance(1); // t = 1000: job-9's soft timeout
    const hangs = events.filter(([e]) => e === 'hang').map(([, p]) => p as Hang);
    expect(hangs.map((h) => h.owner)).toEqual(['job-9']);
    clock.advance(10); // t = 1010: job-17's
    const hang = events.filter(([e]) => e === 'hang').map(([, p]) => p as Hang)[1]!;
    expect(hang).toMatchObject({ owner: 'job-17', resource: 'inode:13', wanted: 'EX', classification: 'pending', softTimeoutMs: 1000 });
    expect(hang.chain.map((c) => [c.owner, c.depth, c.waitsFor.map((x) => x.owner)])).toEqual([
      ['job-17', 0, ['job-9']],
      ['job-9', 1, ['job-4']],
    ]);
    expect(hang.rootBlockers).toHaveLength(1);
    expect(hang.rootBlockers[0]).toMatchObject({ owner: 'job-4', meta: { pid: 4 } });
    expect(hang.rootBlockers[0]!.holds).toEqual([
      expect.objectContaining({ domain: 'lin', resource: 'inode:12', mode: 'EX', since: lm.toWall(0) }),
    ]);
    expect(hang.rootBlockers[0]!.holds[0]!.stack!.split('\n')[0]).toContain('watchdog.test.ts');
    expect(lm.snapshot().hangs.map((h) => h.owner).sort()).toEqual(['job-17', 'job-9']);
    expect([w.done, midWait.done]).toEqual([false, false]);

    held.release();
    await flush();
    const resolved = events.filter(([e]) => e === 'hang-resolved').map(([, p]) => p as Hang);
    expect(resolved.map((h) => [h.owner, h.classification, h.outcome, h.waitedMs])).toEqual([['job-9', 'transient', 'granted', 1010]]);
    expect(lm.snapshot().hangHistory.map((h) => h.owner)).toEqual(['job-9']);
  });

  it('marks a hang persistent when still blocked persistentAfterMs after the soft timeout; a failed wait resolves it', async () => {
    const { clock, lm, events } = setup();
    await lm.owner('a').lock('lin', 'r', 'EX');
    const ac = new AbortController();
    const w = lm.owner('b').lock('lin', 'r', 'EX', { signal: ac.signal });
    clock.advance(1000 + 4999);
    expect(events.map(([e]) => e)).toEqual(['hang']);
    clock.advance(1);
    expect(events.map(([e]) => e)).toEqual(['hang', 'hang-persistent']);
    ac.abort();
    expect(await codeOf(w)).toBe('ECANCELED');
    const last = events.at(-1)!;
    expect(last[0]).toBe('hang-resolved');
    expect(last[1]).toMatchObject({ classification: 'persistent', outcome: 'ECANCELED', waitedMs: 6000 });
  });

  it('a posix holder shows where and when its range was locked, in the snapshot as in hangs', async () => {
    const { clock, lm } = setup();
    clock.advance(250);
    await lm.owner('holder').setlk('adv', 'f', { type: 'write', start: 0, len: 10 });
    const piece = lm.snapshot().domains.find((d) => d.name === 'adv')!.resources[0]!.granted[0]!;
    expect(piece.grantedAt).toBe(lm.toWall(250));
    expect(piece.stack!.split('\n')[0]).toContain('watchdog.test.ts');
  });

  it('a posix hang names the holder as root blocker', async () => {
    const { clock, lm, events } = setup();
    await lm.owner('holder').setlk('adv', 'f', { type: 'write', start: 0, len: 10 });
    void lm.owner('w').setlk('adv', 'f', { type: 'read', start: 5, len: 1 }, { wait: true });
    clock.advance(1000);
    const hang = events[0]![1] as Hang;
    expect(hang.rootBlockers.map((r) => [r.owner, r.holds.map((h) => h.mode)])).toEqual([['holder', ['write']]]);
  });

  it('reports a long hold once, and not for a lock released in time', async () => {
    const { clock, lm, events } = setup({ holdWarnMs: 500 });
    const quick = await lm.owner('quick').lock('lin', 'q', 'EX');
    await lm.owner('slow').lock('lin', 's', 'PW');
    clock.advance(499);
    quick.release();
    clock.advance(1000);
    expect(events.map(([e, p]) => [e, (p as LongHold).owner, (p as LongHold).mode, (p as LongHold).heldMs])).toEqual([['long-hold', 'slow', 'PW', 500]]);
  });

  it('keeps one clock timer however many waits are armed', async () => {
    const { clock, lm } = setup();
    await lm.owner('h').lock('lin', 'r', 'EX');
    for (let i = 0; i < 1000; i++) void lm.owner(`w${i}`).lock('lin', 'r', 'EX', { timeoutMs: 10_000 + i }).catch(() => {});
    expect(clock.pending).toBe(1);
    // 1,000 hard timeouts in the heap; the 1,000 soft timeouts are one lane entry; plus the full pass.
    expect(lm.timers.size).toBe(1002);
  });
});

describe('lock-order checking', () => {
  it('reports A→B then B→A once per pair, with the stacks of both orders, before any deadlock', async () => {
    const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }, { name: 'adv', kind: 'posix' }] });
    const seen: OrderInversion[] = [];
    lm.on('order-inversion', (x) => seen.push(x));
    const t1 = lm.owner('t1');
    const a = await t1.lock('lin', 'inode:1', 'EX');
    const b = await t1.lock('lin', 'dir:7', 'EX');
    b.release();
    a.release();
    const t2 = lm.owner('t2');
    await t2.lock('lin', 'dir:8', 'EX');
    await t2.lock('lin', 'inode:2', 'EX');
    t2.releaseAll();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.classes).toEqual(['lin:dir:#', 'lin:inode:#']);
    expect(seen[0]!.now).toMatchObject({ owner: 't2', heldResource: 'dir:8', requestedResource: 'inode:2' });
    expect(seen[0]!.earlier).toEqual([expect.objectContaining({ from: 'lin:inode:#', to: 'lin:dir:#', owner: 't1' })]);
    expect(seen[0]!.now.requestedStack!.split('\n')[0]).toContain('watchdog.test.ts');
    expect(seen[0]!.earlier[0]!.heldStack!.split('\n')[0]).toContain('watchdog.test.ts');
    // Again, in both orders: no second report.
    await t2.lock('lin', 'dir:9', 'EX');
    await t2.lock('lin', 'inode:3', 'EX');
    expect(seen).toHaveLength(1);
    expect(lm.snapshot().orderInversions).toHaveLength(1);
  });

  it('finds inversions through longer chains and across kinds, and can be turned off', async () => {
    const check = async (lockOrder: boolean): Promise<number> => {
      const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }, { name: 'adv', kind: 'posix' }], lockOrder });
      let n = 0;
      lm.on('order-inversion', () => n++);
      const o = lm.owner('o');
      await o.lock('lin', 'a', 'EX');
      await o.lock('lin', 'b', 'EX');
      o.releaseAll();
      await o.lock('lin', 'b', 'EX');
      await o.setlk('adv', 'file', { type: 'write', start: 0, len: 1 });
      o.releaseAll();
      await o.setlk('adv', 'file', { type: 'read', start: 0, len: 1 });
      await o.lock('lin', 'a', 'PR');
      o.releaseAll();
      return n;
    };
    expect(await check(true)).toBe(1);
    expect(await check(false)).toBe(0);
  });
});

describe('request-site stacks', () => {
  it('the first frame of a lock\'s stack is the caller\'s, in every mode', async () => {
    for (const stacks of ['all', 'waits', 'off'] as const) {
      const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }], stacks });
      await lm.owner('h').lock('lin', 'r', 'EX');
      void lm.owner('w').lock('lin', 'r', 'EX').catch(() => {});
      const r = lm.snapshot().domains[0]!.resources[0]!;
      const held = r.granted[0]!.stack;
      const waiting = r.waiting[0]!.stack;
      if (stacks === 'all') expect(held!.split('\n')[0]).toMatch(/watchdog\.test\.ts:\d+/);
      else expect(held).toBeNull();
      if (stacks === 'off') expect(waiting).toBeNull();
      else expect(waiting!.split('\n')[0]).toMatch(/watchdog\.test\.ts:\d+/);
      lm.close();
    }
  });

  it('an error that arrives later carries the request site as its stack, not lockscope internals', async () => {
    const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }] });
    await lm.owner('h').lock('lin', 'r', 'EX');
    const err = (await lm.owner('w').lock('lin', 'r', 'EX', { timeoutMs: 5 }).then(() => null, (e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('ETIMEDOUT');
    const frames = err.stack!.split('\n');
    expect(frames[0]).toMatch(/^LockError: ETIMEDOUT/);
    expect(frames[1]).toMatch(/watchdog\.test\.ts:\d+/);
    expect(err.stack).not.toMatch(/timers\.[jt]s|manager\.[jt]s/);
    lm.close();
  });
});

describe('a stuck program with a hang listener', () => {
  // Node exits once no ref'd handle is left, and the manager arms one clock timer (Timers,
  // src/README.md). So "the process stays alive" is "that timer is armed and ref'd": this clock
  // is the real one, keeping the timers it armed that have neither fired nor been cleared.
  function watchedClock(): { clock: Clock; keepsAlive(): boolean } {
    const armed = new Set<NodeJS.Timeout>();
    const clock: Clock = {
      now: realClock.now,
      wallNow: realClock.wallNow,
      setTimer(fn, ms) {
        const t = setTimeout(() => { armed.delete(t); fn(); }, ms);
        armed.add(t);
        return t;
      },
      clearTimer(handle) {
        armed.delete(handle as NodeJS.Timeout);
        clearTimeout(handle as NodeJS.Timeout);
      },
    };
    return { clock, keepsAlive: () => [...armed].some((t) => t.hasRef()) };
  }

  async function stuck(listen: boolean) {
    const { clock, keepsAlive } = watchedClock();
    const lm = new LockManager({ clock, domains: [{ name: 'lin', kind: 'dlm', softTimeoutMs: 200 }] });
    const lines: string[] = [];
    const reported = new Promise<void>((resolve) => {
      if (listen) lm.on('hang', (h) => { lines.push(`hang ${h.owner} ${h.rootBlockers.map((r) => r.owner).join()}`); resolve(); });
    });
    await lm.owner('holder').lock('lin', 'r', 'EX');
    const wait = lm.owner('stuck').lock('lin', 'r', 'EX').catch(() => {});
    return { lm, lines, reported, wait, keepsAlive };
  }

  it('stays alive until the soft timeout reports the hang, then may exit', async () => {
    const { lm, lines, reported, wait, keepsAlive } = await stuck(true);
    expect(keepsAlive()).toBe(true); // every task awaits the lock: only this timer keeps the process up
    await reported;
    await new Promise((r) => setImmediate(r)); // the timer queue re-arms after the hang's listeners ran
    expect(lines).toEqual(['hang stuck holder']);
    expect(keepsAlive()).toBe(false); // reported: nothing holds the process any more
    lm.close();
    await wait;
  });

  it('without a hang listener the wait keeps nothing alive', async () => {
    const { lm, wait, keepsAlive } = await stuck(false);
    expect(keepsAlive()).toBe(false);
    lm.close();
    await wait;
  });
});
