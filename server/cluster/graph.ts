/**
 * Gathering the cluster's wait-for graph: every member's edges (waits.ts),
 * asked with a deadline, for the deadlock detector (detector.ts) and hang
 * reports that follow a chain onto other nodes (hangs.ts). They are joined
 * on cluster-wide owner keys by collectors/cluster-graph.ts, which `inspect`
 * uses on a cluster dump too.
 */

import type { ClusterNode } from './node.js';
import { callPeer, type PeerHandler } from './peers.js';
import type { PeerWaits } from './shapes.js';

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

