/**
 * The cluster's wait-for graph as a pass sees it: every member's edges
 * (waits.ts) gathered with a deadline, joined on cluster-wide owner keys.
 * Used by the deadlock detector (detector.ts) and by hang reports that
 * follow a chain onto other nodes (hangs.ts).
 */

import { clusterLimits } from './limits.js';
import type { ClusterNode } from './node.js';
import { callPeer, type PeerHandler } from './peers.js';
import type { PeerWaits } from './shapes.js';

/** One edge of the gathered graph: `from` waits (on `node`) for `to`. */
export interface Arc {
  from: string;
  to: string;
  /** The two owners' ids on `node`. */
  fromId: number;
  toId: number;
  node: string;
  generation: string;
  key: string;
  /** Milliseconds the wait had lasted when gathered. */
  age: number;
}

/** What the detector and hang reports know of an owner from the gathered edges (summed over nodes). */
export interface OwnerInfo {
  name: string;
  priority: number;
  locks: number;
  age: number;
}

/** Every member's edges (this node's without a call); the members that did not answer in time are `missing` (X2). */
export async function gatherAll(node: ClusterNode, local: PeerHandler, secret: string | null): Promise<{ waits: PeerWaits[]; missing: string[] }> {
  const me = node.node;
  const members = node.view.members;
  const answers = await Promise.allSettled(members.map((m) => {
    if (m.node === me) return Promise.resolve(local.waits());
    if (secret === null) return Promise.reject(new Error('no peer secret'));
    return callPeer<PeerWaits>(m.advertise, m.node, 'waits', secret, {});
  }));
  const missing: string[] = [];
  const waits: PeerWaits[] = [];
  answers.forEach((a, i) => {
    if (a.status === 'fulfilled') waits.push(a.value);
    else missing.push(members[i]!.node);
  });
  return { waits, missing };
}

/** A call to a member of this node's view by name. */
export function askPeer<T>(node: ClusterNode, secret: string | null, to: string, path: string, body: unknown): Promise<T> {
  const member = node.view.members.find((m) => m.node === to);
  if (member === undefined || secret === null) return Promise.reject(new Error(`node ${to} is not in the view`));
  return callPeer<T>(member.advertise, to, path, secret, body);
}

/** The gathered edges between cluster-wide owner keys, and what each owner weighs. */
export function graphOf(gathered: PeerWaits[]): { arcs: Arc[]; owners: Map<string, OwnerInfo> } {
  const arcs: Arc[] = [];
  const owners = new Map<string, OwnerInfo>();
  for (const g of gathered) {
    const keyOf = new Map<number, string>();
    for (const [id, key, name, priority, locks, age] of g.owners) {
      keyOf.set(id, key);
      const known = owners.get(key);
      if (known === undefined) owners.set(key, { name, priority, locks, age });
      else {
        known.locks += locks;
        known.age = Math.max(known.age, age);
      }
    }
    for (const [key, from, to, age] of g.edges.slice(0, clusterLimits.peerEdgesMax)) {
      const f = keyOf.get(from);
      const t = keyOf.get(to);
      if (f !== undefined && t !== undefined) arcs.push({ from: f, to: t, fromId: from, toId: to, node: g.node, generation: g.generation, key, age });
    }
  }
  return { arcs, owners };
}
