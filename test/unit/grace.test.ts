/** Grace period and reclaim in the core (NFSv4 rules), and tokens that keep increasing across restarts. */

import { describe, expect, it } from 'vitest';
import { FakeClock, LockManager, type GraceEvent } from '../../src/index.js';
import { codeOf } from '../spec/harness.js';

function restarted() {
  const clock = new FakeClock();
  const lm = new LockManager({ clock, domains: [{ name: 'lin', kind: 'dlm', lvbBytes: 8 }, { name: 'adv', kind: 'posix' }] });
  const events: GraceEvent[] = [];
  lm.on('grace', (e) => events.push(e));
  lm.beginGrace({ durationMs: 90_000, maxMs: 60_000, clients: ['c1', 'c2'] });
  return { clock, lm, events };
}

describe('grace period', () => {
  it('refuses new state with EGRACE, in-process owners too, and grants reclaims at once', async () => {
    const { lm } = restarted();
    expect(await codeOf(lm.owner('local').lock('lin', 'r', 'PR'))).toBe('EGRACE');
    expect(await codeOf(lm.owner('local').setlk('adv', 'f', { type: 'read', start: 0, len: 1 }))).toBe('EGRACE');
    const l = await lm.owner('a', { client: 'c1' }).lock('lin', 'r', 'EX', { reclaim: true, lvb: new Uint8Array([7]) });
    expect(l.state).toBe('granted');
    expect(l.lvb![0]).toBe(7);
    await lm.owner('b', { client: 'c2' }).setlk('adv', 'f', { type: 'write', start: 0, len: 10 }, { reclaim: true });
    expect(lm.snapshot().grace).toMatchObject({ active: true, reclaims: 2, expected: ['c1', 'c2'] });
  });

  it('restores the value block from a writer\'s copy, else from the readers\' newest, never from a CR/NL copy', async () => {
    const bytes = (...b: number[]) => new Uint8Array(b);
    // Readers only: the highest sequence number wins, and is kept.
    let { lm } = restarted();
    const a = lm.owner('a', { client: 'c1' });
    const b = lm.owner('b', { client: 'c2' });
    await a.lock('lin', 'r', 'PR', { reclaim: true, lvb: bytes(3), lvbSeq: 3 });
    await b.lock('lin', 'r', 'PR', { reclaim: true, lvb: bytes(5), lvbSeq: 5 });
    await a.lock('lin', 'r', 'CW', { reclaim: true, lvb: bytes(4), lvbSeq: 4 }).catch(() => null); // CW conflicts with PR: refused
    lm.reclaimComplete('c1');
    lm.reclaimComplete('c2');
    let l = await lm.owner('later').lock('lin', 'r', 'NL');
    expect([l.lvb![0], l.lvbSeq, l.lvbValid]).toEqual([5, 5, true]);
    // A PW copy overrides the readers', whatever their sequence numbers.
    ({ lm } = restarted());
    await lm.owner('a', { client: 'c1' }).lock('lin', 'r', 'CR', { reclaim: true, lvb: bytes(9), lvbSeq: 9 });
    await lm.owner('b', { client: 'c2' }).lock('lin', 'r', 'PW', { reclaim: true, lvb: bytes(7), lvbSeq: 7 });
    l = await lm.owner('c', { client: 'c2' }).lock('lin', 'r', 'NL', { reclaim: true });
    expect([l.lvb![0], l.lvbSeq, l.lvbValid]).toEqual([7, 7, true]);
    // Only a CR copy (it may predate a write): the value is unknown, so invalid.
    ({ lm } = restarted());
    l = await lm.owner('a', { client: 'c1' }).lock('lin', 'r', 'CR', { reclaim: true, lvb: bytes(9), lvbSeq: 9 });
    expect(l.lvbValid).toBe(false);
    // Bad input changes nothing.
    expect(await codeOf(lm.owner('b', { client: 'c2' }).lock('lin', 'r2', 'PR', { reclaim: true, lvbSeq: 1 }))).toBe('EINVAL');
    expect(await codeOf(lm.owner('b', { client: 'c2' }).lock('lin', 'r2', 'PR', { reclaim: true, lvb: bytes(1), lvbSeq: -1 }))).toBe('EINVAL');
    expect(await codeOf(lm.owner('b', { client: 'c2' }).lock('lin', 'r2', 'PR', { lvb: bytes(1) }))).toBe('EINVAL'); // lvb without reclaim
    expect(lm.snapshot().domains.find((d) => d.name === 'lin')!.resources.map((r) => r.name)).toEqual(['r']);
  });

  it('refuses a reclaim that conflicts with another reclaim (EINVAL) and changes nothing', async () => {
    const { lm } = restarted();
    await lm.owner('a', { client: 'c1' }).lock('lin', 'r', 'PR', { reclaim: true });
    const before = lm.snapshot().domains;
    expect(await codeOf(lm.owner('b', { client: 'c2' }).lock('lin', 'r', 'EX', { reclaim: true }))).toBe('EINVAL');
    await lm.owner('b', { client: 'c2' }).setlk('adv', 'f', { type: 'write', start: 0, len: 10 }, { reclaim: true });
    expect(await codeOf(lm.owner('a', { client: 'c1' }).setlk('adv', 'f', { type: 'read', start: 5, len: 1 }, { reclaim: true }))).toBe('EINVAL');
    expect(lm.snapshot().domains.find((d) => d.name === 'lin')).toEqual(before.find((d) => d.name === 'lin'));
  });

  it('lifts early once every expected client said it is done; then new locks are granted', async () => {
    const { lm, events } = restarted();
    await lm.owner('a', { client: 'c1' }).lock('lin', 'r', 'PR', { reclaim: true });
    lm.reclaimComplete('c1');
    expect(lm.grace.active).toBe(true);
    expect(await codeOf(lm.owner('a2', { client: 'c1' }).lock('lin', 'r2', 'PR', { reclaim: true }))).toBe('ENOGRACE');
    lm.reclaimComplete('c2');
    expect(lm.grace.active).toBe(false);
    expect(events.at(-1)).toMatchObject({ phase: 'end', missing: [], state: { ended: 'all-reclaimed' } });
    expect((await lm.owner('new').lock('lin', 'r', 'PR')).mode).toBe('PR');
    expect(await codeOf(lm.owner('late', { client: 'c2' }).lock('lin', 'x', 'EX', { reclaim: true }))).toBe('ENOGRACE');
  });

  it('ends at its deadline, naming the clients that never came back', async () => {
    const { clock, lm, events } = restarted();
    clock.advance(89_999);
    expect(lm.grace.active).toBe(true);
    clock.advance(1);
    expect(lm.grace.active).toBe(false);
    expect(events.at(-1)).toMatchObject({ phase: 'end', missing: ['c1', 'c2'], state: { ended: 'deadline' } });
  });

  it('is extended while reclaims still arrive, never past maxMs from the start', async () => {
    const clock = new FakeClock();
    const lm = new LockManager({ clock, domains: [{ name: 'lin', kind: 'dlm' }] });
    lm.beginGrace({ durationMs: 1000, maxMs: 3000, clients: ['c1'], extendMs: 1000 });
    const o = lm.owner('a', { client: 'c1' });
    for (let i = 0; i < 10; i++) {
      clock.advance(900);
      if (!lm.grace.active) break;
      await o.lock('lin', `r${i}`, 'PR', { reclaim: true });
    }
    expect(lm.grace.active).toBe(false);
    expect(clock.now()).toBe(3600); // extended past 1000 by reclaims, ended at the 3000 ms ceiling
  });

  it('an operator can lift it; reclaims outside grace and from unknown clients get ENOGRACE; up-conversions wait for grace', async () => {
    const { lm } = restarted();
    expect(await codeOf(lm.owner('anon').lock('lin', 'r', 'PR', { reclaim: true }))).toBe('ENOGRACE');
    expect(await codeOf(lm.owner('stranger', { client: 'c9' }).lock('lin', 'r', 'PR', { reclaim: true }))).toBe('ENOGRACE');
    expect(await codeOf(lm.owner('stranger', { client: 'c9' }).setlk('adv', 'f', { type: 'read', start: 0, len: 1 }, { reclaim: true }))).toBe('ENOGRACE');
    const l = await lm.owner('a', { client: 'c1' }).lock('lin', 'r', 'PR', { reclaim: true });
    expect(await codeOf(l.convert('EX'))).toBe('EGRACE');
    await l.convert('NL');
    lm.liftGrace();
    expect(lm.snapshot().grace).toMatchObject({ active: false, ended: 'lifted' });
    expect(await codeOf(lm.owner('b', { client: 'c2' }).lock('lin', 'q', 'PR', { reclaim: true }))).toBe('ENOGRACE');
  });
});

describe('fencing tokens across restarts', () => {
  it('reserves blocks durably before issuing from them, and a restart resumes above', async () => {
    let recorded = 0;
    const reserve = (upTo: number): void => {
      recorded = upTo;
    };
    const lm1 = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }], tokens: { block: 5, reserve } });
    const before: bigint[] = [];
    for (let i = 0; i < 7; i++) {
      const l = await lm1.owner('o').lock('lin', 'r', 'EX');
      before.push(l.token);
      l.release();
    }
    expect(recorded).toBe(10);
    // A crash: the new process starts from the durable record.
    const lm2 = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }], tokens: { start: recorded, block: 5, reserve } });
    const after = (await lm2.owner('o').lock('lin', 'r', 'EX')).token;
    expect(after > before.at(-1)!).toBe(true);
    expect(after).toBe(11n);
  });
});
