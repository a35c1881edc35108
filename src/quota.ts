/**
 * Quotas (src/README.md, "Quotas"): a bound on what a group of owners may
 * hold and wait for at once, and on the deadlock-search work they may cause.
 * A lock server gives each remote session a quota inside its principal's,
 * so one session, or one token's many sessions, cannot take the whole
 * manager. Owners without a quota are bound only by the manager's limits.
 *
 * A quota counts the granted locks (dlm handles and posix pieces) and the
 * pending requests of its owners, and of the quotas nested in it: an owner's
 * change is charged to its quota and each parent (Owner's bookkeeping).
 * Invariant: 0 <= used, and used <= max except for what a posix split of a
 * held range adds (the same as locksPerOwnerMax allows). A quota is never
 * freed: it holds no reference to its owners.
 */

import { assert } from './assert.js';
import { LockError } from './errors.js';

export class Quota {
  /** @internal Granted locks plus pending requests of its owners and nested quotas (public, read-only: `used`). */
  count = 0;
  /** Deadlock-search edges left in the current second (`searchEdgesPerSecond`). */
  private searchCredit: number;
  private searchSecond = -1;

  /**
   * @param limit the name an ENOLCK carries (`context.limit`), e.g. `locksPerSessionMax`
   * @param max locks plus waits at once
   * @param searchEdgesPerSecond wait-for edges its owners' searches may follow per second (0: no bound)
   */
  constructor(
    readonly limit: string,
    readonly max: number,
    readonly parent: Quota | null = null,
    readonly searchEdgesPerSecond = 0,
  ) {
    if (!Number.isSafeInteger(max) || max < 0) throw new LockError('EINVAL', `quota max must be a non-negative integer, got ${max}`);
    if (!Number.isSafeInteger(searchEdgesPerSecond) || searchEdgesPerSecond < 0) {
      throw new LockError('EINVAL', `quota searchEdgesPerSecond must be a non-negative integer, got ${searchEdgesPerSecond}`);
    }
    this.searchCredit = searchEdgesPerSecond;
  }

  /** Granted locks plus pending requests of its owners and nested quotas. Read-only: the owners' bookkeeping keeps it. */
  get used(): number {
    return this.count;
  }

  /** @internal The first quota of the chain that `delta` more would take past its max, or null. */
  static full(q: Quota | null, delta: number): Quota | null {
    for (; q !== null; q = q.parent) if (q.count + delta > q.max) return q;
    return null;
  }

  /** @internal Owner's bookkeeping: `delta` more (or fewer) locks or waits, charged to the chain. */
  static charge(q: Quota | null, delta: number): void {
    for (; q !== null; q = q.parent) {
      q.count += delta;
      assert(q.count >= 0, `quota ${q.limit} went negative`);
    }
  }

  /**
   * @internal Whether a search may start now for an owner of this chain: every quota
   * with a search bound has credit left in this second (`nowMs`: the
   * manager's clock). A search refused here is left to the periodic full
   * pass (deadlock.ts), so a cycle is still found, within `fullPassMs`.
   */
  static maySearch(q: Quota | null, nowMs: number): boolean {
    for (; q !== null; q = q.parent) {
      if (q.searchEdgesPerSecond === 0) continue;
      const second = Math.floor(nowMs / 1000);
      if (second !== q.searchSecond) {
        q.searchSecond = second;
        q.searchCredit = q.searchEdgesPerSecond;
      }
      if (q.searchCredit <= 0) return false;
    }
    return true;
  }

  /** @internal A search that followed `edges` edges is paid for by every bounded quota of the chain. */
  static paySearch(q: Quota | null, edges: number): void {
    for (; q !== null; q = q.parent) if (q.searchEdgesPerSecond > 0) q.searchCredit -= edges;
  }
}
