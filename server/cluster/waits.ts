/**
 * One node's part in the cluster's deadlock detection (detector.ts): its
 * wait-for edges with every owner named cluster-wide, the check of a
 * cycle's edges, and the breaking of a cycle at one of its waits.
 *
 * W1. An owner is named cluster-wide by its client id and the number the
 *     client gives the application's owner (`gid`, sent with each per-node
 *     owner), so the detector sees one owner where the nodes see one each.
 *     An owner without (in-process, or an older client) is named by node and
 *     local id: it is only ever on this node.
 * W2. A check or a break names the view generation the edges were gathered
 *     under; under another one (a resource may have moved) every edge is
 *     reported gone and nothing is broken.
 * W3. A break fails the wait only if its edge still holds, tested in the
 *     same step (the core's rule D3); otherwise nothing changes.
 */

import type { CycleEntry, LockManager, Owner } from '../../src/index.js';
import type { ExplainedEdge } from './peers.js';
import type { PeerWaits } from './shapes.js';

/** W1: the cluster-wide number of a remote owner (its application owner's), set when the owner is created. */
const clusterIds = new WeakMap<Owner, string>();

export function nameClusterOwner(owner: Owner, gid: number): void {
  if (owner.client !== null) clusterIds.set(owner, `c:${owner.client}:${gid}`);
}

export function clusterKeyOf(owner: Owner, node: string): string {
  return clusterIds.get(owner) ?? `n:${node}:${owner.id}`;
}

/** This node's edges, compact (shapes.ts PeerWaits). */
export function gatherWaits(lm: LockManager, node: string, generation: string): PeerWaits {
  const now = lm.clock.now();
  const owners = new Map<Owner, PeerWaits['owners'][number]>();
  const named = (o: Owner): number => {
    if (!owners.has(o)) owners.set(o, [o.id, clusterKeyOf(o, node), o.name, o.priority, o.holding, Math.max(0, now - o.createdAt)]);
    return o.id;
  };
  const edges: PeerWaits['edges'] = lm.waitEdges().map((e) => [e.key, named(e.owner), named(e.blocker), Math.max(0, now - e.requestedAt)]);
  return { node, generation, owners: [...owners.values()], edges };
}

/** W2: each edge as a cycle entry if it still holds under `generation`, else null. */
export function checkEdges(lm: LockManager, node: string, current: string, generation: string, keys: string[]): (CycleEntry | null)[] {
  if (generation !== current) return keys.map(() => null);
  return keys.map((key) => {
    const edge = lm.waitEdge(key);
    return edge === null ? null : { ...edge.entry, node };
  });
}

/** W2, W3: fail the wait of edge `key` as the cycle's victim; false when the edge no longer holds. */
export function breakAt(lm: LockManager, current: string, generation: string, key: string, cycle: CycleEntry[], policy: string, nodes: string[]): boolean {
  if (generation !== current) return false;
  return lm.failDeadlockVictim(key, cycle, policy, nodes);
}

/** Each edge explained for a hang report (null: it no longer holds): who blocks, with what, and whether its client is connected here. */
export function explainEdges(lm: LockManager, node: string, keys: string[], connected: (client: string) => boolean): (ExplainedEdge | null)[] {
  return keys.map((key) => {
    const edge = lm.waitEdge(key);
    if (edge === null) return null;
    const client = edge.blocker.client;
    return { ...edge.entry, node, client, connected: client === null ? null : connected(client) };
  });
}
