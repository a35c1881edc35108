/**
 * What an operator asks of a cluster: who is in it, under which generation,
 * which view each member has adopted, the grace record, the token mark, and
 * who masters a given resource. Read straight from etcd (`lockscope cluster
 * status --etcd URL`), or from a node (`GET /api/cluster`, the same shape).
 */

import type { Etcd3 } from 'etcd3';
import { Rendezvous, resourceKey } from '../../src/rendezvous.js';
import { escapeText } from './text.js';
import { clusterKeys, etcdCall } from './etcd.js';
import { EMPTY_RECORD, inGrace, type GraceRecord } from './grace-record.js';
import type { LiveMember, MemberRecord } from './membership.js';
import type { ClusterStatus, DetectorStatus, MemberStatus, NodeRecovery } from './shapes.js';

export type { ClusterStatus, MemberStatus };

/** Puts a status together from what a reader saw (etcd, or a node's own state). */
export function buildStatus(
  cluster: string,
  view: { generation: string; members: MemberRecord[] },
  live: ReadonlyMap<string, LiveMember>,
  grace: GraceRecord,
  tokenMark: number,
  query?: { domain: string; resource: string },
): ClusterStatus {
  const names = new Set([...view.members.map((m) => m.node), ...live.keys()]);
  const members: MemberStatus[] = [...names].sort().map((node) => {
    const inView = view.members.find((m) => m.node === node);
    const l = live.get(node);
    const base = inView ?? l!;
    return { node, weight: base.weight, advertise: base.advertise, inView: inView !== undefined, live: l !== undefined, adopted: l?.adopted ?? '0' };
  });
  const status: ClusterStatus = { cluster, generation: view.generation, members, grace: { ...grace, inGrace: inGrace(grace) }, tokenMark };
  if (query) {
    const ring = new Rendezvous(view.members.map((m) => ({ name: m.node, weight: m.weight })));
    status.master = { ...query, node: ring.master(resourceKey(query.domain, query.resource)) };
  }
  return status;
}

/** The status as etcd holds it, without any node. */
export async function readClusterStatus(etcd: Etcd3, cluster: string, query?: { domain: string; resource: string }): Promise<ClusterStatus> {
  const keys = clusterKeys(cluster);
  const [members, view, grace, tokens] = await Promise.all([
    etcdCall('list members', () => etcd.getAll().prefix(keys.members).exec()),
    etcdCall('read the view', () => etcd.get(keys.view).exec()),
    etcdCall('read the grace record', () => etcd.get(keys.grace).exec()),
    etcdCall('read the token mark', () => etcd.get(`${keys.prefix}tokens`).exec()),
  ]);
  const live = new Map<string, LiveMember>();
  for (const kv of members.kvs) {
    try {
      const m = JSON.parse(kv.value.toString()) as LiveMember;
      live.set(m.node, { node: m.node, weight: m.weight, advertise: m.advertise, adopted: m.adopted ?? '0' });
    } catch {
      // not a member record: not shown
    }
  }
  const v = view.kvs[0];
  const viewValue = v ? { generation: v.mod_revision, members: (JSON.parse(v.value.toString()) as { members: MemberRecord[] }).members } : { generation: '0', members: [] };
  const g = grace.kvs[0];
  const record = g ? (JSON.parse(g.value.toString()) as GraceRecord) : EMPTY_RECORD;
  const mark = tokens.kvs[0] ? Number(tokens.kvs[0].value.toString()) : 0;
  return buildStatus(cluster, viewValue, live, record, mark, query);
}

/** For a person: one line per member, then the grace record. */
export function formatClusterStatus(s: ClusterStatus & { node?: string; recovery?: NodeRecovery; detector?: DetectorStatus | null }): string {
  const lines: string[] = [];
  const viewSize = s.members.filter((m) => m.inView).length;
  lines.push(`cluster ${escapeText(s.cluster)}: ${viewSize} member${viewSize === 1 ? '' : 's'}, generation ${s.generation}`);
  const graceNodes = Object.entries(s.grace.nodes);
  lines.push(s.grace.inGrace
    ? `grace: IN FORCE (recovering epoch ${s.grace.recovery}, current ${s.grace.current}); need: ${graceNodes.filter(([, f]) => f.need).map(([n]) => escapeText(n)).join(', ') || 'none'}`
    : `grace: none (epoch ${s.grace.current})`);
  lines.push(`fencing tokens reserved up to ${s.tokenMark}`);
  const d = s.detector;
  if (d != null) {
    const leader = d.leader === null ? 'none elected' : `run by ${escapeText(d.leader)}`;
    const counts = d.passes === 0 ? '' : `; here: ${d.passes} passes, ${d.cycles} cycles, ${d.victims} broken, ${d.falsePositives} dissolved before the check, last pass ${d.lastPassMs} ms`;
    const missing = d.missing.length === 0 ? '' : `; did not answer the last pass: ${d.missing.map(escapeText).join(', ')}`;
    lines.push(`deadlocks across nodes: ${leader}${counts}${missing}`);
  }
  lines.push('');
  lines.push(`${'node'.padEnd(20)}${'weight'.padStart(7)}  ${'state'.padEnd(22)}${'adopted'.padStart(10)}  address`);
  for (const m of s.members) {
    const flags = s.grace.nodes[m.node];
    const state = !m.live ? 'gone (leaving view)' : !m.inView ? 'joining' : m.adopted === s.generation ? 'member' : 'member (adopting)';
    const g = flags ? `${flags.need ? ' need' : ''}${flags.enforcing ? ' enforcing' : ''}` : '';
    lines.push(`${escapeText(m.node).padEnd(20)}${String(m.weight).padStart(7)}  ${(state + g).padEnd(22)}${m.adopted.padStart(10)}  ${escapeText(m.advertise)}`);
  }
  const r = s.recovery;
  if (r !== undefined && s.node !== undefined && r.since !== null) {
    lines.push('');
    const who = r.waitingFor.map(escapeText).join(', ') + (r.waiting > r.waitingFor.length ? `, … (${r.waiting - r.waitingFor.length} more)` : '');
    lines.push(`${escapeText(s.node)} is recovering since ${new Date(r.since).toISOString()}${r.ready ? '' : ' (not ready: reading whom to wait for, or before its barrier)'}`);
    lines.push(`  waiting for ${r.waiting} client${r.waiting === 1 ? '' : 's'} to reclaim${r.waiting > 0 ? `: ${who}` : ''}`);
    if (r.handoversFrom.length > 0) lines.push(`  waiting for the handover lists of ${r.handoversFrom.map(escapeText).join(', ')}`);
    if (r.boundAt !== null) lines.push(`  lifted anyway at ${new Date(r.boundAt).toISOString()} (the grace's bound)`);
  }
  if (s.master) {
    lines.push('');
    lines.push(`${escapeText(s.master.domain)}/${escapeText(s.master.resource)} is mastered by ${s.master.node === null ? 'nobody (no members)' : escapeText(s.master.node)}`);
  }
  return `${lines.join('\n')}\n`;
}
