/**
 * LockManager: domains, owners, tokens, the timer queue, waits and events.
 * The kinds (dlm.ts, posix.ts) hold the lock logic and call back here for
 * everything shared. The core does no I/O.
 */

import type { OwnerOptions } from './api.js';
import { realClock, type Clock } from './clock.js';
import { DlmEngine, DlmResource } from './dlm.js';
import { St, type DlmLock } from './dlm-lock.js';
import { parseDomainConfig, ResourceTable, type DomainConfig } from './domain.js';
import { invalid, LockError, type LockErrorCode, type LockErrorContext } from './errors.js';
import { TypedEmitter } from './events.js';
import type { Limits } from './limits.js';
import { Owner } from './owner.js';
import { parseDeadlock, parseLimits, parseLockOrder, parseMeta, type Admission, type LockManagerOptions, type WaitEdge } from './options.js';
import {
  cacheUsePayload, convertedPayload, demotedPayload, grantedPayload, posixGrantedPayload, posixReleasedPayload, releasedPayload,
} from './payloads.js';
import { PosixEngine, PosixResource } from './posix.js';
import { Quota } from './quota.js';
import { buildGraph, buildOwners, buildSnapshot, type SnapshotOptions } from './snapshot.js';
import { captureStack, noStack, withRequestStack, type RequestSite, type StackMode } from './stacks.js';
import { TimerQueue } from './timers.js';
import { checkEnum, checkFunction, checkInteger, checkName, checkOptions } from './validate.js';
import type { DeadlockDetector, DeadlockOptions, DetectMode, VictimPolicy } from './deadlock.js';
import { LockOrder, type LockOrderOptions } from './lockorder.js';
import { Watchdog } from './watchdog.js';
import { Grace, parseGraceOptions, type GraceOptions } from './grace.js';
import { TokenCounter, type TokenOptions } from './tokens.js';
import type { AnyResource } from './waitfor.js';
import type { DomainEntry, EngineHost } from './host.js';
import { failAllWaits, findById, revokeResources } from './operations.js';
import type { Waiter } from './waiter.js';
import { failWait } from './waits.js';
import type { CycleEntry, DeadlockRecord, DeadlockStats, DomainPolicy, GraceState, GraphSnapshot, Hang, LockEvents, LossReason, OwnerSnapshot, Snapshot } from './shapes.js';

export type { Admission, LockManagerOptions, WaitEdge };

const MANAGER_KEYS = new Set(['node', 'domains', 'clock', 'limits', 'stacks', 'deadlock', 'lockOrder', 'tokens', 'admission']);
const OWNER_KEYS = new Set(['meta', 'priority', 'client', 'quota']);
const SNAPSHOT_KEYS = new Set(['locksMax']);

export type { DomainEntry };

export class LockManager extends TypedEmitter<LockEvents> implements EngineHost {
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
  /** @internal The engines' and the server's reads go through the public methods below (graceState, detection, hangs). */
  readonly detector: DeadlockDetector;
  /** @internal */
  readonly watchdog: Watchdog;
  /** @internal Null when lock-order checking is off. */
  readonly lockOrder: LockOrder | null;
  /** Requests waiting now, in every domain. */
  pendingWaits = 0;
  /** @internal */
  readonly grace: Grace;
  private readonly history: DeadlockRecord[] = [];
  private idSeq = 0;
  private readonly tokens: TokenCounter;
  private readonly admission: Admission | null;
  private ownerSeq = 0;
  private deadlockSeq = 0;
  private readonly wallOffset: number;
  /** @internal Owners that hold or wait for something. */
  activeOwners = 0;
  /** Granted locks (dlm handles plus posix pieces) of every owner: what `locksMax` bounds. */
  lockTotal = 0;
  /** domainEntry's last answer. */
  private lastDomain = '';
  private lastEntry: DomainEntry | null = null;

  constructor(options: LockManagerOptions = {}) {
    super();
    const o = checkOptions(options, 'options', MANAGER_KEYS) ?? {};
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
    if (o.domains !== undefined) {
      if (!Array.isArray(o.domains)) throw invalid('options.domains', 'an array of domain configurations', o.domains);
      // Parse all first, so a bad entry leaves the manager without half its domains.
      const policies = o.domains.map((d, i) => parseDomainConfig(d, `options.domains[${i}]`, this.limits));
      const names = new Set<string>();
      for (const p of policies) {
        if (names.has(p.name)) throw invalid('options.domains', 'domains with distinct names', p.name);
        names.add(p.name);
      }
      for (const p of policies) this.installDomain(p);
    }
  }

  /** Add a domain after construction. */
  addDomain(config: DomainConfig): DomainPolicy {
    const policy = parseDomainConfig(config, 'config', this.limits);
    if (this.domains.has(policy.name)) throw invalid('config.name', 'the name of a domain that does not exist yet', policy.name);
    this.installDomain(policy);
    return policy;
  }

  private installDomain(policy: DomainPolicy): void {
    if (this.domains.size >= this.limits.domainsMax) throw this.limitError('domainsMax', this.limits.domainsMax);
    if (policy.kind === 'dlm') {
      const table: ResourceTable<DlmResource> = new ResourceTable(policy, (name) => new DlmResource(name, table));
      this.domains.set(policy.name, { policy, kind: 'dlm', table });
    } else {
      const table: ResourceTable<PosixResource> = new ResourceTable(policy, (name) => new PosixResource(name, table));
      this.domains.set(policy.name, { policy, kind: 'posix', table });
    }
  }

  /** A new owner. Names need not be unique; each owner has its own `id`. */
  owner(name: string, options?: OwnerOptions): Owner {
    checkName(name, 'name', this.limits.nameBytesMax);
    const o = checkOptions(options, 'options', OWNER_KEYS) ?? {};
    const priority = o.priority === undefined ? 0 : checkInteger(o.priority, 'options.priority', -1_000_000, 1_000_000);
    const meta = o.meta === undefined ? null : parseMeta(o.meta, this.limits);
    const client = o.client === undefined ? null : checkName(o.client, 'options.client', this.limits.nameBytesMax);
    if (o.quota !== undefined && !(o.quota instanceof Quota)) throw invalid('options.quota', 'a Quota', o.quota);
    return new Owner(this, ++this.ownerSeq, name, meta, priority, this.ownerSeq, client, (o.quota as Quota | undefined) ?? null);
  }

  // --- grace period (grace.ts) ---

  /** Start a grace period: only reclaims from `clients` are granted until it ends or is lifted. */
  beginGrace(options: GraceOptions): void {
    this.grace.start(parseGraceOptions(options, this.limits));
  }

  /** A client finished reclaiming; grace lifts early once every expected client has. */
  reclaimComplete(client: string): void {
    checkName(client, 'client', this.limits.nameBytesMax);
    this.grace.complete(client);
  }

  /** Operator: end the grace period now. */
  liftGrace(): void {
    this.grace.lift();
  }

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

  /** Plain JSON state of every domain, owner and deadlock: what dumps and the dashboard read. `locksMax`: see SnapshotOptions. */
  snapshot(options?: SnapshotOptions): Snapshot {
    return buildSnapshot(this, checkSnapshotOptions(options));
  }

  /** The wait-for graph alone, as `snapshot()` shows it (edges, cycles now, their owners): cheap enough to read a few times a second. */
  waitForGraph(): GraphSnapshot {
    return buildGraph(this);
  }

  /** The owners `snapshot(options)` lists, without building the rest of it (no lock rows, no stacks). */
  snapshotOwners(options?: SnapshotOptions): OwnerSnapshot[] {
    return buildOwners(this, checkSnapshotOptions(options));
  }

  /** The grace period after a restart: whether it is on, since when, who still has to reclaim (`/api/grace`). */
  graceState(): GraceState {
    return this.grace.state();
  }

  /** A grace period is in force: only reclaims (and what gives up access) are granted. */
  get inGrace(): boolean {
    return this.grace.active;
  }

  /** Why a reclaim by `client` would be refused now (null: it would be accepted). */
  reclaimRefusal(client: string | null): string | null {
    return this.grace.refuseReclaim(client);
  }

  /** Deadlock detection's settings and counters (what `snapshot().detection` reports, without the graph). */
  get detection(): { readonly mode: DetectMode; readonly victim: VictimPolicy; readonly stats: Readonly<DeadlockStats> } {
    return { mode: this.detector.mode, victim: this.detector.victimPolicy, stats: this.detector.stats };
  }

  /** The domains' names, in the order they were configured. */
  domainNames(): string[] {
    return [...this.domains.keys()];
  }

  hasDomain(name: string): boolean {
    return this.domains.has(name);
  }

  /** Hangs in progress (waits past their soft timeout), oldest first, as `snapshot()` lists them. */
  hangs(): Hang[] {
    return [...this.watchdog.current.values()].map((h) => structuredClone(h));
  }

  /**
   * Hangs in progress counted per domain, every domain listed: `persistent`
   * (still blocked `persistentAfterMs` after its soft timeout) and `hanging`
   * (the others). What a metrics scrape reads: no hang is copied (`hangs()`
   * copies each with its chain: ~220 ms for 10,000 hangs, against ~1 ms).
   */
  hangCounts(): Map<string, { hanging: number; persistent: number }> {
    const out = new Map<string, { hanging: number; persistent: number }>();
    for (const name of this.domains.keys()) out.set(name, { hanging: 0, persistent: 0 });
    for (const h of this.watchdog.current.values()) {
      const c = out.get(h.domain);
      if (c === undefined) continue;
      if (h.classification === 'persistent') c.persistent++;
      else c.hanging++;
    }
    return out;
  }

  /**
   * Counts per domain, kept as locks come and go (no walk over the tables):
   * what a metrics scrape reads. `held`: granted dlm locks plus posix pieces;
   * `waiting`: pending requests (conversions included); `resources`: live ones.
   */
  stats(): Record<string, { kind: string; held: number; waiting: number; resources: number }> {
    const out: Record<string, { kind: string; held: number; waiting: number; resources: number }> = {};
    for (const [name, e] of this.domains) out[name] = { kind: e.kind, held: e.table.held, waiting: e.table.waiting, resources: e.table.size };
    return out;
  }

  /** The deadlock history, oldest first (bounded by limits.deadlockHistoryMax). */
  get deadlocks(): readonly DeadlockRecord[] {
    return this.history;
  }

  /** @internal A granted dlm lock or a pending request (any kind) by id; a scan, meant for operators' actions. */
  find(id: number): { lock: DlmLock } | { wait: Waiter } | null {
    return findById(this, id);
  }

  /**
   * Hand a granted dlm lock to another owner of this manager, in place: the
   * same lock, mode, token and position in the queues, now `to`'s (a remote
   * client's cached grant passed between two of its owners, K6 in
   * src/README.md). No lock came or went: a cached grant's `cache-use` event
   * names the new owner. EINVAL unless the lock is granted (not converting);
   * ENOLCK past `to`'s limits.
   */
  handOver(lock: DlmLock, to: Owner): void {
    if (lock.st !== St.Granted) throw invalid('lock', 'a granted lock (not waiting or converting)', lock.state);
    if (to.manager !== this) throw invalid('owner', 'an owner of this manager');
    const from = lock.owner;
    if (from === to) return;
    this.checkLockCount(to, 1, lock.domain, lock.resource);
    from.removeDlmLock(lock);
    (lock as { owner: Owner }).owner = to;
    to.addDlmLock(lock);
    if (lock.res.queued > 0) this.resourceChanged(lock.res);
    if (lock.extra?.cache) this.lockCacheUse(lock);
  }

  /** Operator break: the holder's handle ends `lost` with `reason` (default `revoked`). ENOENT if no such granted lock. */
  breakLock(id: number, reason: Exclude<LossReason, 'released'> = 'revoked'): void {
    const found = this.find(id);
    if (found === null || !('lock' in found)) throw new LockError('ENOENT', `no granted lock with id ${id}`, { node: this.node });
    this.dlm.revoke(found.lock, reason);
  }

  /**
   * Take away every lock and fail every pending request on the resources
   * `which` selects (a cluster node that no longer masters them, or is
   * fenced): handles end `lost` with `reason`, waits fail EREVOKED. Returns
   * the clients (owner.client) that held or waited there.
   */
  revokeResources(which: (domain: string, resource: string) => boolean, reason: Exclude<LossReason, 'released'>): Set<string> {
    return revokeResources(this, which, reason);
  }

  /**
   * Operator break of a posix lock: every piece owner `ownerId` holds on the
   * resource is dropped (a `released` event with `reason`), and waiters
   * behind it are granted as by an unlock. Posix locks have no handle, so
   * the owner learns nothing (as with fcntl); a remote client's reclaim
   * mirror still lists the range. ENOENT if the owner holds nothing there.
   */
  breakPosix(domain: string, resource: string, ownerId: number, reason: Exclude<LossReason, 'released'> = 'revoked'): void {
    const res = this.posixTable(domain).get(checkName(resource, 'resource', this.limits.nameBytesMax));
    const id = checkInteger(ownerId, 'ownerId', 1, Number.MAX_SAFE_INTEGER);
    const owner = res === undefined ? undefined : [...res.holders.keys()].find((o) => o.id === id);
    if (res === undefined || owner === undefined) throw new LockError('ENOENT', `owner ${id} holds no posix lock on ${domain}:${resource}`, { node: this.node });
    this.posix.dropOwner(res, owner, reason);
  }

  /** Operator cancel: the pending request fails with ECANCELED. ENOENT if no such request. */
  cancelWait(id: number): void {
    const found = this.find(id);
    if (found === null || !('wait' in found)) throw new LockError('ENOENT', `no pending request with id ${id}`, { node: this.node });
    const w = found.wait;
    failWait(this, w, this.waitError(w, 'ECANCELED', 'cancelled by an operator'));
  }

  /** Run the deadlock detector's full pass now (it also runs by itself at least once a second while anything waits). */
  detectDeadlocks(): void {
    this.detector.fullPass();
  }

  /**
   * The wait-for graph's edges for a detector outside this manager (a
   * cluster's): each edge's key, its wait and the owner that blocks it.
   * Only domains that take part in deadlock detection.
   */
  waitEdges(): WaitEdge[] {
    return this.detector.foreignEdges().map(({ key, wait, blocker }) => ({
      key, waitId: wait.id, owner: wait.owner, blocker: blocker.to, hard: blocker.hard, requestedAt: wait.requestedAt,
    }));
  }

  /** The edge `key` (from `waitEdges`) as a cycle entry with its owners, if it still holds now; null if its wait ended or is no longer blocked so. */
  waitEdge(key: string): { entry: CycleEntry; owner: Owner; blocker: Owner } | null {
    return this.detector.edgeEntry(key);
  }

  /**
   * Complete every hang report before it is emitted (rule S1): a cluster
   * node follows the chain onto other nodes. The hang's events wait for the
   * returned promise, which the explainer must settle in bounded time.
   */
  setHangExplainer(explain: ((hang: Hang) => Promise<void>) | null): void {
    this.watchdog.explainer = explain;
  }

  /** A pending request by id, with its owner (a scan, for diagnostics), or null. */
  pendingOwner(waitId: number): Owner | null {
    const found = this.find(waitId);
    return found !== null && 'wait' in found ? found.wait.owner : null;
  }

  /**
   * Break a cycle found outside this manager at its edge `key`: if the edge
   * still holds, its wait fails EDEADLK carrying `cycle`, the deadlock is
   * recorded (with the `nodes` it spans) and true is returned; otherwise
   * nothing changes (rule D3).
   */
  failDeadlockVictim(key: string, cycle: CycleEntry[], policy: string, nodes: string[]): boolean {
    return this.detector.failVictim(key, cycle, policy, nodes);
  }

  /** Fail every pending request with ECANCELED and stop the timer. Held locks stay. */
  close(): void {
    failAllWaits(this, (w) => this.waitError(w, 'ECANCELED', 'the lock manager closed'));
    this.timers.stop();
  }

  // ---------------------------------------------------------------------------
  // Shared services for the kinds. Not part of the public API.

  /** @internal */
  nextId(): number {
    return ++this.idSeq;
  }

  /** Fencing tokens come from one counter, so they strictly increase per resource too. */
  /** A cluster's token block (tokens.ts, external mode): issued after the current one, or from the next grant with `now`. */
  advanceTokens(first: number, last: number, now = false): void {
    this.tokens.advanceTo(first, last, now);
  }

  /** Tokens left before another block is needed (a cluster reserves the next one in time). */
  get tokensRemaining(): number {
    return this.tokens.remaining;
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

  /** Highest token issued; a restarted server resumes above it (tokens.ts). */
  get tokenHighWater(): number {
    return this.tokens.highWater;
  }

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
    if (this.lockTotal >= this.limits.locksMax) throw this.limitError('locksMax', this.limits.locksMax, owner, domain, resource);
    this.checkQuota(owner, 1, domain, resource);
  }

  /** @internal Checked where a request is about to queue: the manager's bound on waits at once. */
  checkCanWait(owner: Owner, domain: string, resource: string): void {
    if (this.pendingWaits >= this.limits.waitsMax) throw this.limitError('waitsMax', this.limits.waitsMax, owner, domain, resource);
  }

  /** @internal */
  checkLockCount(owner: Owner, delta: number, domain: string, resource: string): void {
    if (owner.lockCount + delta > this.limits.locksPerOwnerMax) {
      throw this.limitError('locksPerOwnerMax', this.limits.locksPerOwnerMax, owner, domain, resource);
    }
    if (this.lockTotal + delta > this.limits.locksMax) throw this.limitError('locksMax', this.limits.locksMax, owner, domain, resource);
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

function checkSnapshotOptions(options: SnapshotOptions | undefined): SnapshotOptions | undefined {
  if (options !== undefined) {
    checkOptions(options, 'options', SNAPSHOT_KEYS);
    if (options.locksMax !== undefined) checkInteger(options.locksMax, 'options.locksMax', 1, Number.MAX_SAFE_INTEGER);
  }
  return options;
}
