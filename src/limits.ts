/**
 * Every bound lockscope enforces, in one place. Reaching one gives ENOLCK
 * (a resource is exhausted) or EINVAL (an input is too big), naming the
 * limit. A manager may lower or raise them: `new LockManager({ limits })`.
 */

export interface Limits {
  /** UTF-8 bytes in a resource name. */
  resourceNameBytesMax: number;
  /** UTF-8 bytes in an owner, domain or node name. */
  nameBytesMax: number;
  /** Domains in one manager. */
  domainsMax: number;
  /** Resources that exist at once in one domain (a resource exists while locked, waited on or holding a value block). */
  resourcesPerDomainMax: number;
  /** Granted locks (dlm handles plus posix pieces) of one owner. */
  locksPerOwnerMax: number;
  /** Queued requests (conversions and waits) on one resource. */
  waitersPerResourceMax: number;
  /** Owners that hold or wait at once. */
  ownersMax: number;
  /** Granted locks (dlm handles plus posix pieces) of every owner at once; a request is counted before it is stored. */
  locksMax: number;
  /** Requests waiting at once, in every domain. */
  waitsMax: number;
  /** Bytes of a lock value block; domains choose a multiple of 8 up to this. */
  lvbBytesMax: number;
  /** Longest `timeoutMs`, soft timeout or delay accepted (setTimeout's own bound). */
  timeoutMsMax: number;
  /** Keys in an owner's `meta`, and bytes of its JSON. */
  metaKeysMax: number;
  metaBytesMax: number;
  /** Deadlocks kept in the history (`snapshot().deadlocks`). */
  deadlockHistoryMax: number;
  /** Resolved hangs kept (`snapshot().hangHistory`). */
  hangHistoryMax: number;
  /** Class-to-class orders the lock-order checker keeps. */
  lockOrderEdgesMax: number;
  /** Order inversions kept (`snapshot().orderInversions`). */
  orderInversionsMax: number;
}

export const defaultLimits: Readonly<Limits> = Object.freeze({
  resourceNameBytesMax: 256,
  nameBytesMax: 128,
  domainsMax: 256,
  resourcesPerDomainMax: 4_000_000,
  locksPerOwnerMax: 1_000_000,
  waitersPerResourceMax: 1_000_000,
  ownersMax: 2_000_000,
  // Measured ~0.3 KiB of heap per in-process lock and ~1 KiB per wait (server/README.md, "Budgets"): 4 M locks
  // and 1 M waits stay near 2 GiB, below V8's default heap limit on a 64-bit machine.
  locksMax: 4_000_000,
  waitsMax: 1_000_000,
  lvbBytesMax: 64,
  timeoutMsMax: 2_147_483_647,
  metaKeysMax: 32,
  metaBytesMax: 4096,
  deadlockHistoryMax: 200,
  hangHistoryMax: 200,
  lockOrderEdgesMax: 100_000,
  orderInversionsMax: 200,
});

/** Largest offset of a byte range: offsets are exact integers. */
export const OFFSET_MAX = Number.MAX_SAFE_INTEGER;

/**
 * Fencing tokens a cached grant takes with its own (tokens.ts, T5): its
 * holder's local re-grants use them; once spent, the next re-grant asks the
 * server again. 1,000 re-grants per server grant make that ask rare.
 */
export const CACHE_TOKEN_RUN = 1_000;
