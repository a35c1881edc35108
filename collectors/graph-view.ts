/**
 * A read-only view of one snapshot for people: pending requests joined with
 * the wait-for edges and with the locks of their blockers. The summary and
 * `inspect` both answer their questions through it, so they always agree.
 */

import type { EdgeSnapshot, LockSnapshot, ResourceSnapshot, Snapshot } from '../src/index.js';

export interface PlacedLock {
  domain: string;
  resource: string;
  lock: LockSnapshot;
}

export interface BlockedBy {
  edge: EdgeSnapshot;
  /** The blocker's lock or request on that resource, when the snapshot has it. */
  lock: LockSnapshot | null;
}

export interface PendingWait extends PlacedLock {
  blockers: BlockedBy[];
}

const key = (ownerId: number, domain: string, resource: string): string => `${ownerId}\u0000${domain}\u0000${resource}`;

export class GraphView {
  /** Resources by domain and name; an owner's locks are found by scanning one resource's short queues. */
  private readonly resources = new Map<string, Map<string, ResourceSnapshot>>();
  readonly pending: PendingWait[] = [];
  readonly out = new Map<number, EdgeSnapshot[]>();
  readonly in = new Map<number, EdgeSnapshot[]>();
  readonly names = new Map<number, string>();
  private readonly pendingByKey = new Map<string, PendingWait>();

  constructor(readonly snapshot: Snapshot) {
    for (const o of snapshot.owners) this.names.set(o.id, o.name);
    for (const e of snapshot.edges) {
      push(this.out, e.from, e);
      push(this.in, e.to, e);
    }
    // No per-lock allocation here: with 100,000 locks, garbage collection is what a dump pays for.
    for (const d of snapshot.domains) {
      const byName = new Map<string, ResourceSnapshot>();
      this.resources.set(d.name, byName);
      for (const r of d.resources) {
        byName.set(r.name, r);
        for (const q of [r.converting, r.waiting]) {
          for (const lock of q) this.pending.push({ domain: d.name, resource: r.name, lock, blockers: [] });
        }
      }
    }
    for (const p of this.pending) {
      p.blockers = this.blockersOf(p);
      const k = key(p.lock.ownerId, p.domain, p.resource);
      if (!this.pendingByKey.has(k)) this.pendingByKey.set(k, p);
    }
  }

  /** The owner's pending request on one resource (the first, if it has several). */
  pendingOf(ownerId: number, domain: string, resource: string): PendingWait | null {
    return this.pendingByKey.get(key(ownerId, domain, resource)) ?? null;
  }

  /** The locks (any state) of an owner on one resource. */
  locksOf(ownerId: number, domain: string, resource: string): LockSnapshot[] {
    const r = this.resources.get(domain)?.get(resource);
    if (r === undefined) return [];
    const out: LockSnapshot[] = [];
    for (const q of [r.granted, r.converting, r.waiting]) for (const l of q) if (l.ownerId === ownerId) out.push(l);
    return out;
  }

  private blockersOf(p: PendingWait): BlockedBy[] {
    // Edges name the waiter's owner and resource; the request itself is the owner's pending lock there.
    const edges = (this.out.get(p.lock.ownerId) ?? []).filter((e) => e.domain === p.domain && e.resource === p.resource);
    return edges.map((edge) => {
      const theirs = this.locksOf(edge.to, edge.domain, edge.resource);
      const lock = edge.kind === 'hard'
        ? theirs.find((l) => l.state !== 'waiting' && l.mode === edge.blockerMode) ?? theirs.find((l) => l.state !== 'waiting') ?? null
        : theirs.find((l) => l.state !== 'granted') ?? null;
      return { edge, lock };
    });
  }

  /** Owners that block someone and wait for nothing, most direct waiters first. */
  roots(): number[] {
    const roots = [...this.in.keys()].filter((id) => !this.out.has(id));
    return roots.sort((a, b) => (this.in.get(b)?.length ?? 0) - (this.in.get(a)?.length ?? 0) || a - b);
  }

  /** Owners that wait, directly or through others, for `ownerId` (breadth first, bounded). */
  blockedBy(ownerId: number, max: number): number[] {
    const seen = new Set<number>([ownerId]);
    const out: number[] = [];
    let frontier = [ownerId];
    while (frontier.length > 0 && out.length < max) {
      const next: number[] = [];
      for (const id of frontier) {
        for (const e of this.in.get(id) ?? []) {
          if (seen.has(e.from)) continue;
          seen.add(e.from);
          out.push(e.from);
          next.push(e.from);
        }
      }
      frontier = next;
    }
    return out;
  }

  name(id: number): string {
    return this.names.get(id) ?? `#${id}`;
  }
}

function push<K, V>(map: Map<K, V[]>, k: K, v: V): void {
  const list = map.get(k);
  if (list === undefined) map.set(k, [v]);
  else list.push(v);
}
