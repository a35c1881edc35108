/**
 * The owner and lock-handle surface that the in-process manager and the
 * remote client both implement. Tests are written against these types so
 * one suite runs against both (test/spec/: the same dlm, posix and wait
 * suites in-process and against a server), and neither can drift.
 */

import type { DlmMode } from './modes.js';
import type { Quota } from './quota.js';
import type { ConvDeadlockPolicy, LossReason } from './shapes.js';

/** Its shape lives in shapes.ts (a domain's policy names it); named here too because the remote client (client/) imports it from this file. */
export type { ConvDeadlockPolicy } from './shapes.js';

/** Half-open byte range [start, end) of a dlm lock, in domains created with `ranges: true`. */
export interface Range {
  start: number;
  end: number;
}

/** Options every blocking request takes. */
export interface WaitOptions {
  /** Hard timeout chosen by the caller: the request fails with ETIMEDOUT if not granted by then. */
  timeoutMs?: number;
  /** Aborting fails the request with ECANCELED and takes it out of the queue at once. */
  signal?: AbortSignal;
}

export interface LockOptions extends WaitOptions {
  /** Fail with EAGAIN instead of waiting. */
  noQueue?: boolean;
  range?: Range;
  /** Called (asynchronously) with the mode of a request this lock blocks; once per highest mode. */
  onBlocking?: (mode: DlmMode) => void;
  /** Queue a compatible up-conversion behind earlier conversions instead of granting it in place. */
  quecvt?: boolean;
  /** Grant a new NL request at once, skipping the queues. */
  expedite?: boolean;
  /** Grant this mode instead when the requested one cannot be granted. */
  alt?: 'PR' | 'CW';
  /** What a conversion that would deadlock with another conversion does. */
  convDeadlock?: ConvDeadlockPolicy;
  /**
   * Re-establish a lock held before a restart (grace period only; the owner
   * must belong to a client known from before). Granted at once or refused.
   */
  reclaim?: boolean;
  /**
   * With `reclaim`: the holder's valid copy of the value block. A PW/EX
   * copy restores it; failing that, a PR/CW copy (the highest `lvbSeq`); a
   * CR/NL copy may be stale and is not used (the value stays invalid).
   */
  lvb?: Uint8Array;
  /** With `reclaim` and `lvb`: the copy's sequence number, kept across the restart. */
  lvbSeq?: number;
  /**
   * A grant its holder may keep after its last local user let go (a remote
   * client's lock cache, src/README.md "Cached grants"): it takes a block of
   * fencing tokens, and waits on it are wait-for edges only once its holder
   * confirmed, after a blocking callback, that it is in use (rule K1).
   */
  cache?: boolean;
}

export interface ConvertOptions extends WaitOptions {
  noQueue?: boolean;
  quecvt?: boolean;
  alt?: 'PR' | 'CW';
  convDeadlock?: ConvDeadlockPolicy;
  /** Written to the resource's value block on a down-conversion from PW or EX. */
  lvb?: Uint8Array;
}

export interface ReleaseOptions {
  /** Written to the resource's value block when releasing from PW or EX. */
  lvb?: Uint8Array;
}

export type LockState = 'waiting' | 'granted' | 'converting' | 'released' | 'lost';

export interface LockHandle {
  readonly id: number;
  readonly domain: string;
  readonly resource: string;
  /** The granted mode (NL after a demotion). */
  readonly mode: DlmMode;
  readonly range: Range | null;
  readonly state: LockState;
  /** Fencing token of the latest grant or up-conversion. */
  readonly token: bigint;
  /** The value block as of the latest grant or up-conversion, or null in a domain without one. */
  readonly lvb: Uint8Array | null;
  readonly lvbValid: boolean;
  /** Sequence number of the value block as read. */
  readonly lvbSeq: number;
  /** True after a conversion deadlock demoted the granted mode to NL. */
  readonly demoted: boolean;
  /** Why the lock is no longer held, once it is not. */
  readonly lostReason: LossReason | null;
  convert(mode: DlmMode, options?: ConvertOptions): Promise<LockHandle>;
  release(options?: ReleaseOptions): void | Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export type PosixType = 'read' | 'write' | 'unlock';

/** fcntl's struct flock: `len: 0` means to the end, however far. */
export interface PosixRequest {
  type: PosixType;
  start: number;
  len: number;
}

export interface SetlkOptions extends WaitOptions {
  /** F_SETLKW (true) or F_SETLK (false, the default: EAGAIN on conflict). */
  wait?: boolean;
  /** Re-establish a range held before a restart (grace period only). */
  reclaim?: boolean;
}

/** One piece of an owner's posix lock set, as held. */
export interface PosixLockInfo {
  owner: string;
  type: 'read' | 'write';
  start: number;
  len: number;
  pid?: number;
}

export interface SetlkResult {
  /** Fencing token of this grant. */
  token: bigint;
}

export interface LockOwner {
  readonly name: string;
  lock(domain: string, resource: string, mode: DlmMode, options?: LockOptions): Promise<LockHandle>;
  /** Set, change or (type 'unlock') remove a byte range; resolves null for an unlock. */
  setlk(domain: string, resource: string, request: PosixRequest, options?: SetlkOptions): Promise<SetlkResult | null>;
  /** The first lock of another owner that would block `request`, or null. */
  getlk(domain: string, resource: string, request: PosixRequest): Promise<PosixLockInfo | null>;
  /** Drop everything this owner holds; its pending requests fail with ECANCELED. */
  releaseAll(): void | Promise<void>;
}

export interface OwnerOptions {
  meta?: Record<string, string | number | boolean | string[]>;
  priority?: number;
  /** The client this owner belongs to: its identity for reclaims after a restart. */
  client?: string;
  /** What its locks, waits and deadlock searches are charged to (a server's session inside its principal). */
  quota?: Quota;
}
