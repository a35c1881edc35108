/**
 * The watchdog: soft timeouts and hold warnings on the manager's one timer
 * queue. A soft timeout never fails a request; it reports a hang naming the
 * waiter, the chain of blockers and the root blockers (owners at the end of
 * the chain: holding, not waiting), each with the stack of its request.
 *
 * Hang lifecycle: hanging → (persistentAfterMs later, still blocked)
 * persistent; when the wait ends, resolved with classification `transient`
 * (it ended before becoming persistent) or `persistent`.
 */

import { blockersOf } from './blockers.js';
import { St, type DlmLock } from './dlm-lock.js';
import type { EngineHost } from './host.js';
import { modeName } from './modes.js';
import type { Owner } from './owner.js';
import { formatStack } from './stacks.js';
import { LaneItem, TimerLane } from './lane.js';
import type { Waiter } from './waiter.js';
import type { ResourceTable } from './domain.js';
import type { DlmResource } from './dlm.js';
import type { PosixResource } from './posix.js';
import type { ChainLink, Hang, LongHold, RootBlocker } from './shapes.js';

/** Chain exploration bounds: a hang report stays readable and cheap. */
const CHAIN_OWNERS_MAX = 1000;

/** A granted lock's place in its domain's hold-warning lane (only in domains with holdWarnMs). */
type HoldNode = LaneItem<DlmLock>;

/** Per domain: soft timeouts, persistence deadlines and hold warnings, each a FIFO lane. */
export interface DomainLanes {
  soft: TimerLane<Waiter>;
  persistent: TimerLane<Waiter>;
  hold: TimerLane<HoldNode> | null;
}

type AnyTable = ResourceTable<DlmResource> | ResourceTable<PosixResource>;

export class Watchdog {
  readonly current = new Map<number, Hang>();
  readonly history: Hang[] = [];
  private hangSeq = 0;
  private readonly holds = new WeakMap<DlmLock, HoldNode>();

  constructor(private readonly m: EngineHost, private readonly historyMax: number) {}

  /** Hangs in progress counted per domain, every domain of `domains` listed, without copying one (LockManager.hangCounts). */
  countsByDomain(domains: Iterable<string>): Map<string, { hanging: number; persistent: number }> {
    const out = new Map<string, { hanging: number; persistent: number }>();
    for (const name of domains) out.set(name, { hanging: 0, persistent: 0 });
    for (const h of this.current.values()) {
      const c = out.get(h.domain);
      if (c === undefined) continue;
      if (h.classification === 'persistent') c.persistent++;
      else c.hanging++;
    }
    return out;
  }

  private lanes(table: AnyTable): DomainLanes {
    if (table.lanes !== null) return table.lanes;
    const p = table.policy;
    const t = this.m.timers;
    // With someone listening for hangs (a HangDumper), a program whose every task is stuck on a lock
    // stays up until the soft timeout reports it, instead of exiting with nothing written.
    return (table.lanes = {
      soft: new TimerLane<Waiter>(t, p.softTimeoutMs, (w) => this.softPassed(w), this.m.has('hang')),
      persistent: new TimerLane<Waiter>(t, p.persistentAfterMs, (w) => this.persistentPassed(w)),
      hold: p.holdWarnMs === null ? null : new TimerLane<HoldNode>(t, p.holdWarnMs, (n) => this.heldTooLong(n.item)),
    });
  }

  onWait(w: Waiter): void {
    this.lanes(w.res.table).soft.arm(w, w.requestedAt);
  }

  onWaitEnd(w: Waiter, outcome: string): void {
    w.lane?.disarm(w);
    const hang = w.hang;
    if (hang === null) return;
    this.current.delete(hang.id);
    if (hang.classification === 'pending') hang.classification = 'transient';
    hang.outcome = outcome;
    hang.waitedMs = Math.round(this.m.clock.now() - w.requestedAt);
    this.history.push(hang);
    if (this.history.length > this.historyMax) this.history.shift();
    this.emitHang('hang-resolved', hang, true);
  }

  /**
   * S1: a hang explainer completes a hang report before anyone hears of it
   * (a cluster node follows the chain onto other nodes). It may change the
   * hang it is given; it must settle (its caller bounds it). Until it has,
   * the hang's events wait, in order, behind it.
   */
  explainer: ((hang: Hang) => Promise<void>) | null = null;
  private readonly explaining = new Map<number, Promise<void>>();

  /** Emit a hang event now, or after the hang's explanation (S1), keeping the order of one hang's events. */
  private emitHang(event: 'hang' | 'hang-persistent' | 'hang-resolved', hang: Hang, last: boolean): void {
    const before = this.explaining.get(hang.id);
    if (before === undefined) {
      this.m.emit(event, { ...hang });
      return;
    }
    const after = before.then(() => this.m.emit(event, { ...hang }));
    if (last) void after.finally(() => this.explaining.get(hang.id) === after && this.explaining.delete(hang.id));
    this.explaining.set(hang.id, after);
  }

  private softPassed(w: Waiter): void {
    if (w.settled) return;
    const policy = w.res.table.policy;
    const hang = this.describe(w, policy.softTimeoutMs);
    w.hang = hang;
    this.current.set(hang.id, hang);
    this.lanes(w.res.table).persistent.arm(w, w.requestedAt + policy.softTimeoutMs);
    const explain = this.explainer;
    if (explain !== null) {
      // Held until the hang resolves (its last event removes it).
      this.explaining.set(hang.id, explain(hang).catch(() => {}));
    }
    this.emitHang('hang', hang, false);
  }

  private persistentPassed(w: Waiter): void {
    if (w.settled || w.hang === null) return;
    w.hang.classification = 'persistent';
    this.emitHang('hang-persistent', w.hang, false);
  }

  onGrant(lock: DlmLock): void {
    const lane = this.lanes(lock.res.table).hold;
    if (lane === null) return;
    const node = new LaneItem(lock);
    this.holds.set(lock, node);
    lane.arm(node, lock.grantedAt);
  }

  onRelease(lock: DlmLock): void {
    const node = this.holds.get(lock);
    if (node === undefined) return;
    this.holds.delete(lock);
    node.lane?.disarm(node);
  }

  private heldTooLong(lock: DlmLock): void {
    this.holds.delete(lock);
    if (lock.st !== St.Granted && lock.st !== St.Converting) return;
    const event: LongHold = {
      node: this.m.node, id: lock.id, owner: lock.owner.name, domain: lock.domain, resource: lock.resource,
      mode: lock.mode, heldMs: Math.round(this.m.clock.now() - lock.grantedAt), stack: formatStack(lock.stack),
    };
    this.m.emit('long-hold', event);
  }

  /** A hang report for pending request `w`: the chain of blockers, breadth first, and its roots. */
  describe(w: Waiter, softTimeoutMs: number): Hang {
    const { chain, roots } = explore(w);
    return {
      id: ++this.hangSeq, waitId: w.id, node: this.m.node, owner: w.owner.name, ownerId: w.owner.id,
      domain: w.domain, resource: w.resource, wanted: w.wanted, since: this.m.toWall(w.requestedAt),
      softTimeoutMs, stack: formatStack(w.stack), chain,
      rootBlockers: roots.map((r) => this.rootBlocker(r.owner, r.via)),
      classification: 'pending',
    };
  }

  private rootBlocker(owner: Owner, via: Set<string>): RootBlocker {
    const holds: RootBlocker['holds'] = [];
    for (const l of owner.dlmLocks()) {
      if (!via.has(`${l.domain}\u0000${l.resource}`)) continue;
      holds.push({ domain: l.domain, resource: l.resource, mode: modeName(l.grMode), since: this.m.toWall(l.grantedAt), stack: formatStack(l.stack) });
    }
    for (const res of owner.posixResources ?? []) {
      if (!via.has(`${res.table.policy.name}\u0000${res.name}`)) continue;
      for (const p of res.holders.get(owner) ?? []) {
        holds.push({ domain: res.table.policy.name, resource: res.name, mode: p.write ? 'write' : 'read', since: null, stack: formatStack(p.stack) });
      }
    }
    return { owner: owner.name, ownerId: owner.id, meta: owner.meta, holds };
  }
}

/** Breadth-first over live blockers from `w`; roots are owners reached that wait for nothing. */
export function explore(w: Waiter): { chain: ChainLink[]; roots: Array<{ owner: Owner; via: Set<string> }> } {
  const chain: ChainLink[] = [];
  const rootsByOwner = new Map<Owner, Set<string>>();
  const seen = new Set<Owner>([w.owner]);
  let frontier: Array<{ owner: Owner; waits: Waiter[] }> = [{ owner: w.owner, waits: [w] }];
  for (let depth = 0; frontier.length > 0 && seen.size < CHAIN_OWNERS_MAX; depth++) {
    const next: typeof frontier = [];
    for (const { owner, waits } of frontier) {
      const link: ChainLink = { owner: owner.name, ownerId: owner.id, depth, waitsFor: [] };
      chain.push(link);
      for (const wait of waits) {
        for (const b of blockersOf(wait)) {
          link.waitsFor.push({ owner: b.to.name, ownerId: b.to.id, domain: wait.domain, resource: wait.resource, wanted: wait.wanted, blockerMode: b.mode, hard: b.hard });
          const blockerWaits = [...b.to.pendingRequests()];
          if (blockerWaits.length === 0) {
            const via = rootsByOwner.get(b.to) ?? new Set<string>();
            via.add(`${wait.domain}\u0000${wait.resource}`);
            rootsByOwner.set(b.to, via);
          }
          if (seen.has(b.to) || blockerWaits.length === 0) continue;
          seen.add(b.to);
          next.push({ owner: b.to, waits: blockerWaits });
        }
      }
    }
    frontier = next;
  }
  return { chain, roots: [...rootsByOwner].map(([owner, via]) => ({ owner, via })) };
}
