/**
 * One snapshot of the whole cluster, for the dashboard's cluster scope
 * (`GET /api/cluster/view/snapshot`): every member's bounded snapshot joined
 * into the shape of one node's, so that the page's views draw it unchanged.
 *
 * V2. An application owner is one owner of the merged snapshot however many
 *     nodes it holds or waits on: owners are joined on their cluster-wide
 *     names (waits.ts, W1), so a cycle across nodes is a cycle of the merged
 *     graph. Every other id (locks, waits, hangs; owners known on one node
 *     only) is made unique as `id × idStride + the node's index`; such ids
 *     name nothing on any node, so the page acts on none of them (the
 *     cluster scope is read only).
 * V3. Each lock says its node; the cycles are each node's and the cycles
 *     across nodes found from the members' edges (collectors/cluster-graph.ts,
 *     as the detector finds them); deadlocks and hangs are every node's, in
 *     time order; the grace and detection state are this node's.
 */

import { crossNodeCycles, graphOf } from '../../collectors/cluster-graph.js';
import type { NodeWaits } from '../../collectors/shapes.js';
import type { CurrentCycle, DomainSnapshot, Hang, LockSnapshot, OwnerSnapshot, Snapshot } from '../../src/index.js';
import { clusterLimits } from './limits.js';

export interface NodeSnapshot {
  node: string;
  snapshot: Snapshot;
  waits: NodeWaits;
}

export type ClusterSnapshot = Snapshot & { nodes: string[] };

const STRIDE = clusterLimits.membersMax;

export function mergeSnapshots(me: string, parts: NodeSnapshot[]): ClusterSnapshot {
  const { owners, ownerOf } = joinOwners(parts);
  const uid = (k: number, id: number): number => id * STRIDE + k;
  const lock = (k: number, node: string, l: LockSnapshot): LockSnapshot => ({
    ...l, id: uid(k, l.id), ownerId: ownerOf(k, l.ownerId), node, ...(l.waitId === undefined ? {} : { waitId: uid(k, l.waitId) }),
  });
  const hang = (k: number, h: Hang): Hang => ({ ...h, id: uid(k, h.id), waitId: uid(k, h.waitId), ownerId: ownerOf(k, h.ownerId) });

  const domains = new Map<string, DomainSnapshot>();
  const cycles: CurrentCycle[] = [];
  const out: ClusterSnapshot = {
    ...parts.find((p) => p.node === me)?.snapshot ?? parts[0]!.snapshot,
    node: me, nodes: parts.map((p) => p.node), domains: [], owners: [], edges: [], cycles, deadlocks: [], hangs: [], hangHistory: [], orderInversions: [],
  };
  let shown = 0;
  let total = 0;
  parts.forEach((p, k) => {
    const s = p.snapshot;
    for (const d of s.domains) {
      const into = domains.get(d.name) ?? { ...d, resources: [] };
      domains.set(d.name, into);
      for (const r of d.resources) {
        into.resources.push({ ...r, granted: r.granted.map((l) => lock(k, p.node, l)), converting: r.converting.map((l) => lock(k, p.node, l)), waiting: r.waiting.map((l) => lock(k, p.node, l)) });
      }
    }
    for (const e of s.edges) out.edges.push({ ...e, from: ownerOf(k, e.from), to: ownerOf(k, e.to), waitId: uid(k, e.waitId) });
    cycles.push(...s.cycles);
    out.deadlocks.push(...s.deadlocks);
    out.hangs.push(...s.hangs.map((h) => hang(k, h)));
    out.hangHistory.push(...s.hangHistory.map((h) => hang(k, h)));
    out.orderInversions.push(...s.orderInversions);
    const locks = s.domains.reduce((n, d) => n + d.resources.reduce((m, r) => m + r.granted.length + r.converting.length + r.waiting.length, 0), 0);
    shown += s.truncated?.locks ?? locks;
    total += s.truncated?.total ?? locks;
  });
  // V3: the cycles across nodes, by their owners' names (what the graph marks).
  const { arcs, owners: named } = graphOf(parts.map((p) => p.waits), clusterLimits.peerEdgesMax);
  for (const c of crossNodeCycles(arcs, clusterLimits.cycleStepsMax)) cycles.push({ owners: c.map((a) => named.get(a.from)?.name ?? a.from), entries: [] });
  out.domains = [...domains.values()];
  out.owners = [...owners.values()];
  out.deadlocks.sort((a, b) => a.time - b.time);
  out.hangHistory.sort((a, b) => (a.since ?? 0) - (b.since ?? 0));
  if (shown < total) out.truncated = { locks: shown, total };
  else delete out.truncated;
  return out;
}

/**
 * V2: the members' owners as the merged snapshot's, joined on their
 * cluster-wide names (counts summed); `ownerOf(k, id)` is the merged id of
 * part k's owner `id`, a new one for an owner no part listed.
 */
function joinOwners(parts: NodeSnapshot[]): { owners: Map<number, OwnerSnapshot>; ownerOf: (k: number, id: number) => number } {
  const owners = new Map<number, OwnerSnapshot>();
  const byKey = new Map<string, number>();
  const ownerIds = parts.map(() => new Map<number, number>());
  let next = 1;
  const ownerOf = (k: number, id: number): number => {
    const known = ownerIds[k]!.get(id);
    if (known !== undefined) return known;
    const g = next++;
    ownerIds[k]!.set(id, g);
    return g;
  };
  parts.forEach((p, k) => {
    const keyOf = new Map(p.waits.owners.map(([id, key]) => [id, key]));
    for (const o of p.snapshot.owners) {
      const key = keyOf.get(o.id);
      const g = key === undefined ? undefined : byKey.get(key);
      if (g === undefined) {
        const id = ownerOf(k, o.id);
        if (key !== undefined) byKey.set(key, id);
        owners.set(id, { ...o, id });
      } else {
        ownerIds[k]!.set(o.id, g);
        const known = owners.get(g)!;
        owners.set(g, { ...known, holding: known.holding + o.holding, waiting: known.waiting + o.waiting });
      }
    }
  });
  return { owners, ownerOf };
}
