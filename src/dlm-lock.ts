/**
 * DlmLock: one owner's request on one dlm resource, and the handle the
 * caller holds. The object is both the public handle and the queue node, so
 * a held lock costs one object. Rarely used parts (blocking callback, value
 * block copy, flags) live in `extra`, allocated only when needed.
 *
 * States: waiting → granted ⇄ converting → released | lost.
 * Invariants: grMode === -1 exactly while waiting; a granted or converting
 * lock is on its owner's lock list; list === the resource queue that matches
 * the state (granted list for granted, converting for converting, waiting for
 * waiting), null once released or lost.
 */

import type { ConvertOptions, LockHandle, LockState, Range, ReleaseOptions } from './api.js';
import type { LinkedList, ListNode } from './list.js';
import { modeName, type DlmMode } from './modes.js';
import type { Owner } from './owner.js';
import type { DlmResource } from './dlm.js';
import type { DlmWait } from './dlm.js';
import type { LossReason } from './shapes.js';

/** Lock states as small integers (a field per lock stays a Smi). */
export const St = { Waiting: 0, Granted: 1, Converting: 2, Released: 3, Lost: 4 } as const;
export type St = (typeof St)[keyof typeof St];

const STATE_NAMES: readonly LockState[] = ['waiting', 'granted', 'converting', 'released', 'lost'];

export interface LockExtra {
  onBlocking: ((mode: DlmMode) => void) | null;
  /** Highest mode already reported to onBlocking since the last grant (-1: none). */
  highBast: number;
  alt: number;
  quecvt: boolean;
  convDeadlock: 'error' | 'demote' | 'notify' | null;
  lvb: Uint8Array | null;
  lvbSeq: number;
  lvbValid: boolean;
  demoted: boolean;
  lostReason: LossReason | null;
  /** A cached grant (src/README.md, "Cached grants"); null for any other lock. */
  cache: CacheState | null;
}

/** What the manager knows of a cached grant: its token run and whether its holder said it is in use. */
export interface CacheState {
  /** The last token of the run taken with the grant (K2): local re-grants use tokenN + 1 .. tokenLast. */
  tokenLast: number;
  /** Its holder answered a blocking callback: in use (K1). Reset by every grant and conversion. */
  confirmed: boolean;
  /** What its holder last reported (K4): in use or idle, by whom, from where; null before any report. */
  use: { inUse: boolean; user: string | null; site: string | null; at: number } | null;
}

export class DlmLock implements LockHandle, ListNode<DlmLock> {
  prev: DlmLock | null = null;
  next: DlmLock | null = null;
  list: LinkedList<DlmLock> | null = null;
  ownerPrev: DlmLock | null = null;
  ownerNext: DlmLock | null = null;
  /** Granted mode index, -1 while waiting. */
  grMode = -1;
  /** Requested mode index while waiting or converting. */
  rqMode: number;
  st: St = St.Waiting as St;
  tokenN = 0;
  grantedAt = 0;
  wait: DlmWait | null = null;
  extra: LockExtra | null = null;

  constructor(
    readonly id: number,
    readonly owner: Owner,
    readonly res: DlmResource,
    rqMode: number,
    readonly range: Range | null,
    /** Request-site stack holder (stacks.ts), or null. */
    public stack: object | null,
  ) {
    this.rqMode = rqMode;
  }

  get domain(): string {
    return this.res.table.policy.name;
  }
  get resource(): string {
    return this.res.name;
  }
  get mode(): DlmMode {
    return modeName(this.grMode < 0 ? this.rqMode : this.grMode);
  }
  get state(): LockState {
    return STATE_NAMES[this.st]!;
  }
  get token(): bigint {
    return BigInt(this.tokenN);
  }
  get lvb(): Uint8Array | null {
    const lvb = this.extra?.lvb;
    return lvb == null ? null : lvb.slice();
  }
  get lvbValid(): boolean {
    return this.extra?.lvbValid ?? false;
  }
  get lvbSeq(): number {
    return this.extra?.lvbSeq ?? 0;
  }
  get demoted(): boolean {
    return this.extra?.demoted ?? false;
  }
  get lostReason(): LossReason | null {
    if (this.st === St.Released) return 'released';
    return this.extra?.lostReason ?? null;
  }

  ensureExtra(): LockExtra {
    return (this.extra ??= {
      onBlocking: null, highBast: -1, alt: -1, quecvt: false, convDeadlock: null,
      lvb: null, lvbSeq: 0, lvbValid: false, demoted: false, lostReason: null, cache: null,
    });
  }

  /** A cached grant (`cache: true`)? */
  get cached(): boolean {
    return this.extra?.cache != null;
  }

  /** A cached grant's last token (K2): its holder's local re-grants take tokens above `token` up to this; null otherwise. */
  get tokenLast(): bigint | null {
    const c = this.extra?.cache;
    return c == null ? null : BigInt(c.tokenLast);
  }

  /** K1: the cached grant's holder says it is in use (its answer to a blocking callback). False if not a held cached grant. */
  confirmCache(): boolean {
    return this.owner.manager.dlm.confirmCached(this);
  }

  /** K4: what the holder of this cached grant reports of its local use (diagnostics only: no edge depends on it). */
  reportCacheUse(inUse: boolean, user: string | null, site: string | null, at: number): void {
    const c = this.extra?.cache;
    if (c == null) return;
    c.use = { inUse, user, site, at };
    this.owner.manager.lockCacheUse(this);
  }

  convert(mode: DlmMode, options?: ConvertOptions): Promise<DlmLock> {
    return this.owner.manager.dlm.convert(this, mode, options, DlmLock.prototype.convert);
  }

  /** For a server relaying a remote client's conversion: `site` is the stack the client captured; `mode` a name off the wire, checked here (EINVAL). */
  convertAt(site: string, mode: string, options?: ConvertOptions): Promise<DlmLock> {
    return this.owner.manager.dlm.convert(this, mode, options, site);
  }

  release(options?: ReleaseOptions): void {
    this.owner.manager.dlm.release(this, options);
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.release();
    return Promise.resolve();
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

// Every granted request resolves a promise with its lock, and resolving with
// an object first looks up the object's `then` (is it a thenable?). V8 does
// that lookup on a generic path where a miss walks the lock, this prototype
// and Object.prototype: ~30 ns in a plain test, ~8% of an uncontended lock +
// release in a profile.
// A `then` here that is not a function ends the walk one step earlier and
// keeps the lock a plain value to `await` (only a callable `then` makes a
// thenable). Non-enumerable, and not part of the type.
Object.defineProperty(DlmLock.prototype, 'then', { value: undefined });
