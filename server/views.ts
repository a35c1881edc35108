/**
 * What the REST API answers about this node's state, one function per view,
 * without express: the routes (rest.ts) answer with it, and so does a
 * cluster node asked by a peer for the cluster-wide view (cluster/view-api.ts),
 * so that one node's rows and the cluster's are the same rows.
 */

import type { DumpRecord } from '../collectors/shapes.js';
import type { Snapshot } from '../src/index.js';
import { waitForGraph } from './graph.js';
import { serverLimits } from './limits.js';
import type { SessionSummary } from './protocol.js';
import type { SnapshotReads } from './snapshot-reads.js';
import { int, obj, oneOf, str } from './validate.js';

export interface ViewContext {
  reads: SnapshotReads;
  sessions(): SessionSummary[];
  dumps(): Promise<DumpRecord[]>;
}

/** The views a node answers, locally and for the cluster. */
export const VIEWS = ['locks', 'owners', 'sessions', 'graph', 'deadlocks', 'hangs', 'dumps', 'snapshot'] as const;
export type ViewKind = (typeof VIEWS)[number];

const STATES = ['granted', 'converting', 'waiting'] as const;
export const locksQuery = obj(
  { domain: str(), resource: str(), owner: str(), node: str(), state: oneOf(STATES), limit: str(12) },
  ['domain', 'resource', 'owner', 'node', 'state', 'limit'],
);
export type LocksQuery = ReturnType<typeof locksQuery>;

/** One view of this node, as the REST API gives it (`q`: the checked query of /api/locks; the other views take none). */
export async function localView(ctx: ViewContext, what: ViewKind, q: LocksQuery = {}): Promise<unknown> {
  switch (what) {
    case 'locks': return lockRows(ctx.reads.snapshot(), q);
    case 'owners': return ctx.reads.owners();
    case 'sessions': return ctx.sessions();
    case 'graph': return waitForGraph(ctx.reads.snapshot());
    case 'deadlocks': return ctx.reads.deadlocks();
    case 'hangs': return ctx.reads.hangs();
    case 'dumps': return ctx.dumps();
    case 'snapshot': return ctx.reads.snapshot();
  }
}

export interface LockRow {
  node: string;
  domain: string;
  kind: string;
  resource: string;
  id: number;
  owner: string;
  ownerId: number;
  state: string;
  mode: string | null;
  requested: string | null;
  range: unknown;
  token: string | null;
  grantedAt: number | null;
  requestedAt: number | null;
}

/** The rows of a (bounded, R1) snapshot that match the query. */
export function lockRows(snap: Snapshot, q: { domain?: string; resource?: string; owner?: string; node?: string; state?: string; limit?: string }): LockRow[] {
  const limit = q.limit === undefined ? serverLimits.apiRowsMax : int(1, serverLimits.apiRowsMax)(Number(q.limit), 'query.limit');
  const rows: LockRow[] = [];
  if (q.node !== undefined && q.node !== snap.node) return rows;
  for (const d of snap.domains) {
    if (q.domain !== undefined && d.name !== q.domain) continue;
    for (const r of d.resources) {
      // resource is a search: a substring match, as the dashboard's search box uses it.
      if (q.resource !== undefined && !r.name.includes(q.resource)) continue;
      for (const l of [...r.granted, ...r.converting, ...r.waiting]) {
        if ((q.owner !== undefined && l.owner !== q.owner) || (q.state !== undefined && l.state !== q.state)) continue;
        if (rows.length >= limit) return rows;
        rows.push({
          node: snap.node, domain: d.name, kind: d.kind, resource: r.name, id: l.id, owner: l.owner, ownerId: l.ownerId, state: l.state,
          mode: l.mode, requested: l.requested, range: l.range, token: l.token, grantedAt: l.grantedAt, requestedAt: l.requestedAt,
        });
      }
    }
  }
  return rows;
}
