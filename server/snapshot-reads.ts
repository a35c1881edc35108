/**
 * Snapshots for readers (server/README.md, "Reads"): the REST API and the
 * dashboard feed read the lock state through here, never through a whole
 * `lm.snapshot()` of their own.
 *
 * Read rules (cited from the code as R1…R3):
 *   R1. A reader gets at most `apiSnapshotLocksMax` locks and waits (the
 *       snapshot says `truncated` when resources were left out): building a
 *       snapshot costs ~6 µs a lock and sending it ~270 bytes a lock, so an
 *       unbounded one held the loop for seconds at 200,000 locks.
 *   R2. A snapshot that took T to build is reused, with its JSON text, for
 *       the next 9 T: however many readers poll, snapshots take at most a
 *       tenth of the loop. One of at most `snapshotFreshLocksMax` locks and
 *       waits is never reused, so a small server's readers always see the
 *       state of now (decided by size, not by time: a busy machine's pause
 *       must not make a small server's reads stale).
 *   R3. A feed connection's `refresh` and `subscribe` snapshots are throttled
 *       to `snapshotReadsPerSecond`; one asked for sooner is sent when its
 *       turn comes, once however often it was asked (feed.ts).
 *
 * A reader that wants one part (the owners, the deadlocks, the hangs) reads
 * that part alone: the owners under R1's bound, the same ones the bounded
 * snapshot lists, without its lock rows and stacks.
 */

import { performance } from 'node:perf_hooks';
import type { DeadlockRecord, Hang, LockManager, OwnerSnapshot, Snapshot } from '../src/index.js';
import { serverLimits } from './limits.js';

interface Built {
  snap: Snapshot;
  json: string | null;
  builtAt: number;
  cost: number;
  /** Locks held plus requests pending when it was built. */
  size: number;
}

export class SnapshotReads {
  private last: Built | null = null;

  constructor(private readonly lm: LockManager) {}

  /** R1 and R2: the bounded snapshot, built now or reused. */
  snapshot(): Snapshot {
    return this.current().snap;
  }

  /** The same snapshot as JSON text, stringified once for every reader of it. */
  json(): string {
    const b = this.current();
    b.json ??= JSON.stringify(b.snap);
    return b.json;
  }

  /** R1: the owners the bounded snapshot lists, without building it. */
  owners(): OwnerSnapshot[] {
    return this.lm.snapshotOwners({ locksMax: serverLimits.apiSnapshotLocksMax });
  }

  /** The deadlock history, oldest first (bounded by the core's deadlockHistoryMax). */
  deadlocks(): readonly DeadlockRecord[] {
    return this.lm.deadlocks;
  }

  /** Hangs in progress (bounded by the waits that can be pending). */
  hangs(): Hang[] {
    return this.lm.hangs();
  }

  private current(): Built {
    const now = performance.now();
    const b = this.last;
    if (b !== null && b.size > serverLimits.snapshotFreshLocksMax && now - b.builtAt < 9 * b.cost) return b;
    const size = this.lm.lockTotal + this.lm.pendingWaits;
    const snap = this.lm.snapshot({ locksMax: serverLimits.apiSnapshotLocksMax });
    const built = performance.now();
    this.last = { snap, json: null, builtAt: built, cost: built - now, size };
    return this.last;
  }
}
