/**
 * A Waiter is one pending request (a new dlm lock, a dlm conversion, a
 * blocking posix setlk). It exists only while the request waits, so granted
 * locks carry none of this. Lifecycle: queued → granted | failed(code);
 * `settled` turns true exactly once.
 */

import type { TimerEntry } from './timers.js';
import type { LaneNode, TimerLane } from './lane.js';
import type { LockError } from './errors.js';
import type { Owner } from './owner.js';
import type { DlmResource } from './dlm.js';
import type { PosixResource } from './posix.js';
import type { Hang } from './shapes.js';
import { abortWait, timeOutWait } from './waits.js';

export abstract class Waiter implements LaneNode<Waiter> {
  // Fields are declared and set in the constructor, not initialized in the
  // class body: V8 (Node 20) constructs a subclass whose base class has field
  // initializers about twice as slowly (measured ~33 against ~17 ns), and a
  // wait is made for every request that queues.
  declare settled: boolean;
  declare resolve: (value: never) => void;
  declare reject: (err: LockError) => void;
  /** The watchdog's lane (soft timeout, then persistence) while armed. */
  declare laneStart: number;
  declare lanePrev: Waiter | null;
  declare laneNext: Waiter | null;
  declare lane: TimerLane<Waiter> | null;
  /** Links in the owner's list of pending requests. */
  declare ownerPrev: Waiter | null;
  declare ownerNext: Waiter | null;
  /**
   * What only some waits need (a hard timeout, an abort signal, the hang it
   * became), in a second object made on first use: a queue of 200,000
   * plain waits then carries none of it.
   */
  declare extra: WaitExtra | null;
  declare readonly id: number;
  declare readonly owner: Owner;
  declare readonly requestedAt: number;
  /** Request-site stack holder (see stacks.ts), or null when not captured. */
  declare readonly stack: object | null;

  constructor(id: number, owner: Owner, requestedAt: number, stack: object | null) {
    this.id = id;
    this.owner = owner;
    this.requestedAt = requestedAt;
    this.stack = stack;
    this.settled = false;
    this.resolve = noop;
    this.reject = noop;
    this.laneStart = 0;
    this.lanePrev = null;
    this.laneNext = null;
    this.lane = null;
    this.ownerPrev = null;
    this.ownerNext = null;
    this.extra = null;
  }

  abstract readonly res: DlmResource | PosixResource;
  abstract readonly domain: string;
  abstract readonly resource: string;
  /** The mode or posix type wanted, as users name it. */
  abstract readonly wanted: string;

  /** Take this request out of its resource's queue, changing nothing else. */
  abstract unqueue(): void;
  /** After unqueue: let the requests behind it move up. */
  abstract afterUnqueue(): void;

  /** The hang this wait became, once past its soft timeout. */
  get hang(): Hang | null {
    return this.extra?.hang ?? null;
  }
  set hang(hang: Hang | null) {
    this.ensureExtra().hang = hang;
  }

  ensureExtra(): WaitExtra {
    return (this.extra ??= new WaitExtra(this));
  }
}

/**
 * A wait's rarely used parts. It is the hard timeout's entry in the timer
 * queue and the abort signal's listener (`handleEvent`), so neither needs a
 * closure per wait.
 */
export class WaitExtra implements TimerEntry {
  deadline = 0;
  heapIndex = -1;
  readonly keepAlive = true;
  signal: AbortSignal | null = null;
  hang: Hang | null = null;

  constructor(readonly wait: Waiter) {}

  /** TimerEntry: the hard timeout passed. */
  fire(): void {
    timeOutWait(this.wait.owner.manager, this.wait);
  }

  /** EventListener: the request's signal was aborted. */
  handleEvent(): void {
    abortWait(this.wait.owner.manager, this.wait);
  }
}

function noop(): void {}
