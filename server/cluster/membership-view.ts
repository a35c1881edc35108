/**
 * The membership view in etcd (membership.ts, rule M5): the member keys'
 * records and the view key's value parsed and compared, and one round of
 * reconciling the view with the live members: list the member keys, read
 * the view, and when they disagree rewrite the view by compare-and-swap on
 * its mod revision (or create it when there is none). Concurrent rounds on
 * several nodes are serialized by the CAS and converge on the live set.
 *
 * Precondition: a round's caller keeps at most one round running at a time
 * (Membership.reconcile).
 */

import type { Etcd3 } from 'etcd3';
import { etcdCall, type ClusterKeys } from './etcd.js';
import { clusterLimits } from './limits.js';
import type { MemberRecord } from './shapes.js';

/** A live member's key: its record, and the newest view generation it has adopted (rule M7). */
export interface LiveMember extends MemberRecord {
  adopted: string;
}

export interface View {
  /** The etcd revision at which this view was written (decimal). Increases with every change. */
  generation: string;
  /** Live members, sorted by name. */
  members: MemberRecord[];
}

export function sameMembers(a: MemberRecord[], b: MemberRecord[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.node !== y.node || x.weight !== y.weight || x.advertise !== y.advertise || x.incarnation !== y.incarnation) return false;
  }
  return true;
}

export function parseMember(value: Buffer): LiveMember | null {
  try {
    const v = JSON.parse(value.toString()) as LiveMember;
    if (typeof v.node !== 'string' || typeof v.weight !== 'number' || typeof v.advertise !== 'string') return null;
    return {
      node: v.node, weight: v.weight, advertise: v.advertise, adopted: typeof v.adopted === 'string' ? v.adopted : '0',
      ...(typeof v.incarnation === 'string' ? { incarnation: v.incarnation } : {}),
    };
  } catch {
    return null;
  }
}

/** The members a view key's value lists; null when it is not JSON. */
export function parseViewMembers(value: Buffer): MemberRecord[] | null {
  try {
    return (JSON.parse(value.toString()) as { members: MemberRecord[] }).members;
  } catch {
    return null;
  }
}

/** What a round tells its caller as it goes. */
export interface ReconcileHost {
  /** The live member keys just listed (sorted by name, at most membersMax). */
  setLive(records: LiveMember[]): void;
  /** A view read or written, with its mod revision. */
  accept(value: Buffer, modRevision: string): void;
  /** The view the caller holds now (after `accept`). */
  current(): View;
}

/** Rule M5: make the view the sorted live members, by CAS on its mod revision; gives up after casAttemptsMax lost races. */
export async function reconcileView(etcd: Etcd3, keys: ClusterKeys, host: ReconcileHost): Promise<void> {
  for (let attempt = 0; attempt < clusterLimits.casAttemptsMax; attempt++) {
    const live = await etcdCall('list members', () => etcd.getAll().prefix(keys.members).exec());
    const records = live.kvs.map((kv) => parseMember(kv.value)).filter((m): m is LiveMember => m !== null)
      .sort((a, b) => (a.node < b.node ? -1 : 1)).slice(0, clusterLimits.membersMax);
    host.setLive(records);
    const members: MemberRecord[] = records.map((r) => ({
      node: r.node, weight: r.weight, advertise: r.advertise, ...(r.incarnation === undefined ? {} : { incarnation: r.incarnation }),
    }));
    const viewRes = await etcdCall('read the view', () => etcd.get(keys.view).exec());
    const kv = viewRes.kvs[0];
    if (kv) host.accept(kv.value, kv.mod_revision);
    if (kv && sameMembers(host.current().members, members)) return;
    const guard = kv
      ? etcd.if(keys.view, 'Mod', '==', kv.mod_revision)
      : etcd.if(keys.view, 'Create', '==', 0);
    const res = await etcdCall('write the view', () => guard.then(etcd.put(keys.view).value(JSON.stringify({ members }))).commit());
    if (res.succeeded) {
      const written = res.responses[0]?.response_put?.header?.revision ?? res.header.revision;
      host.accept(Buffer.from(JSON.stringify({ members })), String(written));
      return;
    }
  }
}
