/**
 * The cluster's Prometheus metrics, on a node's registry beside the
 * server's (metrics.ts): membership, the view's generation, the grace
 * record, and counts of what failovers and handovers did. Read at scrape
 * time from the binding; no label but the bounded `reason`.
 */

import { Counter, Gauge, type Registry } from 'prom-client';
import type { ClusterBinding } from './binding.js';

export function clusterMetrics(cluster: ClusterBinding, registers: Registry[]): void {
  const node = (): ClusterBinding['node'] => cluster.node;
  new Gauge({
    name: 'lockscope_cluster_member', help: '1 while this node is a member that may grant (its lease renewed in time), 0 while joining or fenced', registers,
    collect() {
      this.set(node()?.membership.mayGrant() === true ? 1 : 0);
    },
  });
  new Gauge({
    name: 'lockscope_cluster_members', help: 'Members in the membership view this node acts on', registers,
    collect() {
      this.set(node()?.view.members.length ?? 0);
    },
  });
  new Gauge({
    name: 'lockscope_cluster_generation', help: 'Generation (etcd revision) of the membership view this node acts on', registers,
    collect() {
      this.set(Number(node()?.view.generation ?? 0));
    },
  });
  new Gauge({
    name: 'lockscope_cluster_grace_active', help: '1 while the cluster-wide grace is in force (remastered resources refuse new locks)', registers,
    collect() {
      this.set((node()?.graceRecord.recovery ?? 0) !== 0 ? 1 : 0);
    },
  });
  new Gauge({
    name: 'lockscope_cluster_grace_need', help: 'Members of the grace record that still need to recover clients', registers,
    collect() {
      this.set(Object.values(node()?.graceRecord.nodes ?? {}).filter((n) => n.need).length);
    },
  });
  const counter = (name: string, help: string, read: () => number): void => {
    let counted = 0;
    new Counter({
      name, help, registers,
      collect() {
        const n = read();
        this.inc(n - counted);
        counted = n;
      },
    });
  };
  const s = cluster.stats;
  counter('lockscope_cluster_views_total', 'Membership views this node adopted', () => s.views);
  counter('lockscope_cluster_failovers_total', 'Views this node adopted in which a member had left (its share remastered on the survivors)', () => s.failovers);
  counter('lockscope_cluster_fenced_total', 'Times this node fenced itself (its lease could not be renewed in time)', () => s.fenced);
  counter('lockscope_cluster_resources_handed_over_total', 'Resources with locks or waits this node stopped mastering (their holders reclaim on the new master)', () => s.handedOver);
  counter('lockscope_cluster_reclaims_total', 'Locks reclaimed on this node after a failover or handover', () => s.reclaims);
}
