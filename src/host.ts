/**
 * What the engines need of the manager they serve (the dlm files, posix.ts,
 * deadlock.ts, deadlock-resolve.ts, grace.ts, watchdog.ts, owner.ts,
 * waits.ts, operations.ts, snapshot.ts, options.ts), named here so that none
 * of them imports manager.ts: ManagerHost (manager-host.ts) implements
 * EngineHost, LockManager extends it, and the engines know only this. Most of it is the
 * shared bookkeeping of requests and waits (ids, limits, events; the wait
 * lifecycle is functions of it, waits.ts), which is not public:
 * src/README.md, "What is public". All of
 * it but what LockManager publishes too (node, clock, limits, stackMode,
 * deadlocks, toWall, the emitter) is left out of the published
 * declarations (marked internal). The tag is not written in this comment:
 * stripInternal takes a file's first doc comment as its first statement's,
 * and would drop the import below.
 */

import type { Clock } from './clock.js';
import type { DeadlockDetector } from './deadlock.js';
import type { DlmEngine, DlmResource } from './dlm.js';
import type { DlmLock } from './dlm-lock.js';
import type { ResourceTable } from './domain.js';
import type { LockError, LockErrorCode, LockErrorContext } from './errors.js';
import type { Grace } from './grace.js';
import type { Limits } from './limits.js';
import type { LockOrder } from './lockorder.js';
import type { Owner } from './owner.js';
import type { PosixEngine, PosixResource } from './posix.js';
import type { DeadlockRecord, DomainPolicy, LockEvents, LossReason } from './shapes.js';
import type { RequestSite, StackMode } from './stacks.js';
import type { TimerQueue } from './timers.js';
import type { Waiter } from './waiter.js';
import type { AnyResource } from './waitfor.js';
import type { Watchdog } from './watchdog.js';

/** A domain: its policy and its table of resources. */
export type DomainEntry =
  | { policy: DomainPolicy; kind: 'dlm'; table: ResourceTable<DlmResource> }
  | { policy: DomainPolicy; kind: 'posix'; table: ResourceTable<PosixResource> };

/**
 * What ManagerHost marks internal is marked internal here too, and only
 * that: its published declaration still says it implements this interface
 * (test/package/surface.test.ts compiles a consumer against both).
 */
export interface EngineHost {
  readonly node: string;
  readonly clock: Clock;
  readonly limits: Readonly<Limits>;
  readonly stackMode: StackMode;
  /** @internal */
  readonly timers: TimerQueue;
  /** @internal */
  readonly domains: ReadonlyMap<string, DomainEntry>;
  /** @internal */
  readonly dlm: DlmEngine;
  /** @internal */
  readonly posix: PosixEngine;
  /** @internal */
  readonly grace: Grace;
  /** @internal */
  readonly detector: DeadlockDetector;
  /** @internal */
  readonly watchdog: Watchdog;
  /** @internal */
  readonly lockOrder: LockOrder | null;
  /** @internal Granted dlm locks plus posix pieces of every owner (Owner keeps it with its own count; public, read-only: LockManager.lockTotal). */
  lockCount: number;
  /** @internal Requests waiting now, in every domain (waits.ts keeps it; public, read-only: LockManager.pendingWaits). */
  waitCount: number;
  /** @internal A grace period or an admission hook decides what may be granted. */
  readonly gated: boolean;
  readonly deadlocks: readonly DeadlockRecord[];

  // Events.
  has(event: keyof LockEvents): boolean;
  emit<K extends keyof LockEvents>(event: K, payload: LockEvents[K]): void;
  /** @internal */
  lockGranted(lock: DlmLock, wait: Waiter | null): void;
  /** @internal */
  lockConverted(lock: DlmLock, from: number, wait: Waiter | null): void;
  /** @internal */
  lockCacheUse(lock: DlmLock): void;
  /** @internal */
  lockDemoted(lock: DlmLock, from: number): void;
  /** @internal */
  lockReleased(lock: DlmLock, reason: LossReason): void;
  /** @internal */
  posixChanged(owner: Owner, res: PosixResource, start: number, end: number, write: boolean | null, reason: LossReason, id: number): void;
  /** @internal */
  recordDeadlock(record: Omit<DeadlockRecord, 'seq' | 'time'>): DeadlockRecord;
  /** @internal */
  callUser<A>(fn: (arg: A) => void, arg: A): void;
  toWall(t: number): number;

  // Checks before a request changes anything.
  /** @internal */
  dlmTable(domain: unknown): ResourceTable<DlmResource>;
  /** @internal */
  posixTable(domain: unknown): ResourceTable<PosixResource>;
  /** @internal */
  checkResource(resource: unknown): string;
  /** @internal */
  checkGrace(owner: Owner, reclaim: boolean, domain: string, resource: string): void;
  /** @internal */
  checkCanAdd(owner: Owner, domain: string, resource: string): void;
  /** @internal */
  checkCanWait(owner: Owner, domain: string, resource: string): void;
  /** @internal */
  checkLockCount(owner: Owner, delta: number, domain: string, resource: string): void;
  /** @internal */
  checkTokens(): void;
  /** @internal */
  ownerActive(owner: Owner, active: boolean): void;

  // Ids, tokens, stacks.
  /** @internal */
  nextId(): number;
  /** @internal */
  nextToken(): number;
  /** @internal */
  extendToken(n: number): number;
  /** @internal */
  captureFor(waiting: boolean, site: RequestSite): object | null;

  // Waits (their lifecycle is waits.ts's).
  /** @internal */
  resourceChanged(res: AnyResource): void;

  // Errors.
  /** @internal */
  context(owner?: Owner, domain?: string, resource?: string, reason?: LossReason): LockErrorContext;
  /** @internal */
  error(code: LockErrorCode, message: string, owner?: Owner, domain?: string, resource?: string, reason?: LossReason): LockError;
  /** @internal */
  waitError(w: Waiter, code: LockErrorCode, message: string, reason?: LossReason): LockError;
  /** @internal */
  limitError(limit: keyof Limits, value: number, owner?: Owner, domain?: string, resource?: string): LockError;
}
