/**
 * LockManager: the in-process lock manager's public API, for a program, the
 * lock server and a cluster node (src/README.md, "What is public"): domains
 * and owners, snapshots and their partial reads, counts for metrics, grace,
 * an operator's actions, and the cluster's hooks. What the engines share of
 * it (its parts, the checks, ids and tokens, errors, events) is ManagerHost
 * (manager-host.ts), which it extends; the kinds (dlm.ts, posix.ts) hold the
 * lock logic. The core does no I/O.
 */

import type { OwnerOptions } from './api.js';
import type { DlmLock } from './dlm-lock.js';
import { parseDomainConfig, type DomainConfig } from './domain.js';
import { invalid } from './errors.js';
import type { DomainEntry } from './host.js';
import { ManagerHost } from './manager-host.js';
import { breakLock, breakPosix, cancelWait, failAllWaits, handOver, pendingOwner, revokeResources } from './operations.js';
import { checkSnapshotOptions, parseOwnerOptions, type Admission, type LockManagerOptions, type WaitEdge } from './options.js';
import { Owner } from './owner.js';
import { buildGraph, buildOwners, buildSnapshot, type SnapshotOptions } from './snapshot.js';
import { checkName } from './validate.js';
import type { DetectMode, VictimPolicy } from './deadlock.js';
import { parseGraceOptions, type GraceOptions } from './grace.js';
import type { CycleEntry, DeadlockStats, DomainPolicy, GraceState, GraphSnapshot, Hang, LossReason, OwnerSnapshot, Snapshot } from './shapes.js';

export type { Admission, LockManagerOptions, WaitEdge };
export type { DomainEntry };

export class LockManager extends ManagerHost {
  private ownerSeq = 0;

  /** Add a domain after construction. */
  addDomain(config: DomainConfig): DomainPolicy {
    const policy = parseDomainConfig(config, 'config', this.limits);
    if (this.domains.has(policy.name)) throw invalid('config.name', 'the name of a domain that does not exist yet', policy.name);
    this.installDomain(policy);
    return policy;
  }

  /** A new owner. Names need not be unique; each owner has its own `id`. */
  owner(name: string, options?: OwnerOptions): Owner {
    checkName(name, 'name', this.limits.nameBytesMax);
    const { meta, priority, client, quota } = parseOwnerOptions(options, this.limits);
    return new Owner(this, ++this.ownerSeq, name, meta, priority, this.ownerSeq, client, quota);
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

  // --- reads ---

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
    return this.watchdog.countsByDomain(this.domains.keys());
  }

  /** Granted locks (dlm handles plus posix pieces) of every owner: what `locksMax` bounds. Read-only: the owners' bookkeeping keeps it. */
  get lockTotal(): number {
    return this.lockCount;
  }

  /** Requests waiting now, in every domain: what `waitsMax` bounds. Read-only: the wait lifecycle keeps it. */
  get pendingWaits(): number {
    return this.waitCount;
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

  // --- an operator's actions (operations.ts) ---

  /**
   * Hand a granted dlm lock to another owner of this manager, in place: the
   * same lock, mode, token and position in the queues, now `to`'s (a remote
   * client's cached grant passed between two of its owners, K6 in
   * src/README.md). No lock came or went: a cached grant's `cache-use` event
   * names the new owner. EINVAL unless the lock is granted (not converting);
   * ENOLCK past `to`'s limits.
   */
  handOver(lock: DlmLock, to: Owner): void {
    handOver(this, lock, to);
  }

  /** Operator break: the holder's handle ends `lost` with `reason` (default `revoked`). ENOENT if no such granted lock. */
  breakLock(id: number, reason: Exclude<LossReason, 'released'> = 'revoked'): void {
    breakLock(this, id, reason);
  }

  /**
   * Operator break of a posix lock: every piece owner `ownerId` holds on the
   * resource is dropped (a `released` event with `reason`), and waiters
   * behind it are granted as by an unlock. Posix locks have no handle, so
   * the owner learns nothing (as with fcntl); a remote client's reclaim
   * mirror still lists the range. ENOENT if the owner holds nothing there.
   */
  breakPosix(domain: string, resource: string, ownerId: number, reason: Exclude<LossReason, 'released'> = 'revoked'): void {
    breakPosix(this, domain, resource, ownerId, reason);
  }

  /** Operator cancel: the pending request fails with ECANCELED. ENOENT if no such request. */
  cancelWait(id: number): void {
    cancelWait(this, id);
  }

  /** Run the deadlock detector's full pass now (it also runs by itself at least once a second while anything waits). */
  detectDeadlocks(): void {
    this.detector.fullPass();
  }

  /** Fail every pending request with ECANCELED and stop the timer. Held locks stay. */
  close(): void {
    failAllWaits(this, (w) => this.waitError(w, 'ECANCELED', 'the lock manager closed'));
    this.timers.stop();
  }

  // --- the cluster's hooks (src/README.md, "The cluster's hooks") ---

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
    return pendingOwner(this, waitId);
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

  // --- fencing tokens (tokens.ts): one counter, so they strictly increase per resource too ---

  /** A cluster's token block (tokens.ts, external mode): issued after the current one, or from the next grant with `now`. */
  advanceTokens(first: number, last: number, now = false): void {
    this.tokens.advanceTo(first, last, now);
  }

  /** Tokens left before another block is needed (a cluster reserves the next one in time). */
  get tokensRemaining(): number {
    return this.tokens.remaining;
  }

  /** Highest token issued; a restarted server resumes above it (tokens.ts). */
  get tokenHighWater(): number {
    return this.tokens.highWater;
  }
}
