/**
 * A Waiter is one pending request (a new dlm lock, a dlm conversion, a
 * blocking posix setlk). It exists only while the request waits, so granted
 * locks carry none of this. Lifecycle: queued → granted | failed(code);
 * `settled` turns true exactly once.
 */

import type { TimerEntry } from './timers.js';
import type { LaneNode, TimerLane } from './lane.js';
import type { Hang } from './watchdog.js';
import type { LockError } from './errors.js';
import type { Owner } from './owner.js';
import type { DlmResource } from './dlm.js';
import type { PosixResource } from './posix.js';

export abstract class Waiter implements TimerEntry, LaneNode<Waiter> {
  deadline = 0;
  heapIndex = -1;
  keepAlive = true;
  settled = false;
  resolve: (value: never) => void = noop;
  reject: (err: LockError) => void = noop;
  signal: AbortSignal | null = null;
  abortListener: (() => void) | null = null;
  /** The watchdog's lane (soft timeout, then persistence) while armed. */
  laneStart = 0;
  lanePrev: Waiter | null = null;
  laneNext: Waiter | null = null;
  lane: TimerLane<Waiter> | null = null;
  /** The hang this wait became, once past its soft timeout. */
  hang: Hang | null = null;
  /** Links in the owner's list of pending requests. */
  ownerPrev: Waiter | null = null;
  ownerNext: Waiter | null = null;

  constructor(
    readonly id: number,
    readonly owner: Owner,
    readonly requestedAt: number,
    /** Request-site stack holder (see stacks.ts), or null when not captured. */
    readonly stack: object | null,
  ) {}

  abstract readonly res: DlmResource | PosixResource;
  abstract readonly domain: string;
  abstract readonly resource: string;
  /** The mode or posix type wanted, as users name it. */
  abstract readonly wanted: string;

  /** Take this request out of its resource's queue, changing nothing else. */
  abstract unqueue(): void;
  /** After unqueue: let the requests behind it move up. */
  abstract afterUnqueue(): void;

  fire(): void {
    this.owner.manager.timeOutWait(this);
  }
}

function noop(): void {}
