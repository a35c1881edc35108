/**
 * The lock manager reads time and arms its one timer through this port, so
 * tests drive time with a FakeClock instead of sleeping.
 */

import { performance } from 'node:perf_hooks';

export interface TimerHandle {
  /** Let the process exit while this timer is armed. */
  unref?(): void;
}

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Wall-clock milliseconds since the epoch, for timestamps people read. */
  wallNow(): number;
  setTimer(fn: () => void, ms: number): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

// `performance` is imported rather than read from the global: on Node 20
// `globalThis.performance` is a lazy getter, a fifth of a reading's cost.
export const realClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

interface FakeTimer extends TimerHandle {
  at: number;
  seq: number;
  fn: () => void;
  cleared: boolean;
}

/** A clock that moves only when told to. `advance` fires due timers in deadline order. */
export class FakeClock implements Clock {
  private time: number;
  private readonly wallBase: number;
  private readonly timers = new Set<FakeTimer>();
  private seq = 0;

  constructor(start = 0, wallBase = Date.UTC(2026, 0, 1)) {
    this.time = start;
    this.wallBase = wallBase;
  }

  now(): number {
    return this.time;
  }

  wallNow(): number {
    return this.wallBase + this.time;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    const timer: FakeTimer = { at: this.time + Math.max(0, ms), seq: this.seq++, fn, cleared: false, unref() {} };
    this.timers.add(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    const timer = handle as FakeTimer;
    timer.cleared = true;
    this.timers.delete(timer);
  }

  /** Number of armed timers (the lock manager should keep at most one). */
  get pending(): number {
    return this.timers.size;
  }

  /** Move time forward by `ms`, firing every timer that falls due, each at its own time. */
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const t of this.timers) {
        if (t.at <= end && (next === undefined || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      }
      if (next === undefined) break;
      this.timers.delete(next);
      this.time = Math.max(this.time, next.at);
      next.fn();
    }
    this.time = end;
  }
}
