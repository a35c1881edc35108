/**
 * One view of the whole cluster (`GET /api/cluster/view/<what>`): the REST
 * views of every member (views.ts), gathered and tagged with their node.
 *
 * V1. Every member is asked with a deadline (`PEER_CALL_TIMEOUT_MS`), this
 *     node without a call; a member that does not answer is named in
 *     `missing`, and the view is of the others. Each member answers with its
 *     own bounded read (R1 of snapshot-reads.ts), so the whole is bounded by
 *     the members times that. Rows carry `node`; the graph, one per node.
 */

import { LockError } from '../../src/index.js';
import type { LocksQuery, ViewKind } from '../views.js';
import { askPeer } from './graph.js';
import type { ClusterNode } from './node.js';
import type { PeerHandler } from './peers.js';
import { mergeSnapshots, type ClusterSnapshot, type NodeSnapshot } from './merge.js';

export interface ClusterViewAnswer {
  node: string;
  generation: string;
  answered: string[];
  missing: string[];
  /** List views: every member's rows, each with its `node`. */
  rows?: unknown[];
  /** The graph view: each member's graph. */
  graphs?: Record<string, unknown>;
  /** The snapshot view: the members' snapshots as one (merge.ts, V2, V3). */
  snapshot?: ClusterSnapshot;
}

export async function clusterView(
  node: ClusterNode, local: PeerHandler, secret: string | null, what: ViewKind, query: LocksQuery, only?: string[],
): Promise<ClusterViewAnswer> {
  const members = node.view.members.map((m) => m.node);
  if (only !== undefined) {
    const unknown = only.filter((n) => !members.includes(n));
    if (unknown.length > 0) throw new LockError('EINVAL', `nodes: not members of the view: ${unknown.join(', ')}`);
  }
  const asked = only ?? members;
  const answers = await Promise.allSettled(asked.map((n) => (n === node.node
    ? local.read(what, query)
    : askPeer<{ rows: unknown }>(node, secret, n, 'read', { what, query }).then((a) => a.rows))));
  const out: ClusterViewAnswer = { node: node.node, generation: node.view.generation, answered: [], missing: [] };
  const rows: unknown[] = [];
  const graphs: Record<string, unknown> = {};
  const snapshots: NodeSnapshot[] = [];
  answers.forEach((a, i) => {
    const n = asked[i]!;
    if (a.status === 'rejected') {
      out.missing.push(n);
      return;
    }
    out.answered.push(n);
    if (what === 'graph') graphs[n] = a.value;
    else if (what === 'snapshot') snapshots.push({ node: n, ...(a.value as Omit<NodeSnapshot, 'node'>) });
    else for (const row of a.value as unknown[]) rows.push({ ...(row as object), node: n });
  });
  if (what === 'graph') out.graphs = graphs;
  else if (what === 'snapshot') {
    if (snapshots.length > 0) out.snapshot = mergeSnapshots(node.node, snapshots);
  } else out.rows = rows;
  return out;
}
