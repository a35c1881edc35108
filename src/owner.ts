/**
 * Owner: who holds and waits (a task, a transaction, a remote client's
 * task); the node of the wait-for graph. Created by `lm.owner(name)`.
 * An owner keeps its own granted dlm locks on an intrusive list, the posix
 * resources it holds pieces on, and its pending requests, so `releaseAll`
 * touches only what the owner has.
 */

import type { LockOptions, LockOwner, OwnerOptions, PosixLockInfo, PosixRequest, SetlkOptions, SetlkResult } from './api.js';
import type { DlmLock } from './dlm-lock.js';
import type { EngineHost } from './host.js';
import type { DlmMode } from './modes.js';
import type { PosixResource } from './posix.js';
import { Quota } from './quota.js';
import type { Waiter } from './waiter.js';
import { failMany } from './waits.js';
import type { LossReason } from './shapes.js';

export type OwnerMeta = NonNullable<OwnerOptions['meta']>;

export class Owner implements LockOwner {
  /** @internal Granted dlm locks plus posix pieces held (public: `holding`). */
  lockCount = 0;
  /** @internal */
  dlmHead: DlmLock | null = null;
  /** @internal Pending requests, newest first (intrusive list through Waiter.ownerPrev/ownerNext). */
  waitHead: Waiter | null = null;
  /** @internal (public: `waiting`) */
  waitCount = 0;
  /** @internal */
  posixResources: Set<PosixResource> | null = null;
  /** @internal Counted in the manager's active owners (holds or waits for something). */
  active = false;
  /** @internal Stamp of the last wait-for search that visited this owner (waitfor.ts). */
  searchEpoch = 0;

  constructor(
    /** @internal The manager's side the engines use (host.ts). */
    readonly manager: EngineHost,
    readonly id: number,
    readonly name: string,
    readonly meta: OwnerMeta | null,
    readonly priority: number,
    /** Creation order, for the `youngest` victim policy. */
    readonly createdAt: number,
    /** The client it belongs to (its reclaim identity), or null for a local owner. */
    readonly client: string | null = null,
    /** What its locks and waits are charged to (quota.ts), or null: bound only by the manager's limits. */
    readonly quota: Quota | null = null,
  ) {}

  lock(domain: string, resource: string, mode: DlmMode, options?: LockOptions): Promise<DlmLock> {
    try {
      return this.manager.dlm.request(this, domain, resource, mode, options, Owner.prototype.lock);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  setlk(domain: string, resource: string, request: PosixRequest, options?: SetlkOptions): Promise<SetlkResult | null> {
    try {
      return this.manager.posix.setlk(this, domain, resource, request, options, Owner.prototype.setlk);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  getlk(domain: string, resource: string, request: PosixRequest): Promise<PosixLockInfo | null> {
    try {
      return this.manager.posix.getlk(this, domain, resource, request);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * For a server relaying a remote client's request: like lock(), with the
   * request-site stack the client captured (`site`, "at ..." lines). `mode`
   * is a name off the wire, checked here as every argument is (EINVAL).
   */
  lockAt(site: string, domain: string, resource: string, mode: string, options?: LockOptions): Promise<DlmLock> {
    try {
      return this.manager.dlm.request(this, domain, resource, mode, options, site);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** setlk() relayed for a remote client, with its request-site stack. */
  setlkAt(site: string, domain: string, resource: string, request: PosixRequest, options?: SetlkOptions): Promise<SetlkResult | null> {
    try {
      return this.manager.posix.setlk(this, domain, resource, request, options, site);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Take everything away (a lost session, a failed node, an operator):
   * pending requests fail with EREVOKED, dlm handles end in state `lost` with
   * `lostReason`, posix pieces are dropped.
   */
  revokeAll(reason: Exclude<LossReason, 'released'>): void {
    this.revokeSome(reason, Number.POSITIVE_INFINITY);
  }

  /** Pending requests fail with ECANCELED first, so nothing is granted to this owner while it lets go. */
  releaseAll(): void {
    this.releaseSome(Number.POSITIVE_INFINITY);
  }

  /**
   * revokeAll in slices, for a caller that yields to its event loop between
   * them (a server expiring a session of millions of locks): every pending
   * request fails at once, so nothing more is granted to the owner between
   * slices, then about `max` locks go (a posix resource's pieces go
   * together). True when the owner holds and waits for nothing.
   */
  revokeSome(reason: Exclude<LossReason, 'released'>, max: number): boolean {
    const m = this.manager;
    if (this.waitHead !== null) failMany(m, [...this.pendingRequests()], (w) => m.waitError(w, 'EREVOKED', `request revoked (${reason})`, reason));
    return this.dropSome(max, (l) => m.dlm.revoke(l, reason), (res) => m.posix.dropOwner(res, this, reason));
  }

  /** releaseAll in slices, as revokeSome. */
  releaseSome(max: number): boolean {
    const m = this.manager;
    if (this.waitHead !== null) failMany(m, [...this.pendingRequests()], (w) => m.waitError(w, 'ECANCELED', 'the owner released everything'));
    return this.dropSome(max, (l) => m.dlm.release(l, undefined), (res) => m.posix.dropOwner(res, this));
  }

  private dropSome(max: number, dropLock: (l: DlmLock) => void, dropPosix: (res: PosixResource) => void): boolean {
    let n = 0;
    for (; this.dlmHead !== null && n < max; n++) dropLock(this.dlmHead);
    // Iterated in place, not copied: a copy per slice would make many slices quadratic. A Set's iteration skips what is deleted.
    if (this.posixResources !== null) {
      for (const res of this.posixResources) {
        if (n >= max) break;
        n += res.holders.get(this)?.length ?? 1;
        dropPosix(res);
      }
    }
    return this.lockCount === 0 && this.waitCount === 0;
  }

  /** Locks held (dlm handles and posix pieces) and requests pending. */
  get holding(): number {
    return this.lockCount;
  }
  get waiting(): number {
    return this.waitCount;
  }

  // --- bookkeeping called by the kinds; keeps `active` and the manager's count true ---

  /** @internal */
  addDlmLock(lock: DlmLock): void {
    lock.ownerPrev = null;
    lock.ownerNext = this.dlmHead;
    if (this.dlmHead !== null) this.dlmHead.ownerPrev = lock;
    this.dlmHead = lock;
    this.lockCount++;
    this.manager.lockCount++;
    if (this.quota !== null) Quota.charge(this.quota, 1);
    lock.res.table.held++;
    if (!this.active) this.manager.ownerActive(this, true);
  }

  /** @internal */
  removeDlmLock(lock: DlmLock): void {
    if (lock.ownerPrev === null) this.dlmHead = lock.ownerNext;
    else lock.ownerPrev.ownerNext = lock.ownerNext;
    if (lock.ownerNext !== null) lock.ownerNext.ownerPrev = lock.ownerPrev;
    lock.ownerPrev = lock.ownerNext = null;
    this.lockCount--;
    this.manager.lockCount--;
    if (this.quota !== null) Quota.charge(this.quota, -1);
    lock.res.table.held--;
    this.settleActive();
  }

  /** @internal */
  adjustPosix(res: PosixResource, delta: number, holdsThere: boolean): void {
    this.lockCount += delta;
    this.manager.lockCount += delta;
    if (this.quota !== null) Quota.charge(this.quota, delta);
    res.table.held += delta;
    if (holdsThere) (this.posixResources ??= new Set()).add(res);
    else this.posixResources?.delete(res);
    if (this.lockCount > 0 && !this.active) this.manager.ownerActive(this, true);
    else this.settleActive();
  }

  /** @internal */
  addWait(w: Waiter): void {
    w.ownerPrev = null;
    w.ownerNext = this.waitHead;
    if (this.waitHead !== null) this.waitHead.ownerPrev = w;
    this.waitHead = w;
    this.waitCount++;
    if (this.quota !== null) Quota.charge(this.quota, 1);
    if (!this.active) this.manager.ownerActive(this, true);
  }

  /** @internal */
  removeWait(w: Waiter): void {
    if (w.ownerPrev === null) this.waitHead = w.ownerNext;
    else w.ownerPrev.ownerNext = w.ownerNext;
    if (w.ownerNext !== null) w.ownerNext.ownerPrev = w.ownerPrev;
    w.ownerPrev = w.ownerNext = null;
    this.waitCount--;
    if (this.quota !== null) Quota.charge(this.quota, -1);
    this.settleActive();
  }

  private settleActive(): void {
    if (this.active && this.lockCount === 0 && this.waitCount === 0) this.manager.ownerActive(this, false);
  }

  /** @internal Pending requests, newest first. */
  *pendingRequests(): IterableIterator<Waiter> {
    for (let w = this.waitHead; w !== null; ) {
      const next = w.ownerNext;
      yield w;
      w = next;
    }
  }

  /** @internal Granted dlm locks, newest first. */
  *dlmLocks(): IterableIterator<DlmLock> {
    for (let l = this.dlmHead; l !== null; ) {
      const next = l.ownerNext;
      yield l;
      l = next;
    }
  }
}
