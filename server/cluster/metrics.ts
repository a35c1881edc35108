/**
 * The cluster's Prometheus metrics, on a node's registry beside the
 * server's (metrics.ts): membership, the view's generation, the grace
 * record, and counts of what failovers and handovers did. Read at scrape
 * time from the binding; no label but the bounded `reason`.
 */

import { Counter, Gauge, type Registry } from 'prom-client';
import type { ClusterBinding } from './binding.js';
import type { DetectorStatus } from './shapes.js';

export function clusterMetrics(cluster: ClusterBinding, registers: Registry[]): void {
  membershipGauges(cluster, registers);
  const s = cluster.stats;
  const counter = scrapedCounter(registers);
  counter('lockscope_cluster_views_total', 'Membership views this node adopted', () => s.views);
  counter('lockscope_cluster_failovers_total', 'Views this node adopted in which a member had left (its share remastered on the survivors)', () => s.failovers);
  counter('lockscope_cluster_fenced_total', 'Times this node fenced itself (its lease could not be renewed in time)', () => s.fenced);
  counter('lockscope_cluster_resources_handed_over_total', 'Resources with locks or waits this node stopped mastering (their holders reclaim on the new master)', () => s.handedOver);
  counter('lockscope_cluster_reclaims_total', 'Locks reclaimed on this node after a failover or handover', () => s.reclaims);
  detectorMetrics(cluster, registers, counter);
}

/** A counter that follows a count kept elsewhere (read at scrape time; it never goes down). */
type ScrapedCounter = (name: string, help: string, read: () => number) => void;

function scrapedCounter(registers: Registry[]): ScrapedCounter {
  return (name, help, read) => {
    let counted = 0;
    new Counter({
      name, help, registers,
      collect() {
        const n = read();
        if (n > counted) this.inc(n - counted);
        counted = n;
      },
    });
  };
}

/** Membership, the view's size and generation, the grace record. */
function membershipGauges(cluster: ClusterBinding, registers: Registry[]): void {
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
}

/** The deadlock detector across nodes (detector.ts): counted on the node that ran the passes. */
function detectorMetrics(cluster: ClusterBinding, registers: Registry[], counter: ScrapedCounter): void {
  const node = (): ClusterBinding['node'] => cluster.node;
  const d = (): DetectorStatus | null => cluster.detectorStatus();
  new Gauge({
    name: 'lockscope_cluster_detector_leader', help: '1 while this node is the one elected to look for deadlocks across nodes', registers,
    collect() {
      this.set(d()?.leader === node()?.node && node() !== null ? 1 : 0);
    },
  });
  new Gauge({
    name: 'lockscope_cluster_detector_missing', help: 'Members that did not answer the last pass of this node\'s detector in time (their waits were not seen)', registers,
    collect() {
      this.set(d()?.missing.length ?? 0);
    },
  });
  new Gauge({
    name: 'lockscope_cluster_detector_pass_seconds', help: 'Duration of the last pass of this node\'s detector (gather, search, checks)', registers,
    collect() {
      this.set((d()?.lastPassMs ?? 0) / 1000);
    },
  });
  counter('lockscope_cluster_detector_passes_total', 'Passes of the deadlock detector across nodes run on this node', () => d()?.passes ?? 0);
  counter('lockscope_cluster_deadlocks_total', 'Deadlocks across nodes this node\'s detector broke (a victim failed EDEADLK)', () => d()?.victims ?? 0);
  counter('lockscope_cluster_detector_false_positives_total', 'Cycles across nodes found in gathered edges that no longer held when checked (nothing broken)', () => d()?.falsePositives ?? 0);
}
