/** The one timer queue: deadline order, removal from the middle, re-arming, and the process keep-alive rule. */

import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/index.js';
import { TimerQueue, type TimerEntry } from '../../src/timers.js';

function entry(log: string[], name: string, keepAlive = true): TimerEntry {
  return { deadline: 0, heapIndex: -1, keepAlive, fire: (now) => log.push(`${name}@${now}`) };
}

describe('TimerQueue', () => {
  it('fires entries in deadline order, each at its own time, with one clock timer armed', () => {
    const clock = new FakeClock();
    const q = new TimerQueue(clock);
    const log: string[] = [];
    const deadlines = [50, 10, 30, 10, 70, 20];
    deadlines.forEach((d, i) => q.add(entry(log, `e${i}`), d));
    expect(clock.pending).toBe(1);
    clock.advance(100);
    expect(log).toEqual(['e1@10', 'e3@10', 'e5@20', 'e2@30', 'e0@50', 'e4@70']);
    expect(q.size).toBe(0);
    expect(clock.pending).toBe(0);
  });

  it('removes an entry from the middle and re-queues a moved one', () => {
    const clock = new FakeClock();
    const q = new TimerQueue(clock);
    const log: string[] = [];
    const es = Array.from({ length: 100 }, (_, i) => entry(log, `e${i}`));
    es.forEach((e, i) => q.add(e, 1000 - i));
    for (let i = 0; i < 100; i += 2) q.remove(es[i]!);
    q.add(es[1]!, 5);
    expect(es[0]!.heapIndex).toBe(-1);
    clock.advance(2000);
    expect(log[0]).toBe('e1@5');
    expect(log).toHaveLength(50);
    expect(log.slice(1, 3)).toEqual(['e99@901', 'e97@903']);
  });

  it('an entry added while firing, already due, fires in the same run', () => {
    const clock = new FakeClock();
    const q = new TimerQueue(clock);
    const log: string[] = [];
    const later = entry(log, 'later');
    q.add({ deadline: 0, heapIndex: -1, keepAlive: true, fire: () => { log.push('first'); q.add(later, clock.now()); } }, 10);
    clock.advance(10);
    expect(log).toEqual(['first', 'later@10']);
  });

  it('keeps the process alive only while an entry asks for it', async () => {
    const q = new TimerQueue({
      now: () => performance.now(), wallNow: () => Date.now(),
      setTimer: (fn, ms) => setTimeout(fn, ms), clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
    });
    const log: string[] = [];
    q.add(entry(log, 'watch', false), performance.now() + 60_000);
    const armed = (q as unknown as { armed: NodeJS.Timeout }).armed;
    expect(armed.hasRef()).toBe(false);
    const hard = entry(log, 'hard', true);
    q.add(hard, performance.now() + 5);
    expect((q as unknown as { armed: NodeJS.Timeout }).armed.hasRef()).toBe(true);
    await new Promise((r) => setTimeout(r, 30));
    expect(log.map((l) => l.split('@')[0])).toEqual(['hard']);
    expect((q as unknown as { armed: NodeJS.Timeout }).armed.hasRef()).toBe(false);
    q.stop();
  });
});
