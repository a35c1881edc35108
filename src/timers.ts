/**
 * TimerQueue: the one timer structure of a lock manager. Every deadline
 * (hard timeouts, soft timeouts, hold warnings, deferred deadlock checks)
 * is an entry in one binary min-heap, and the queue keeps exactly one clock
 * timer armed for the earliest deadline. Arming and disarming an entry is
 * O(log n) and allocates nothing beyond the entry itself; there is never a
 * setTimeout per waiter.
 *
 * Invariant: entry.heapIndex === -1 exactly when the entry is not queued, and
 * heap[entry.heapIndex] === entry otherwise.
 */

import { assert } from './assert.js';
import type { Clock, TimerHandle } from './clock.js';

export interface TimerEntry {
  deadline: number;
  heapIndex: number;
  /** Keep the process alive while this entry is queued (hard timeouts do; watchdog entries do not). */
  keepAlive: boolean;
  /** Called once when the deadline passes; the entry is already out of the queue. */
  fire(now: number): void;
}

/** Timers fire at most this late; the clock timer is re-armed no sooner than this apart. */
const SLACK_MS = 1;

export class TimerQueue {
  private readonly heap: TimerEntry[] = [];
  private armed: TimerHandle | null = null;
  private armedAt = Infinity;
  private armedRef = false;
  private firing = false;
  /** Queued entries with keepAlive. */
  private refs = 0;

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.heap.length;
  }

  /** Queue `entry` to fire at `deadline` (absolute, clock ms); moves it if already queued. */
  add(entry: TimerEntry, deadline: number): void {
    if (entry.heapIndex !== -1) {
      // In place: removing first could empty the heap and cost a clearTimeout/setTimeout pair.
      const earlier = deadline < entry.deadline;
      entry.deadline = deadline;
      if (earlier) this.siftUp(entry.heapIndex);
      else this.siftDown(entry.heapIndex);
    } else {
      entry.deadline = deadline;
      entry.heapIndex = this.heap.length;
      this.heap.push(entry);
      this.siftUp(entry.heapIndex);
      if (entry.keepAlive && this.refs++ === 0 && this.armed !== null && !this.armedRef) this.disarm();
    }
    if (!this.firing && deadline < this.armedAt) this.arm();
  }

  remove(entry: TimerEntry): void {
    const i = entry.heapIndex;
    if (i === -1) return;
    assert(this.heap[i] === entry, 'timer entry out of place');
    const last = this.heap.pop()!;
    entry.heapIndex = -1;
    if (entry.keepAlive) this.refs--;
    if (last !== entry) {
      this.heap[i] = last;
      last.heapIndex = i;
      this.siftDown(i);
      this.siftUp(last.heapIndex);
    }
    // The armed clock timer may now be early; it re-arms itself when it fires.
    if (this.heap.length === 0) this.disarm();
  }

  /** Fire everything due now. Called by the clock timer; callable by tests. */
  runDue(): void {
    this.armed = null;
    this.armedAt = Infinity;
    this.firing = true;
    try {
      const now = this.clock.now();
      while (this.heap.length > 0 && this.heap[0]!.deadline <= now) {
        const entry = this.heap[0]!;
        this.remove(entry);
        entry.fire(now);
      }
    } finally {
      this.firing = false;
      if (this.heap.length > 0) this.arm();
    }
  }

  /** Stop the clock timer (the manager is closing). Entries stay queued. */
  stop(): void {
    this.disarm();
  }

  private arm(): void {
    const next = this.heap[0]!.deadline;
    if (this.armed !== null) {
      if (this.armedAt <= next) return;
      this.clock.clearTimer(this.armed);
    }
    const delay = Math.max(0, next - this.clock.now());
    this.armedAt = next;
    this.armed = this.clock.setTimer(() => this.runDue(), Math.max(delay, delay > 0 ? SLACK_MS : 0));
    this.armedRef = this.refs > 0;
    if (!this.armedRef) this.armed.unref?.();
  }

  private disarm(): void {
    if (this.armed !== null) this.clock.clearTimer(this.armed);
    this.armed = null;
    this.armedAt = Infinity;
  }

  private siftUp(i: number): void {
    const heap = this.heap;
    const entry = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (p.deadline <= entry.deadline) break;
      heap[i] = p;
      p.heapIndex = i;
      i = parent;
    }
    heap[i] = entry;
    entry.heapIndex = i;
  }

  private siftDown(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const entry = heap[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && heap[right]!.deadline < heap[left]!.deadline ? right : left;
      const c = heap[child]!;
      if (c.deadline >= entry.deadline) break;
      heap[i] = c;
      c.heapIndex = i;
      i = child;
    }
    heap[i] = entry;
    entry.heapIndex = i;
  }
}
