/**
 * Hang reports across nodes. A wait on this node can be blocked by an owner
 * that is itself waiting on another node, so the node's own watchdog names
 * a "root blocker" that is not one. Before a hang goes out (the core's rule
 * S1), this follows the chain through the whole cluster.
 *
 * C1. The chain is followed over the cluster's gathered wait-for graph
 *     (graph.ts), from the waiting owner's cluster-wide key: the root
 *     blockers are the owners reached that wait for nothing on any node.
 * C2. Every edge of the chain that is on another node, and every edge into
 *     a root blocker, is explained by the node that holds it: the blocker's
 *     mode, where it asked for the lock, its client and whether that client
 *     is connected there now. An edge that no longer holds is left out.
 * C3. The whole report waits at most `HANG_EXPLAIN_MS`; nodes that did not
 *     answer in time are named in `hang.nodes.missing`, and the node's own
 *     report stands for their part.
 */

import type { ChainLink, Hang, LockManager, RootBlocker } from '../../src/index.js';
import { graphOf, type Arc, type OwnerInfo } from '../../collectors/cluster-graph.js';
import { askPeer, gatherAll } from './graph.js';
import { clusterLimits, HANG_EXPLAIN_MS } from './limits.js';
import type { ClusterNode } from './node.js';
import type { ExplainedEdge, PeerHandler } from './peers.js';
import { clusterKeyOf } from './waits.js';

export interface HangContext {
  lm: LockManager;
  node: ClusterNode;
  local: PeerHandler;
  secret: () => string | null;
}

/** C3: explain `hang` in place, within the deadline. */
export async function explainHang(hang: Hang, ctx: HangContext): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const missing = new Set<string>();
  const work = follow(hang, ctx, missing);
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), HANG_EXPLAIN_MS);
  });
  try {
    const result = await Promise.race([work, late]);
    if (result === 'late') {
      hang.nodes = { asked: ctx.node.view.members.map((m) => m.node), missing: ctx.node.view.members.map((m) => m.node).filter((n) => n !== ctx.node.node) };
      return;
    }
    if (result !== null) Object.assign(hang, result);
    hang.nodes = { asked: ctx.node.view.members.map((m) => m.node), missing: [...missing].sort() };
  } finally {
    clearTimeout(timer);
  }
}

/** C1, C2: the chain and root blockers across the cluster (a root blocker on this node gets its client too), or null when the wait ended. */
async function follow(hang: Hang, ctx: HangContext, missing: Set<string>): Promise<Pick<Hang, 'chain' | 'rootBlockers'> | null> {
  const me = ctx.node.node;
  const owner = ctx.lm.pendingOwner(hang.waitId);
  if (owner === null) return null; // the wait ended meanwhile
  const { waits, missing: absent } = await gatherAll(ctx.node, ctx.local, ctx.secret());
  for (const n of absent) missing.add(n);
  const { arcs, owners } = graphOf(waits, clusterLimits.peerEdgesMax);
  const out = new Map<string, Arc[]>();
  for (const a of arcs) out.set(a.from, [...(out.get(a.from) ?? []), a]);
  // Breadth first from the waiter: the arcs followed, and the arcs into owners that wait for nothing.
  const start = clusterKeyOf(owner, me);
  const depth = new Map<string, number>([[start, 0]]);
  const followed: Arc[] = [];
  const intoRoots: Arc[] = [];
  for (let queue = [start], i = 0; i < queue.length && followed.length + intoRoots.length < clusterLimits.chainEdgesMax; i++) {
    const v = queue[i]!;
    for (const a of out.get(v) ?? []) {
      if ((out.get(a.to) ?? []).length === 0) intoRoots.push(a);
      else followed.push(a);
      if (depth.has(a.to)) continue;
      depth.set(a.to, depth.get(v)! + 1);
      queue.push(a.to);
    }
  }
  const explained = await explainAll([...followed, ...intoRoots], ctx, missing);
  const chain: ChainLink[] = [...hang.chain.map((l) => ({ ...l, node: me }))];
  // Every link on another node, the last ones (into a root blocker) included: this node's part is its own report.
  for (const a of [...followed, ...intoRoots]) {
    if (a.node === me) continue;
    const e = explained.get(a);
    if (e === undefined) continue;
    chain.push({
      owner: nameOf(owners, a.from), ownerId: a.fromId, depth: depth.get(a.from)!, node: a.node,
      waitsFor: [{ owner: e.blocker!.owner, ownerId: a.toId, domain: e.domain, resource: e.resource, wanted: e.wanted, blockerMode: e.blocker!.mode, hard: e.blocker!.hard }],
    });
  }
  const roots = new Map<string, RootBlocker>();
  for (const a of intoRoots) {
    const e = explained.get(a);
    if (e === undefined) continue;
    const local = a.node === me ? hang.rootBlockers.find((r) => r.ownerId === a.toId) : undefined;
    const root = roots.get(a.to) ?? (local !== undefined
      ? { ...local, holds: [] as RootBlocker['holds'] }
      : { owner: e.blocker!.owner, ownerId: a.toId, meta: null, holds: [] as RootBlocker['holds'] });
    root.node ??= a.node;
    root.client = e.client;
    root.connected = e.connected;
    const localHold = local?.holds.find((h) => h.domain === e.domain && h.resource === e.resource);
    if (!root.holds.some((h) => h.node === a.node && h.domain === e.domain && h.resource === e.resource)) {
      root.holds.push({ domain: e.domain, resource: e.resource, mode: e.blocker!.mode, since: localHold?.since ?? null, stack: e.blocker!.stack, node: a.node });
    }
    roots.set(a.to, root);
  }
  // None found (a node that did not answer, or a cycle: nobody waits for nothing): what this node saw stays.
  const rootBlockers = roots.size > 0 ? [...roots.values()] : hang.rootBlockers;
  return { chain, rootBlockers };
}

/** C2: the arcs explained by their nodes, one call per node. */
async function explainAll(arcs: Arc[], ctx: HangContext, missing: Set<string>): Promise<Map<Arc, ExplainedEdge>> {
  const byNode = new Map<string, Arc[]>();
  for (const a of arcs) byNode.set(a.node, [...(byNode.get(a.node) ?? []), a]);
  const out = new Map<Arc, ExplainedEdge>();
  await Promise.all([...byNode].map(async ([node, list]) => {
    const keys = list.map((a) => a.key);
    try {
      const entries = node === ctx.node.node
        ? ctx.local.explain(keys)
        : (await askPeer<{ entries: (ExplainedEdge | null)[] }>(ctx.node, ctx.secret(), node, 'explain', { keys })).entries;
      entries.forEach((e, i) => {
        if (e !== null && e.blocker !== undefined) out.set(list[i]!, e);
      });
    } catch {
      missing.add(node);
    }
  }));
  return out;
}

function nameOf(owners: Map<string, OwnerInfo>, key: string): string {
  return owners.get(key)?.name ?? key;
}
