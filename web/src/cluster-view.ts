/**
 * The cluster panel: on a cluster node, the members (weight, address, in the
 * view or not, live or not, the view each has adopted), the generation of
 * the view this node acts on, and the cluster-wide grace record (which nodes
 * still need to recover clients, which enforce) from GET /api/cluster,
 * asked again every `clusterPollMs` while the page is visible. It stays
 * hidden on a single node.
 *
 * Its scope switch shows the whole cluster instead of this node: every
 * member's state as one snapshot (GET /api/cluster/view/snapshot, owners
 * joined across nodes, each lock with its node), asked again every
 * `clusterPollMs`, drawn by the same views, read only (its ids name nothing
 * on this node); the table's node filter then picks a member. Sessions are
 * every member's; the dumps listed are this node's (each holds every node).
 */

import type { ClusterAnswer, ClusterStatus } from '../../server/cluster/shapes.js';
import type { SessionSummary, Snapshot } from '../../server/protocol.js';
import { getJson } from './api.js';
import { esc } from './format.js';
import { webLimits } from './limits.js';
import { Model } from './model.js';

/** What the page shows: this node's live model (null), or the whole cluster's, kept current here. */
export type ScopeListener = (cluster: Model | null) => void;

/** Add the panel to `parent` and keep it current. */
export function mountClusterPanel(parent: HTMLElement, onScope: ScopeListener = () => {}): void {
  const section = document.createElement('section');
  section.className = 'panel full';
  section.id = 'cluster-panel';
  section.hidden = true;
  section.innerHTML = '<h2>Cluster <span id="cluster-name"></span> <label class="scope">show <select id="cluster-scope">'
    + '<option value="node">this node</option><option value="cluster">the whole cluster</option></select></label> <span id="cluster-scope-note"></span></h2>'
    + '<p id="cluster-summary"></p><p id="cluster-grace"></p><div id="cluster-members" class="scroll"></div>';
  // First on the page: on a cluster node, who is a member and whether a failover is under way comes before the locks.
  parent.prepend(section);
  const refresh = async (): Promise<void> => {
    if (document.visibilityState !== 'visible') return;
    try {
      renderCluster(section, await getJson<ClusterAnswer>('/api/cluster'));
    } catch {
      // No access yet, or this node is away: the next turn asks again.
    }
  };
  void refresh();
  setInterval(() => void refresh(), webLimits.clusterPollMs);

  const scope = section.querySelector('#cluster-scope') as HTMLSelectElement;
  const note = section.querySelector('#cluster-scope-note') as HTMLElement;
  let cluster: Model | null = null;
  const poll = async (): Promise<void> => {
    if (cluster === null || document.visibilityState !== 'visible') return;
    try {
      const [v, sessions] = await Promise.all([
        getJson<{ answered: string[]; missing: string[]; snapshot?: Snapshot & { nodes: string[] } }>('/api/cluster/view/snapshot'),
        getJson<{ rows: SessionSummary[] }>('/api/cluster/view/sessions'),
      ]);
      if (cluster === null || v.snapshot === undefined) return;
      cluster.applySnapshot(v.snapshot);
      cluster.setSessions(sessions.rows);
      note.textContent = `${v.answered.length} nodes${v.missing.length === 0 ? '' : ` · not answering: ${v.missing.join(', ')}`} · read only`;
      onScope(cluster);
    } catch {
      note.textContent = 'the cluster view did not answer: asked again shortly';
    }
  };
  scope.addEventListener('change', () => {
    cluster = scope.value === 'cluster' ? new Model() : null;
    note.textContent = cluster === null ? '' : 'asking every node…';
    if (cluster === null) onScope(null);
    else void poll();
  });
  setInterval(() => void poll(), webLimits.clusterPollMs);
}

export function renderCluster(section: HTMLElement, a: ClusterAnswer): void {
  const text = (id: string, t: string): void => {
    (section.querySelector(`#${id}`) as HTMLElement).textContent = t;
  };
  if (!('members' in a)) {
    // A single node shows nothing; a node still joining says so.
    section.hidden = !a.joining;
    text('cluster-summary', a.joining ? 'this node is joining its cluster' : '');
    return;
  }
  section.hidden = false;
  text('cluster-name', a.cluster);
  const inView = a.members.filter((m) => m.inView).length;
  text('cluster-summary', `this page: node ${a.node} · generation ${a.generation} · ${inView} of ${a.members.length} members in the view · token mark ${a.tokenMark}`);
  text('cluster-grace', graceLine(a.grace));
  const table = section.querySelector('#cluster-members') as HTMLElement;
  table.innerHTML = '<table><tr><th>node</th><th>weight</th><th>address</th><th>state</th><th>adopted</th><th>grace</th></tr>' +
    a.members.map((m) => {
      const flags = a.grace.nodes[m.node];
      const state = !m.live ? 'gone' : m.inView ? 'member' : 'joining';
      const grace = flags === undefined ? '' : [flags.need ? 'needs clients' : '', flags.enforcing ? 'enforcing' : ''].filter(Boolean).join(', ');
      return `<tr class="cluster-member ${state}" data-node="${esc(m.node)}"><td>${esc(m.node)}${m.node === a.node ? ' (this)' : ''}</td><td>${m.weight}</td>` +
        `<td>${esc(m.advertise)}</td><td>${state}</td><td>${esc(m.adopted)}${m.adopted === a.generation ? '' : ' (behind)'}</td><td>${esc(grace)}</td></tr>`;
    }).join('') + '</table>';
}

function graceLine(g: ClusterStatus['grace']): string {
  if (!g.inGrace) return `grace: none (epoch ${g.current})`;
  const need = Object.entries(g.nodes).filter(([, f]) => f.need).map(([n]) => n);
  return `grace: in force (epoch ${g.current}, recovery of epoch ${g.recovery}) · nodes waiting for clients to reclaim: ${need.length === 0 ? 'none' : need.join(', ')} · remastered resources refuse new locks until it ends`;
}
