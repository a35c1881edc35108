/**
 * Taking a session's locks away in slices (server/README.md, "Budgets",
 * rule B5): a session of millions of locks expiring, or saying goodbye,
 * would otherwise hold the event loop for tens of seconds (measured ~11 µs
 * a lock), and every other client's heartbeats with it. Each slice drops
 * about `releaseSliceLocks` locks, then yields with setImmediate so I/O and
 * timers run between slices. A session small enough for one slice is done
 * at once, in the caller's turn, as before.
 */

import type { Owner } from '../src/index.js';
import { assert } from '../src/assert.js';
import { serverLimits } from './limits.js';

/** Drops at most `max` of the owner's locks; true when it holds and waits for nothing. */
export type DropSome = (o: Owner, max: number) => boolean;

/**
 * Runs `drop` over `owners` a slice at a time, then `done`. `stopped` is
 * asked before each later slice (a closing server stops; the manager goes).
 */
export function dropInSlices(owners: Iterable<Owner>, drop: DropSome, done: () => void, stopped: () => boolean): void {
  const list = [...owners];
  let i = 0;
  const slice = (): boolean => {
    let left = serverLimits.releaseSliceLocks;
    while (i < list.length && left > 0) {
      const o = list[i]!;
      const before = o.holding;
      if (drop(o, left)) i++;
      // An owner with nothing left still costs a step, so a slice of empty owners ends too.
      left -= Math.max(1, before - o.holding);
    }
    assert(i <= list.length, 'slice ran past the owners');
    return i === list.length;
  };
  if (slice()) return done();
  const next = (): void => {
    if (stopped()) return;
    if (slice()) done();
    else setImmediate(next);
  };
  setImmediate(next);
}
