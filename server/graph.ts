/**
 * The wait-for graph as the API shows it: owners are nodes (named by client,
 * host and pid when they are remote), and the core's own edges (the
 * detector's graph, in the snapshot): from a waiting owner to each owner it
 * waits for, `hard` to holders of incompatible modes, `soft` to requests
 * queued ahead of it.
 */

import type { Snapshot } from '../src/index.js';
import type { GraphNode, WaitForGraph } from './protocol.js';

export function waitForGraph(snap: Snapshot): WaitForGraph {
  const nodes: GraphNode[] = snap.owners.map((o) => {
    const meta = o.meta ?? {};
    const str = (k: string): string | null => (typeof meta[k] === 'string' ? (meta[k] as string) : null);
    const pid = typeof meta.clientPid === 'number' ? meta.clientPid : typeof meta.pid === 'number' ? meta.pid : null;
    return { id: o.id, name: o.name, client: str('client'), host: str('host'), pid, holding: o.holding, waiting: o.waiting };
  });
  return { nodes, edges: snap.edges, cycles: snap.cycles };
}

/** Grafana "Node Graph API" data source: the field lists. */
export const GRAFANA_FIELDS = {
  nodes_fields: [
    { field_name: 'id', type: 'string' },
    { field_name: 'title', type: 'string', displayName: 'Owner' },
    { field_name: 'subTitle', type: 'string', displayName: 'Client' },
    { field_name: 'mainStat', type: 'number', displayName: 'Holding' },
    { field_name: 'secondaryStat', type: 'number', displayName: 'Waiting' },
    { field_name: 'arc__holding', type: 'number', color: 'green', displayName: 'Only holding' },
    { field_name: 'arc__waiting', type: 'number', color: 'red', displayName: 'Waiting' },
  ],
  edges_fields: [
    { field_name: 'id', type: 'string' },
    { field_name: 'source', type: 'string' },
    { field_name: 'target', type: 'string' },
    { field_name: 'mainStat', type: 'string', displayName: 'Resource' },
    { field_name: 'secondaryStat', type: 'string', displayName: 'Kind' },
  ],
};

/** Grafana "Node Graph API" data source: nodes and edges of the current graph. */
export function grafanaData(g: WaitForGraph): { nodes: Record<string, unknown>[]; edges: Record<string, unknown>[] } {
  return {
    nodes: g.nodes.map((n) => ({
      id: String(n.id), title: n.name,
      subTitle: n.client === null ? 'local' : `${n.client}@${n.host ?? '?'}${n.pid === null ? '' : `:${n.pid}`}`,
      mainStat: n.holding, secondaryStat: n.waiting,
      arc__holding: n.waiting > 0 ? 0 : 1, arc__waiting: n.waiting > 0 ? 1 : 0,
    })),
    edges: g.edges.map((e, i) => ({
      id: String(i + 1), source: String(e.from), target: String(e.to), mainStat: `${e.domain}/${e.resource}`, secondaryStat: e.kind,
    })),
  };
}
