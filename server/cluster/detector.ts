/**
 * The cluster's deadlock detector: one node at a time, elected through etcd
 * (membership.ts M9), gathers every member's wait-for edges (waits.ts),
 * finds the cycles that span more than one node, checks each of them with
 * the nodes that hold its edges, and breaks it at one wait chosen by the
 * victim policy. A cycle on one node is that node's own detector's, found
 * at once (src/deadlock.ts); this one finds the others within about a pass.
 *
 * X1. Every `DETECT_INTERVAL_MS` each member campaigns; the winner runs a
 *     pass. A new winner (the old one died or was fenced: its key went with
 *     its lease) starts empty: a pass uses nothing from an earlier one.
 * X2. A pass gathers from every member of the view with a deadline (P2). A
 *     member that does not answer is named in the status and the pass goes
 *     on with the others: a cycle through it is found by a later pass.
 * X3. A candidate cycle is never acted on as gathered (the edges came from
 *     different nodes at different moments). Each of its edges is checked
 *     with the node that holds it (its wait still pending, the same owner
 *     still blocking it, under the generation it was gathered under, W2),
 *     and the victim's node tests the victim's edge again in the same step
 *     that fails its wait (W3, D3). A cycle with an edge that no longer holds
 *     breaks nothing (`falsePositives`).
 * X4. The victim is chosen by the detector node's victim policy, over the
 *     cycle's waits as the nodes reported them: `requester` the wait that
 *     began last (it closed the cycle), `youngest` the youngest owner,
 *     `least-locks` the owner holding fewest locks on all nodes,
 *     `priority` the lowest priority; ties go to the wait that began last.
 */

import type { CycleEntry, VictimPolicy } from '../../src/index.js';
import type { ClusterNode } from './node.js';
import { clusterLimits, DETECT_INTERVAL_MS } from './limits.js';
import { crossNodeCycles, graphOf, type Arc, type OwnerInfo } from '../../collectors/cluster-graph.js';
import { askPeer, gatherAll } from './graph.js';
import type { PeerHandler } from './peers.js';
import type { DetectorStatus, PeerWaits } from './shapes.js';

export interface DetectorOptions {
  /** How often a pass runs (default DETECT_INTERVAL_MS). */
  intervalMs?: number;
  /** Wait this long after finding a cycle before checking it (default 0): a cycle that dissolves meanwhile breaks nothing. */
  confirmMs?: number;
}

export class ClusterDetector {
  readonly status: DetectorStatus = { leader: null, passes: 0, cycles: 0, falsePositives: 0, victims: 0, edges: 0, missing: [], lastPassMs: 0 };
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly intervalMs: number;
  private readonly confirmMs: number;
  private readonly key: string;

  constructor(
    private readonly node: ClusterNode,
    private readonly local: PeerHandler,
    private readonly secret: () => string | null,
    private readonly policy: VictimPolicy,
    private readonly log: (event: string, f: Record<string, unknown>) => void,
    o: DetectorOptions = {},
  ) {
    this.intervalMs = o.intervalMs ?? DETECT_INTERVAL_MS;
    this.confirmMs = o.confirmMs ?? 0;
    this.key = `${node.keyPrefix}detector`;
  }

  start(): void {
    this.schedule();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /** X1: campaign, and run a pass when elected. */
  private async tick(): Promise<void> {
    try {
      const leader = await this.node.membership.campaign(this.key);
      if (leader !== this.status.leader) this.log('cluster-detector', { leader });
      this.status.leader = leader;
      if (leader === this.node.node) await this.pass();
    } catch (err) {
      this.log('cluster-detector-error', { error: (err as Error).message });
    } finally {
      this.schedule();
    }
  }

  /** One pass: gather (X2), find, check and break (X3, X4). Returns the cycles it broke. */
  async pass(): Promise<number> {
    const started = performance.now();
    this.status.passes++;
    const gathered = await this.gather();
    const { arcs, owners } = graphOf(gathered, clusterLimits.peerEdgesMax);
    this.status.edges = arcs.length;
    let broken = 0;
    for (const cycle of crossNodeCycles(arcs, clusterLimits.cycleStepsMax).slice(0, clusterLimits.cyclesPerPassMax)) {
      this.status.cycles++;
      if (await this.act(cycle, owners)) broken++;
    }
    this.status.lastPassMs = Math.round(performance.now() - started);
    return broken;
  }

  private async gather(): Promise<PeerWaits[]> {
    const { waits, missing } = await gatherAll(this.node, this.local, this.secret());
    if (missing.join() !== this.status.missing.join()) this.log('cluster-detector-missing', { missing });
    this.status.missing = missing;
    return waits;
  }

  /** X3, X4: check every edge of `cycle` on its node, then break it at the victim's. */
  private async act(cycle: Arc[], owners: Map<string, OwnerInfo>): Promise<boolean> {
    if (this.confirmMs > 0) await new Promise((r) => setTimeout(r, this.confirmMs));
    const entries = await this.check(cycle);
    if (entries === null) {
      this.status.falsePositives++;
      return false;
    }
    const victim = chooseVictim(cycle, owners, this.policy);
    const nodes = [...new Set(cycle.map((a) => a.node))].sort();
    const arc = cycle[victim]!;
    const args = [arc.generation, arc.key, entries, this.policy, nodes] as const;
    let broken: boolean;
    try {
      broken = arc.node === this.node.node
        ? this.local.breakAt(...args)
        : (await this.peer<{ broken: boolean }>(arc.node, 'break', { generation: arc.generation, key: arc.key, cycle: entries, policy: this.policy, nodes })).broken;
    } catch (err) {
      this.log('cluster-detector-error', { error: (err as Error).message });
      broken = false;
    }
    if (!broken) {
      this.status.falsePositives++;
      return false;
    }
    this.status.victims++;
    this.log('cluster-deadlock', { victim: entries[victim]!.owner, node: arc.node, nodes, length: cycle.length });
    return true;
  }

  /** The cycle's entries, in order, if every edge still holds on its node; null otherwise. */
  private async check(cycle: Arc[]): Promise<CycleEntry[] | null> {
    const byNode = new Map<string, Arc[]>();
    for (const a of cycle) byNode.set(a.node, [...(byNode.get(a.node) ?? []), a]);
    const found = new Map<string, CycleEntry>();
    try {
      await Promise.all([...byNode].map(async ([node, arcs]) => {
        const generation = arcs[0]!.generation;
        const keys = arcs.map((a) => a.key);
        const answer = node === this.node.node
          ? this.local.check(generation, keys)
          : (await this.peer<{ entries: (CycleEntry | null)[] }>(node, 'check', { generation, keys })).entries;
        answer.forEach((e, i) => {
          if (e !== null) found.set(`${node}/${keys[i]}`, e);
        });
      }));
    } catch {
      return null; // a node that does not answer cannot confirm its edges: nothing is broken (X3)
    }
    const entries = cycle.map((a) => found.get(`${a.node}/${a.key}`) ?? null);
    return entries.every((e) => e !== null) ? (entries as CycleEntry[]) : null;
  }

  private peer<T>(node: string, path: string, body: unknown): Promise<T> {
    return askPeer<T>(this.node, this.secret(), node, path, body);
  }
}

/** X4: the index in `cycle` of the wait to fail. */
export function chooseVictim(cycle: Arc[], owners: Map<string, OwnerInfo>, policy: VictimPolicy): number {
  const score = (a: Arc): number => {
    const o = owners.get(a.from);
    switch (policy) {
      case 'requester':
        return 0;
      case 'youngest':
        return o?.age ?? 0;
      case 'least-locks':
        return o?.locks ?? 0;
      case 'priority':
        return o?.priority ?? 0;
    }
  };
  let best = 0;
  for (let i = 1; i < cycle.length; i++) {
    const a = cycle[i]!;
    const b = cycle[best]!;
    const d = score(a) - score(b);
    if (d < 0 || (d === 0 && a.age < b.age)) best = i;
  }
  return best;
}
