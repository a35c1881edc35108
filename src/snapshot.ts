/**
 * snapshot(): the whole lock state as plain JSON (tokens as strings, times
 * as wall-clock ms). Dumps, the REST API and the dashboard all read this
 * one shape (`Snapshot`, in shapes.ts), so it is versioned.
 */

import type { DlmLock } from './dlm-lock.js';
import { DlmResource } from './dlm.js';
import type { DomainEntry, EngineHost } from './host.js';
import { reportRange } from './payloads.js';
import { modeName } from './modes.js';
import type { Owner } from './owner.js';
import type { PosixResource } from './posix.js';
import { formatStack } from './stacks.js';
import type { DomainSnapshot, EdgeSnapshot, GraphSnapshot, LockSnapshot, OwnerSnapshot, ResourceSnapshot, Snapshot } from './shapes.js';

export const SNAPSHOT_VERSION = 1;

export interface SnapshotOptions {
  /**
   * Stop adding resources once this many locks and waits are in (a resource
   * is never cut in half). A snapshot costs ~6 µs a lock (measured, stacks
   * formatted); a reader that only shows a page need not pay for all of them.
   */
  locksMax?: number;
}

export function buildSnapshot(m: EngineHost, options: SnapshotOptions = {}): Snapshot {
  const { owners, seen } = ownerSet();
  const domains: DomainSnapshot[] = [];
  const { shown, truncated } = walkResources(m, options.locksMax, (entry) => {
    const resources: ResourceSnapshot[] = [];
    domains.push({ name: entry.policy.name, kind: entry.kind, policy: { ...entry.policy }, resources });
    return (res) => {
      const r = res instanceof DlmResource ? dlmResource(m, res, seen) : posixResource(m, res, seen);
      resources.push(r);
      return r.granted.length + r.converting.length + r.waiting.length;
    };
  });
  const d = m.detector;
  const edges = edgeSnapshots(m, seen);
  const snap: Snapshot = {
    version: SNAPSHOT_VERSION, node: m.node, time: m.clock.wallNow(), domains,
    owners: [...owners.values()], edges, cycles: d.currentCycles(),
    deadlocks: m.deadlocks.map((x) => structuredClone(x)),
    hangs: [...m.watchdog.current.values()].map((h) => structuredClone(h)),
    hangHistory: m.watchdog.history.map((h) => structuredClone(h)),
    orderInversions: (m.lockOrder?.inversions ?? []).map((x) => structuredClone(x)),
    grace: m.grace.state(),
    detection: { mode: d.mode, victim: d.victimPolicy, stats: { ...d.stats }, graph: d.graph.size, lockOrderEdges: m.lockOrder?.size ?? 0 },
  };
  if (truncated) snap.truncated = { locks: shown, total: m.lockCount + m.waitCount };
  return snap;
}

/**
 * The wait-for graph as a snapshot shows it (its edges, the cycles in it
 * now, the owners on them), without the rest: what the dashboard's feed
 * sends with every batch, a few times a second, where a whole snapshot of
 * 10,000 locks would not be cheap.
 */
export function buildGraph(m: EngineHost): GraphSnapshot {
  const { owners, seen } = ownerSet();
  const edges = edgeSnapshots(m, seen);
  return { edges, cycles: edges.length === 0 ? [] : m.detector.currentCycles(), owners: [...owners.values()] };
}

/**
 * The owners a snapshot with these options lists (those of the resources it
 * shows and of every wait-for edge), in the same order, without building
 * its lock rows or formatting a stack.
 */
export function buildOwners(m: EngineHost, options: SnapshotOptions = {}): OwnerSnapshot[] {
  const { owners, seen } = ownerSet();
  walkResources(m, options.locksMax, () => (res) => {
    let locks = 0;
    if (res instanceof DlmResource) {
      for (const q of [res.granted, res.converting, res.waiting]) {
        if (q === null) continue;
        for (const l of q) seen(l.owner);
        locks += q.size;
      }
    } else {
      for (const [owner, pieces] of res.holders) {
        seen(owner);
        locks += pieces.length;
      }
      for (const w of res.waiters) seen(w.owner);
      locks += res.waiters.size;
    }
    return locks;
  });
  edgeSnapshots(m, seen);
  return [...owners.values()];
}

/** Owners in the order first seen, each projected once. */
function ownerSet(): { owners: Map<Owner, OwnerSnapshot>; seen: (o: Owner) => void } {
  const owners = new Map<Owner, OwnerSnapshot>();
  const seen = (o: Owner): void => {
    if (!owners.has(o)) owners.set(o, { id: o.id, name: o.name, meta: o.meta, priority: o.priority, holding: o.holding, waiting: o.waiting });
  };
  return { owners, seen };
}

/** The one projection of the detector's edges: `from` waits for `to`; `seen` is told both owners of each. */
function edgeSnapshots(m: EngineHost, seen: (o: Owner) => void): EdgeSnapshot[] {
  return m.detector.graph.edges().map(({ wait, blocker }): EdgeSnapshot => {
    seen(wait.owner);
    seen(blocker.to);
    return {
      from: wait.owner.id, fromName: wait.owner.name, to: blocker.to.id, toName: blocker.to.name, kind: blocker.hard ? 'hard' : 'soft',
      domain: wait.domain, resource: wait.resource, wanted: wait.wanted, blockerMode: blocker.mode, waitId: wait.id,
    };
  });
}

/**
 * Every live resource, domain by domain, until `locksMax` locks and waits
 * are in (a resource is never cut in half). `domain` is called once per
 * domain, even one left out whole, and returns the visit of its resources,
 * which returns how many locks and waits the resource counted.
 */
function walkResources(
  m: EngineHost, locksMax: number | undefined, domain: (entry: DomainEntry) => (res: DlmResource | PosixResource) => number,
): { shown: number; truncated: boolean } {
  const max = locksMax ?? Number.POSITIVE_INFINITY;
  let shown = 0;
  let truncated = false;
  for (const entry of m.domains.values()) {
    const visit = domain(entry);
    for (const res of entry.table.live()) {
      if (shown >= max) {
        truncated = true;
        break;
      }
      shown += visit(res);
    }
  }
  return { shown, truncated };
}

function dlmResource(m: EngineHost, res: DlmResource, seen: (o: Owner) => void): ResourceSnapshot {
  const one = (l: DlmLock, state: LockSnapshot['state']): LockSnapshot => {
    seen(l.owner);
    const s: LockSnapshot = {
      id: l.id, owner: l.owner.name, ownerId: l.owner.id, state,
      mode: l.grMode < 0 ? null : modeName(l.grMode),
      requested: state === 'granted' ? null : modeName(l.rqMode),
      range: l.range === null ? null : reportRange(l.range.start, l.range.end),
      token: state === 'waiting' ? null : String(l.tokenN),
      grantedAt: state === 'waiting' ? null : m.toWall(l.grantedAt),
      requestedAt: l.wait === null ? null : m.toWall(l.wait.requestedAt),
      stack: formatStack(l.wait?.stack ?? l.stack),
    };
    if (l.wait !== null) s.waitId = l.wait.id;
    if (l.extra?.demoted === true) s.demoted = true;
    const c = l.extra?.cache;
    if (c !== undefined && c !== null) {
      s.cache = {
        confirmed: c.confirmed, inUse: c.use?.inUse ?? null, user: c.use?.user ?? null, site: c.use?.site ?? null,
        reportedAt: c.use?.at ?? null, tokenLast: String(c.tokenLast),
      };
    }
    return s;
  };
  const out: ResourceSnapshot = {
    name: res.name,
    granted: [...res.granted].map((l) => one(l, 'granted')),
    converting: res.converting === null ? [] : [...res.converting].map((l) => one(l, 'converting')),
    waiting: res.waiting === null ? [] : [...res.waiting].map((l) => one(l, 'waiting')),
  };
  if (res.lvb !== null) out.lvb = { hex: Buffer.from(res.lvb.bytes).toString('hex'), seq: res.lvb.seq, valid: res.lvb.valid };
  return out;
}

function posixResource(m: EngineHost, res: PosixResource, seen: (o: Owner) => void): ResourceSnapshot {
  const granted: LockSnapshot[] = [];
  for (const [owner, pieces] of res.holders) {
    seen(owner);
    for (const p of pieces) {
      granted.push({
        id: 0, owner: owner.name, ownerId: owner.id, state: 'granted', mode: p.write ? 'write' : 'read', requested: null,
        range: reportRange(p.start, p.end), token: String(p.token), grantedAt: m.toWall(p.at), requestedAt: null, stack: formatStack(p.stack),
      });
    }
  }
  const waiting = [...res.waiters].map((w): LockSnapshot => {
    seen(w.owner);
    return {
      id: w.id, owner: w.owner.name, ownerId: w.owner.id, state: 'waiting', mode: null, requested: w.wanted,
      range: reportRange(w.start, w.end), token: null, grantedAt: null, requestedAt: m.toWall(w.requestedAt), stack: formatStack(w.stack), waitId: w.id,
    };
  });
  return { name: res.name, granted, converting: [], waiting };
}
