/**
 * TimerLane: deadlines that all share one delay (a domain's soft timeout,
 * its hold warning, the deferred-detection delay) fall due in the order they
 * were armed, so a FIFO list holds them sorted for free. Arming is a push,
 * disarming an unlink: O(1), nothing allocated (the node carries its links).
 * Only the lane itself sits in the manager's TimerQueue, at a deadline no
 * later than its head's, so there is still one timer structure and one clock
 * timer, however many waits are armed.
 *
 * Precondition: `start` values passed to `arm` never decrease (the clock is
 * monotonic and entries are armed as events happen).
 * Invariants: node.lane === this exactly while the node is in this lane; the
 * lane is queued in the TimerQueue exactly while it is not empty, with
 * `deadline <= head.laneStart + delayMs` (equal unless the head left since).
 */

import { assert } from './assert.js';
import type { TimerEntry, TimerQueue } from './timers.js';

export interface LaneNode<N extends LaneNode<N>> {
  laneStart: number;
  lanePrev: N | null;
  laneNext: N | null;
  lane: TimerLane<N> | null;
}

export class TimerLane<N extends LaneNode<N>> implements TimerEntry {
  deadline = 0;
  heapIndex = -1;
  private head: N | null = null;
  private tail: N | null = null;
  size = 0;

  constructor(
    private readonly timers: TimerQueue,
    /** The shared delay, ms. */
    readonly delayMs: number,
    /** Called for each node whose start + delay has passed; the node is already out of the lane. */
    private readonly due: (node: N, now: number) => void,
    /** Keep the process alive while anything is armed (fixed for the lane's life: the timer queue counts it). */
    readonly keepAlive = false,
  ) {}

  arm(node: N, start: number): void {
    assert(node.lane === null, 'node already in a lane');
    assert(this.tail === null || this.tail.laneStart <= start, 'lane starts must not decrease');
    node.lane = this;
    node.laneStart = start;
    node.lanePrev = this.tail;
    node.laneNext = null;
    if (this.tail === null) {
      this.head = node;
      this.timers.add(this, start + this.delayMs);
    } else {
      this.tail.laneNext = node;
    }
    this.tail = node;
    this.size++;
  }

  disarm(node: N): void {
    if (node.lane !== this) return;
    const wasHead = node === this.head;
    if (node.lanePrev === null) this.head = node.laneNext;
    else node.lanePrev.laneNext = node.laneNext;
    if (node.laneNext === null) this.tail = node.lanePrev;
    else node.laneNext.lanePrev = node.lanePrev;
    node.lanePrev = node.laneNext = null;
    node.lane = null;
    this.size--;
    // Taking the head out leaves the lane's heap entry at the old, earlier
    // deadline: on a hot queue the head leaves at every handover, and moving
    // the entry each time was a heap operation per grant. The early entry
    // fires at most once per delay and re-arms at the new head (fire).
    if (wasHead && this.head === null) this.timers.remove(this);
  }

  /** TimerEntry: the head fell due. */
  fire(now: number): void {
    for (let n = this.head; n !== null && n.laneStart + this.delayMs <= now; n = this.head) {
      this.disarmQuietly(n);
      this.due(n, now);
    }
    if (this.head !== null && this.heapIndex === -1) this.timers.add(this, this.head.laneStart + this.delayMs);
  }

  private disarmQuietly(n: N): void {
    this.head = n.laneNext;
    if (this.head === null) this.tail = null;
    else this.head.lanePrev = null;
    n.laneNext = null;
    n.lane = null;
    this.size--;
  }
}

/** A lane node that carries one item (a wait, a lock) for the lanes whose items cannot be nodes themselves. */
export class LaneItem<T> implements LaneNode<LaneItem<T>> {
  laneStart = 0;
  lanePrev: LaneItem<T> | null = null;
  laneNext: LaneItem<T> | null = null;
  lane: TimerLane<LaneItem<T>> | null = null;
  constructor(readonly item: T) {}
}
