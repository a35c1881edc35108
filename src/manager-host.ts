/**
 * The manager as its engines see it: ManagerHost implements EngineHost
 * (host.ts), what the kinds, the detector, the watchdog, grace, owners and
 * snapshots call back into. It holds the parts the manager is made of
 * (domains and their tables, the timer queue, the dlm and posix engines,
 * deadlock detection, the watchdog, grace, lock-order checking, the token
 * counter), the counts the limits bound, and the services the engines share:
 * the checks a request passes before it changes anything, ids and tokens,
 * errors and events. LockManager (manager.ts) is this plus the public API;
 * nothing but manager.ts imports this file.
 *
 * Preconditions: the engines call these services in the order their rules
 * state (a request is checked whole before it changes anything; a grant
 * takes its token first), on the manager's one thread; what is marked
 * internal here is theirs, not a caller's (src/README.md, "What is public").
 */

import { realClock, type Clock } from './clock.js';
import type { DeadlockDetector } from './deadlock.js';
import { DlmEngine, DlmResource } from './dlm.js';
import type { DlmLock } from './dlm-lock.js';
import { ResourceTable } from './domain.js';
import { invalid, LockError, type LockErrorCode, type LockErrorContext } from './errors.js';
import { TypedEmitter } from './events.js';
import type { DomainEntry, EngineHost } from './host.js';
import type { Limits } from './limits.js';
import { LockOrder } from './lockorder.js';
import { checkManagerOptions, parseDeadlock, parseDomains, parseLimits, parseLockOrder, type Admission, type LockManagerOptions } from './options.js';
import type { Owner } from './owner.js';
import {
  cacheUsePayload, convertedPayload, demotedPayload, grantedPayload, posixGrantedPayload, posixReleasedPayload, releasedPayload,
} from './payloads.js';
import { PosixEngine, PosixResource } from './posix.js';
import { Quota } from './quota.js';
import { captureStack, noStack, withRequestStack, type RequestSite, type StackMode } from './stacks.js';
import { TimerQueue } from './timers.js';
import { TokenCounter } from './tokens.js';
import { checkEnum, checkFunction, checkName } from './validate.js';
import type { Waiter } from './waiter.js';
import type { AnyResource } from './waitfor.js';
import { Watchdog } from './watchdog.js';
import { Grace } from './grace.js';
import type { DeadlockRecord, DomainPolicy, LockEvents, LossReason } from './shapes.js';

export abstract class ManagerHost extends TypedEmitter<LockEvents> implements EngineHost {
  readonly node: string;
  readonly clock: Clock;
  readonly limits: Readonly<Limits>;
  /** @internal */
  readonly timers: TimerQueue;
  readonly stackMode: StackMode;
  /** @internal */
  readonly dlm: DlmEngine;
  /** @internal */
  readonly posix: PosixEngine;
  /** @internal */
  readonly domains = new Map<string, DomainEntry>();
  /** @internal The engines' and the server's reads go through LockManager's public methods (graceState, detection, hangs). */
  readonly detector: DeadlockDetector;
  /** @internal */
  readonly watchdog: Watchdog;
  /** @internal Null when lock-order checking is off. */
  readonly lockOrder: LockOrder | null;
  /** @internal Requests waiting now, in every domain (waits.ts keeps it; public: LockManager.pendingWaits). */
  waitCount = 0;
  /** @internal */
  readonly grace: Grace;
  /** @internal Fencing tokens: one counter for the whole manager (tokens.ts). */
  protected readonly tokens: TokenCounter;
  private readonly history: DeadlockRecord[] = [];
  private idSeq = 0;
  private readonly admission: Admission | null;
  private deadlockSeq = 0;
  private readonly wallOffset: number;
  /** @internal Owners that hold or wait for something. */
  activeOwners = 0;
  /** @internal Granted locks (dlm handles plus posix pieces) of every owner: what `locksMax` bounds. Owner's bookkeeping keeps it with its own `lockCount` (public: LockManager.lockTotal). */
  lockCount = 0;
  /** domainEntry's last answer. */
  private lastDomain = '';
  private lastEntry: DomainEntry | null = null;

  constructor(options: LockManagerOptions = {}) {
    super();
    const o = checkManagerOptions(options);
    this.limits = parseLimits(o.limits);
    this.node = o.node === undefined ? 'local' : checkName(o.node, 'options.node', this.limits.nameBytesMax);
    this.clock = (o.clock as Clock | undefined) ?? realClock;
    this.stackMode = checkEnum(o.stacks, 'options.stacks', ['all', 'waits', 'off'] as const) ?? 'all';
    this.timers = new TimerQueue(this.clock);
    this.wallOffset = this.clock.wallNow() - this.clock.now();
    this.dlm = new DlmEngine(this);
    this.posix = new PosixEngine(this);
    this.detector = parseDeadlock(this, o.deadlock);
    this.grace = new Grace(this);
    this.tokens = new TokenCounter(o.tokens);
    this.admission = checkFunction<Admission>(o.admission, 'options.admission') ?? null;
    this.watchdog = new Watchdog(this, this.limits.hangHistoryMax);
    const classify = parseLockOrder(o.lockOrder);
    this.lockOrder = classify === null ? null : new LockOrder(
      classify, this.limits.lockOrderEdgesMax, this.limits.orderInversionsMax, () => this.clock.wallNow(),
      (inv) => this.emit('order-inversion', inv),
    );
    // All parsed first, so a bad entry leaves the manager without half its domains.
    for (const p of parseDomains(o.domains, this.limits)) this.installDomain(p);
  }

  /** @internal Add a parsed domain: its entry and its table (LockManager.addDomain checks the name first). */
  protected installDomain(policy: DomainPolicy): void {
    if (this.domains.size >= this.limits.domainsMax) throw this.limitError('domainsMax', this.limits.domainsMax);
    if (policy.kind === 'dlm') {
      const table: ResourceTable<DlmResource> = new ResourceTable(policy, (name) => new DlmResource(name, table));
      this.domains.set(policy.name, { policy, kind: 'dlm', table });
    } else {
      const table: ResourceTable<PosixResource> = new ResourceTable(policy, (name) => new PosixResource(name, table));
      this.domains.set(policy.name, { policy, kind: 'posix', table });
    }
  }

  // --- checks a request passes before it changes anything ---

  /** @internal Whether an up-conversion must be checked against grace (checkGrace): in a grace, or always in a cluster. */
  get gated(): boolean {
    return this.grace.active || this.admission !== null;
  }

  /** @internal Checks every request makes against grace: EGRACE for new state in grace, ENOGRACE for a misplaced reclaim. */
  checkGrace(owner: Owner, reclaim: boolean, domain: string, resource: string): void {
    if (this.admission !== null) {
      this.admission(domain, resource, reclaim, owner.client);
      return;
    }
    if (reclaim) {
      const why = this.grace.refuseReclaim(owner.client);
      if (why !== null) throw this.error('ENOGRACE', why, owner, domain, resource);
    } else if (this.grace.active) {
      throw this.error('EGRACE', 'the lock manager is in its grace period after a restart: only reclaims are granted; retry after it', owner, domain, resource);
    }
  }

  /** The deadlock history, oldest first (bounded by limits.deadlockHistoryMax). */
  get deadlocks(): readonly DeadlockRecord[] {
    return this.history;
  }

  // --- ids and tokens ---

  /** @internal */
  nextId(): number {
    return ++this.idSeq;
  }

  /** @internal */
  nextToken(): number {
    return this.tokens.next();
  }

  /** @internal Right after nextToken(): up to `n` more for the same grant; the last one issued (tokens.ts, T5). */
  extendToken(n: number): number {
    return this.tokens.extend(n);
  }

  /** @internal Before a request that may grant: refused now rather than left without a token at its grant (tokens.ts, T2). */
  checkTokens(): void {
    this.tokens.check();
  }

  // --- domains, resources and limits ---

  /** @internal */
  dlmTable(domain: unknown): ResourceTable<DlmResource> {
    const entry = this.domainEntry(domain);
    if (entry.kind !== 'dlm') throw invalid('domain', `a dlm domain (${entry.policy.name} is ${entry.kind}: use setlk/getlk)`);
    return entry.table;
  }

  /** @internal */
  posixTable(domain: unknown): ResourceTable<PosixResource> {
    const entry = this.domainEntry(domain);
    if (entry.kind !== 'posix') throw invalid('domain', `a posix domain (${entry.policy.name} is ${entry.kind}: use lock)`);
    return entry.table;
  }

  private domainEntry(domain: unknown): DomainEntry {
    // Most programs use one domain over and over: the last one found is kept
    // (domains are only ever added, so it stays right), sparing a Map lookup
    // per request (~2% of an uncontended lock + release).
    if (domain === this.lastDomain && this.lastEntry !== null) return this.lastEntry;
    const entry = typeof domain === 'string' ? this.domains.get(domain) : undefined;
    if (entry !== undefined) {
      this.lastDomain = domain as string;
      this.lastEntry = entry;
      return entry;
    }
    if (typeof domain !== 'string') throw invalid('domain', 'a domain name (string)', domain);
    throw new LockError('ENOENT', `no domain named ${JSON.stringify(domain)}`, { node: this.node, domain });
  }

  /** @internal */
  checkResource(resource: unknown): string {
    return checkName(resource, 'resource', this.limits.resourceNameBytesMax);
  }

  /** @internal
   * Limits checked before a new lock or wait is created, before anything is
   * stored for it: the owner's, its quota chain's (quota.ts) and the
   * manager's total (any request may end up granted, so `locksMax` counts it).
   */
  checkCanAdd(owner: Owner, domain: string, resource: string): void {
    if (owner.lockCount + owner.waiting >= this.limits.locksPerOwnerMax) {
      throw this.limitError('locksPerOwnerMax', this.limits.locksPerOwnerMax, owner, domain, resource);
    }
    if (!owner.active && this.activeOwners >= this.limits.ownersMax) {
      throw this.limitError('ownersMax', this.limits.ownersMax, owner, domain, resource);
    }
    if (this.lockCount >= this.limits.locksMax) throw this.limitError('locksMax', this.limits.locksMax, owner, domain, resource);
    this.checkQuota(owner, 1, domain, resource);
  }

  /** @internal Checked where a request is about to queue: the manager's bound on waits at once. */
  checkCanWait(owner: Owner, domain: string, resource: string): void {
    if (this.waitCount >= this.limits.waitsMax) throw this.limitError('waitsMax', this.limits.waitsMax, owner, domain, resource);
  }

  /** @internal */
  checkLockCount(owner: Owner, delta: number, domain: string, resource: string): void {
    if (owner.lockCount + delta > this.limits.locksPerOwnerMax) {
      throw this.limitError('locksPerOwnerMax', this.limits.locksPerOwnerMax, owner, domain, resource);
    }
    if (this.lockCount + delta > this.limits.locksMax) throw this.limitError('locksMax', this.limits.locksMax, owner, domain, resource);
    this.checkQuota(owner, delta, domain, resource);
  }

  private checkQuota(owner: Owner, delta: number, domain: string, resource: string): void {
    const full = Quota.full(owner.quota, delta);
    if (full !== null) {
      throw new LockError('ENOLCK', `limit ${full.limit} (${full.max}) reached`, { ...this.context(owner, domain, resource), limit: full.limit });
    }
  }

  /** @internal */
  ownerActive(owner: Owner, active: boolean): void {
    owner.active = active;
    this.activeOwners += active ? 1 : -1;
  }

  // --- errors, stacks, callbacks ---

  /** @internal */
  context(owner?: Owner, domain?: string, resource?: string, reason?: LossReason): LockErrorContext {
    const c: LockErrorContext = { node: this.node };
    if (owner !== undefined) c.owner = owner.name;
    if (domain !== undefined) c.domain = domain;
    if (resource !== undefined) c.resource = resource;
    if (reason !== undefined) c.reason = reason;
    return c;
  }

  /** @internal */
  error(code: LockErrorCode, message: string, owner?: Owner, domain?: string, resource?: string, reason?: LossReason): LockError {
    return new LockError(code, message, this.context(owner, domain, resource, reason));
  }

  /** @internal
   * The error for a request that fails later (timeout, abort, cancel, revoke,
   * deadlock): its stack is the request site, where the caller asked, not
   * lockscope's timer or event internals, and capturing those (~5 µs) is skipped.
   */
  waitError(w: Waiter, code: LockErrorCode, message: string, reason?: LossReason): LockError {
    return withRequestStack(noStack(() => this.error(code, message, w.owner, w.domain, w.resource, reason)), w);
  }

  /** @internal */
  limitError(limit: keyof Limits, value: number, owner?: Owner, domain?: string, resource?: string): LockError {
    return new LockError('ENOLCK', `limit ${limit} (${value}) reached`, { ...this.context(owner, domain, resource), limit });
  }

  /** @internal The request-site stack per `options.stacks`: at every request, or only when it has to wait. */
  captureFor(waiting: boolean, site: RequestSite): object | null {
    const mode = this.stackMode;
    return mode === 'all' || (waiting && mode === 'waits') ? captureStack(site) : null;
  }

  /** @internal A resource's holders or queues changed while requests wait on it. */
  resourceChanged(res: AnyResource): void {
    this.detector.onChange(res);
  }

  /** @internal */
  recordDeadlock(record: Omit<DeadlockRecord, 'seq' | 'time'>): DeadlockRecord {
    const full: DeadlockRecord = { seq: ++this.deadlockSeq, time: this.clock.wallNow(), ...record };
    this.history.push(full);
    if (this.history.length > this.limits.deadlockHistoryMax) this.history.shift();
    this.emit('deadlock', full);
    return full;
  }

  /** @internal Call a user callback; its exception surfaces as uncaught on a later tick instead of breaking a lock operation. */
  callUser<A>(fn: (arg: A) => void, arg: A): void {
    try {
      fn(arg);
    } catch (err) {
      queueMicrotask(() => {
        throw err;
      });
    }
  }

  /**
   * Wall-clock ms of a clock reading. The offset between the two clocks is
   * taken once, when the manager starts, so a lock's times read the same in
   * every snapshot (reading both clocks per call made them drift).
   */
  toWall(t: number): number {
    return Math.round(this.wallOffset + t);
  }

  // --- events; payloads are built only when someone listens ---

  /** @internal */
  lockGranted(lock: DlmLock, wait: Waiter | null): void {
    if (lock.res.table.policy.holdWarnMs !== null) this.watchdog.onGrant(lock);
    if (!this.has('granted')) return;
    const waitedMs = wait === null ? 0 : this.clock.now() - wait.requestedAt;
    this.emit('granted', grantedPayload(this.node, lock, waitedMs));
  }

  /** @internal */
  lockConverted(lock: DlmLock, from: number, wait: Waiter | null): void {
    if (!this.has('converted')) return;
    const waitedMs = wait === null ? 0 : this.clock.now() - wait.requestedAt;
    this.emit('converted', convertedPayload(this.node, lock, from, waitedMs));
  }

  /** @internal The holder of a cached grant confirmed it in use (K1) or reported its use (K4). */
  lockCacheUse(lock: DlmLock): void {
    if (this.has('cache-use')) this.emit('cache-use', cacheUsePayload(this.node, lock));
  }

  /** @internal A conversion deadlock under `demote` dropped the lock's granted mode to NL; its conversion stays queued. */
  lockDemoted(lock: DlmLock, from: number): void {
    if (this.has('demoted')) this.emit('demoted', demotedPayload(this.node, lock, from));
  }

  /** @internal */
  lockReleased(lock: DlmLock, reason: LossReason): void {
    if (lock.res.table.policy.holdWarnMs !== null) this.watchdog.onRelease(lock);
    if (!this.has('released')) return;
    this.emit('released', releasedPayload(this.node, lock, reason, this.clock.now() - lock.grantedAt));
  }

  /** @internal */
  posixChanged(owner: Owner, res: PosixResource, start: number, end: number, write: boolean | null, reason: LossReason, id: number): void {
    const event = write === null ? 'released' : 'granted';
    if (!this.has(event)) return;
    if (write === null) this.emit('released', posixReleasedPayload(this.node, owner, res, start, end, reason, id));
    else this.emit('granted', posixGrantedPayload(this.node, owner, res, start, end, write, this.tokens.highWater, id));
  }
}
