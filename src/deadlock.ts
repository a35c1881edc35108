/**
 * Deadlock detection (src/README.md, "Deadlock detection"): when to look for
 * a cycle. What is done with one found is deadlock-resolve.ts's.
 *
 * - immediate: a new wait, or a wait whose blockers changed, is checked with
 *   a bounded search from that wait (waitfor.ts). Cheap pre-checks skip the
 *   search when no cycle can pass through the waiter: nobody waits for its
 *   owner, or none of its blockers is waiting.
 * - deferred: the same, but only for waits older than `delayMs`
 *   (PostgreSQL's deadlock_timeout), armed on the manager's one timer queue.
 * - the full pass: strongly connected components of the whole graph, at
 *   least once a second while anything waits, and at once after a search ran
 *   out of budget. Rules D1 (a search is paid for by its owner's quota) and
 *   D2 (passes take at most a tenth of the time) bound the work.
 *
 * Preconditions: the manager reports every wait's start and end (onWait,
 * onWaitEnd) and every change of a resource's holders or queues while
 * something waits on it (onChange); a search from a wait is only as fresh
 * as that. Checks run in a microtask after the lock operation that caused
 * them, never inside it.
 */

import { blockersOf, type Blocker } from './blockers.js';
import { DeadlockResolver, entryOf } from './deadlock-resolve.js';
import { DlmWait } from './dlm.js';
import { St, type DlmLock } from './dlm-lock.js';
import type { EngineHost } from './host.js';
import { compatible } from './modes.js';
import type { Owner } from './owner.js';
import { Quota } from './quota.js';
import { cyclicComponents } from './scc.js';
import type { TimerEntry } from './timers.js';
import { LaneItem, TimerLane } from './lane.js';
import type { Waiter } from './waiter.js';
import { WaitForGraph, type AnyResource, type Step } from './waitfor.js';
import type { CurrentCycle, CycleEntry, DeadlockStats } from './shapes.js';

export type DetectMode = 'immediate' | 'deferred' | 'off';
export type VictimPolicy = 'requester' | 'youngest' | 'least-locks' | 'priority';

export interface DeadlockOptions {
  detect?: DetectMode;
  /** deferred: how old a wait must be before it is searched from. Default 1000 ms. */
  delayMs?: number;
  victim?: VictimPolicy;
  /** Edges one search may follow before it hands over to the full pass. Default 10,000. */
  searchBudget?: number;
  /** Period of the full pass, at most 1000 ms. */
  fullPassMs?: number;
}

/** A wait's place in the deferred-detection lane (all waits share one delay). */
type DelayNode = LaneItem<Waiter>;

export class DeadlockDetector {
  readonly graph: WaitForGraph;
  readonly stats: DeadlockStats = { searches: 0, throttled: 0, exhausted: 0, fullPasses: 0, falsePositives: 0, reorders: 0, victims: 0 };
  private readonly pending = new Set<Waiter>();
  private drainScheduled = false;
  private readonly delays = new Map<Waiter, DelayNode>();
  private readonly delayLane: TimerLane<DelayNode>;
  /** Waits old enough to be searched from in deferred mode. */
  private readonly eligible = new WeakSet<Waiter>();
  private readonly passEntry: TimerEntry;
  private readonly resolver: DeadlockResolver;
  /** When the last full pass ended and how long it took (the manager's clock): the next one waits in proportion. */
  private lastPassEnd = Number.NEGATIVE_INFINITY;
  private lastPassCost = 0;

  constructor(
    private readonly m: EngineHost,
    readonly mode: DetectMode,
    readonly victimPolicy: VictimPolicy,
    delayMs: number,
    private readonly budget: number,
    private readonly fullPassMs: number,
  ) {
    this.graph = new WaitForGraph((w) => m.domains.get(w.domain)?.policy.deadlock === true);
    this.resolver = new DeadlockResolver(m, this.graph, this.stats, victimPolicy, budget);
    this.passEntry = { deadline: 0, heapIndex: -1, keepAlive: false, fire: () => this.fullPass() };
    this.delayLane = new TimerLane<DelayNode>(m.timers, delayMs, (n) => this.delayPassed(n));
  }

  /** A request started waiting. */
  onWait(w: Waiter, res: AnyResource): void {
    this.graph.touch(res);
    if (this.mode === 'off') return;
    if (this.passEntry.heapIndex === -1) this.schedulePass(this.m.clock.now(), this.fullPassMs);
    if (this.mode === 'deferred') {
      const node = new LaneItem(w);
      this.delays.set(w, node);
      this.delayLane.arm(node, w.requestedAt);
      return;
    }
    this.consider(w);
  }

  onWaitEnd(w: Waiter): void {
    // Its edges must leave the graph with it, even when nothing else changes on the resource.
    this.graph.touch(w.res);
    if (this.mode === 'deferred') {
      const node = this.delays.get(w);
      if (node !== undefined) {
        this.delayLane.disarm(node);
        this.delays.delete(w);
      }
    }
    if (this.pending.size > 0) this.pending.delete(w);
  }

  /** The resource's holders or queues changed: re-check the waits whose blockers may have changed. */
  onChange(res: AnyResource): void {
    this.graph.touch(res);
    if (this.mode === 'off') return;
    if ('waiters' in res) {
      for (const w of res.waiters) this.consider(w);
      return;
    }
    if (!res.table.policy.ranges) {
      // Only queue heads have hard edges (blockers.ts); the rest follow them.
      if (res.converting?.head?.wait) this.consider(res.converting.head.wait);
      if (res.waiting?.head?.wait) this.consider(res.waiting.head.wait);
      return;
    }
    for (const q of [res.converting, res.waiting]) if (q !== null) for (const l of q) if (l.wait !== null) this.consider(l.wait);
  }

  private delayPassed(node: DelayNode): void {
    this.delays.delete(node.item);
    if (node.item.settled) return;
    this.eligible.add(node.item);
    this.consider(node.item);
  }

  /** Queue a check of `w` if a cycle through it is possible at all. */
  private consider(w: Waiter): void {
    if (w.settled || (this.mode === 'deferred' && !this.eligible.has(w))) return;
    if (!w.res.table.policy.deadlock) return;
    // No path can lead back if none of its blockers waits, or if nobody waits for its owner.
    if (!anyBlockerWaits(w) || !awaited(w.owner)) return;
    this.pending.add(w);
    if (!this.drainScheduled) {
      this.drainScheduled = true;
      queueMicrotask(() => this.drain());
    }
  }

  private drain(): void {
    this.drainScheduled = false;
    for (const w of this.pending) {
      this.pending.delete(w);
      if (!w.settled) this.check(w);
    }
  }

  private check(w: Waiter): void {
    const now = this.m.clock.now();
    // Rule D1: a search costs its owner's quota; without credit it is left to the full pass, armed while anything waits.
    if (!Quota.maySearch(w.owner.quota, now)) {
      this.stats.throttled++;
      return;
    }
    this.stats.searches++;
    const result = this.graph.search(w, this.budget);
    Quota.paySearch(w.owner.quota, result.spent);
    if (result.found !== null) this.resolver.resolve(result.found, w);
    else if (result.exhausted) {
      this.stats.exhausted++;
      this.schedulePass(now, 0);
    }
  }

  /**
   * Rule D2: the full pass comes `delay` from now, but never sooner after the
   * last one ended than nine times what that one took, so passes (forced by
   * exhausted searches or periodic) take at most a tenth of the time however
   * often searches run out of budget. An earlier pass already armed stays.
   */
  private schedulePass(now: number, delay: number): void {
    const at = Math.max(now + delay, this.lastPassEnd + 9 * this.lastPassCost);
    if (this.passEntry.heapIndex !== -1 && this.passEntry.deadline <= at) return;
    this.m.timers.add(this.passEntry, at);
  }

  /** The safety net: every cycle in the whole graph. */
  fullPass(): void {
    this.stats.fullPasses++;
    const start = this.m.clock.now();
    for (let round = 0; round < 16; round++) {
      const resolvedAny = this.passOnce();
      if (!resolvedAny) break;
    }
    const end = this.m.clock.now();
    this.lastPassEnd = end;
    this.lastPassCost = end - start;
    if (this.m.waitCount > 0 && this.mode !== 'off') this.schedulePass(end, this.fullPassMs);
  }

  private passOnce(): boolean {
    let resolvedAny = false;
    for (const steps of this.findCycles()) {
      const latest = steps.reduce((a, s) => (s.wait.id > a.wait.id ? s : a)).wait;
      if (this.resolver.resolve(steps, latest)) resolvedAny = true;
    }
    return resolvedAny;
  }

  /** One cycle per cyclic strongly connected component of the synced graph; acts on nothing. */
  findCycles(): Step[][] {
    this.graph.sync();
    const g = this.graph.graph;
    const out: Step[][] = [];
    for (const comp of cyclicComponents(g.nodes(), (v) => g.outNeighbors(v))) {
      const steps = this.cycleIn(comp);
      if (steps !== null) out.push(steps);
    }
    return out;
  }

  /** Current cycles as the dashboard shows them (computed now). */
  currentCycles(): CurrentCycle[] {
    return this.findCycles().map((steps) => ({ owners: steps.map((s) => s.wait.owner.name), entries: steps.map(entryOf) }));
  }

  /** A cycle through the owners of one strongly connected component. */
  private cycleIn(comp: string[]): Step[] | null {
    for (const key of comp) {
      const owner = this.graph.graph.getNodeAttribute(key, 'owner');
      for (const w of owner.pendingRequests()) {
        const r = this.graph.search(w, Math.max(this.budget, comp.length * 8));
        if (r.found !== null) return r.found;
      }
    }
    return null;
  }

  /**
   * Every wait-for edge with its key, synced: what a detector outside this
   * manager (a cluster's, server/cluster/detector.ts) gathers. The key names
   * the wait, the blocking owner and what of it blocks; `edgeEntry` and
   * `failVictim` take it back.
   */
  foreignEdges(): Array<{ key: string; wait: Waiter; blocker: Blocker }> {
    return this.graph.edges();
  }

  /** The edge `key` as a cycle entry, with its two owners, if it still holds right now (its wait pending, the same blocker blocking it). */
  edgeEntry(key: string): { entry: CycleEntry; owner: Owner; blocker: Owner } | null {
    return this.resolver.edgeEntry(key);
  }

  /** Rule D3 (deadlock-resolve.ts): fail the wait of edge `key` with `cycle` if the edge still holds. */
  failVictim(key: string, cycle: CycleEntry[], policy: string, nodes: string[]): boolean {
    return this.resolver.failVictim(key, cycle, policy, nodes);
  }
}

/**
 * Could anyone be waiting for `owner`? It holds a lock on a resource with a
 * queue, or has a request with others queued on the same resource. False
 * means no cycle can pass through it.
 */
function awaited(owner: Owner): boolean {
  let budget = 256;
  for (let l = owner.dlmHead; l !== null; l = l.ownerNext) {
    if (l.res.queued > 0 || --budget === 0) return true;
  }
  for (const res of owner.posixResources ?? []) if (res.waiters.size > 0) return true;
  for (let w = owner.waitHead; w !== null; w = w.ownerNext) {
    if (!(w instanceof DlmWait)) continue;
    const l = w.lock;
    // Someone queued behind it, or new requests waiting for the conversions.
    if (l.next !== null || (l.st === St.Converting && (l.res.waiting?.size ?? 0) > 0)) return true;
  }
  return false;
}

/** Does any owner that blocks `w` wait itself? Allocation-free for the common cases. */
function anyBlockerWaits(w: Waiter): boolean {
  if (w instanceof DlmWait) {
    const l = w.lock;
    const res = l.res;
    if (!res.table.policy.ranges) {
      // Behind another owner's request (or new behind conversions): that one waits by definition.
      if ((l.prev !== null && l.prev.owner !== l.owner) || (l.st === St.Waiting && (res.converting?.size ?? 0) > 0)) return true;
      if (l.prev !== null) return blockersOf(w).some((b) => b.to.waitCount > 0);
      // At the head: runs on every handover, so no array of the two queues.
      return waitingHolder(res.granted.head, l) || waitingHolder(res.converting?.head ?? null, l);
    }
  }
  return blockersOf(w).some((b) => b.to.waitCount > 0);
}

/** A lock from `g` on, other than `l`, whose granted mode blocks `l` and whose owner waits. */
function waitingHolder(g: DlmLock | null, l: DlmLock): boolean {
  for (; g !== null; g = g.next) {
    if (g !== l && g.owner.waitCount > 0 && !compatible(g.grMode, l.rqMode)) return true;
  }
  return false;
}
