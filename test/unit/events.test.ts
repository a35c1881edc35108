/** Events that let a dashboard follow every request from the events alone. */

import { describe, expect, it } from 'vitest';
import { LockManager, type LockEvents } from '../../src/index.js';
import { codeOf } from '../spec/harness.js';

function recorder(lm: LockManager): Array<[string, Record<string, unknown>]> {
  const log: Array<[string, Record<string, unknown>]> = [];
  for (const e of ['granted', 'waiting', 'failed', 'converted', 'demoted', 'released'] as const) {
    lm.on(e, (p: LockEvents[typeof e]) => log.push([e, p as unknown as Record<string, unknown>]));
  }
  return log;
}

describe('events', () => {
  it('a conversion waits, and ends, under its lock id; a failed wait says so with its code', async () => {
    const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }] });
    const log = recorder(lm);
    const a = await lm.owner('a').lock('lin', 'r', 'PR');
    await lm.owner('b').lock('lin', 'r', 'PR');
    expect(await codeOf(a.convert('EX', { timeoutMs: 5 }))).toBe('ETIMEDOUT');
    const waiting = log.find(([e]) => e === 'waiting')![1];
    const failed = log.find(([e]) => e === 'failed')![1];
    expect(waiting).toMatchObject({ id: a.id, mode: 'EX', held: 'PR' });
    expect(failed).toMatchObject({ id: a.id, waitId: waiting.waitId, code: 'ETIMEDOUT' });
  });

  it('a demotion is its own event; the conversion stays queued', async () => {
    const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }], deadlock: { detect: 'off' } });
    const log = recorder(lm);
    const a = await lm.owner('a').lock('lin', 'r', 'PR');
    const b = await lm.owner('b').lock('lin', 'r', 'PR');
    void a.convert('EX').catch(() => {});
    void b.convert('EX', { convDeadlock: 'demote' }).catch(() => {});
    expect(log.find(([e]) => e === 'demoted')![1]).toMatchObject({ id: b.id, mode: 'NL', from: 'PR', requested: 'EX' });
    expect(log.filter(([e]) => e === 'converted').map(([, p]) => p.id)).toEqual([a.id]);
  });

  it('posix grants and unlocks carry the request id', async () => {
    const lm = new LockManager({ domains: [{ name: 'adv', kind: 'posix' }] });
    const log = recorder(lm);
    const a = lm.owner('a');
    await a.setlk('adv', 'f', { type: 'write', start: 0, len: 5 });
    await a.setlk('adv', 'f', { type: 'unlock', start: 0, len: 5 });
    expect(log.map(([e]) => e)).toEqual(['granted', 'released']);
    const ids = log.map(([, p]) => p.id as number);
    expect(ids.every((id) => id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(2);
  });
});

describe('stats and times', () => {
  it('stats() counts held locks, pending requests and live resources per domain, as the snapshot would', async () => {
    const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }, { name: 'adv', kind: 'posix' }] });
    const a = lm.owner('a');
    const l = await a.lock('lin', 'r1', 'EX');
    await a.lock('lin', 'r2', 'PR');
    void lm.owner('b').lock('lin', 'r1', 'PR').catch(() => {});
    await a.setlk('adv', 'f', { type: 'write', start: 0, len: 10 });
    await a.setlk('adv', 'f', { type: 'read', start: 4, len: 2 });
    expect(lm.stats()).toEqual({
      lin: { kind: 'dlm', held: 2, waiting: 1, resources: 2 },
      adv: { kind: 'posix', held: 3, waiting: 0, resources: 1 },
    });
    l.release();
    a.releaseAll();
    await new Promise((r) => setImmediate(r));
    expect(lm.stats().lin).toEqual({ kind: 'dlm', held: 1, waiting: 0, resources: 1 });
    const snap = lm.snapshot();
    expect(snap.domains[0]!.resources.flatMap((r) => r.granted)).toHaveLength(1);
  });

  it('the times of a lock read the same in every snapshot', async () => {
    const lm = new LockManager({ domains: [{ name: 'lin', kind: 'dlm' }] });
    await lm.owner('a').lock('lin', 'r', 'EX');
    const times = new Set<number | null>();
    for (let i = 0; i < 2000; i++) times.add(lm.snapshot().domains[0]!.resources[0]!.granted[0]!.grantedAt);
    expect(times.size).toBe(1);
  });
});
