/**
 * An election through etcd (membership.ts, rule M9; the cluster's deadlock
 * detector is elected this way, detector.ts): a key created only if absent
 * and attached to the winner's lease, so it goes when the winner's lease
 * does, and a dead or fenced winner is replaced within a TTL.
 *
 * Precondition: the caller is a member that may grant now, with its current
 * lease (Membership.campaign checks both); `mayGrant` is asked again after
 * the round trip, so a node that stopped being a member meanwhile never
 * claims the key.
 */

import type { Etcd3, Lease } from 'etcd3';
import { etcdCall } from './etcd.js';

/**
 * Hold `key` for this incarnation (the lease's id) if no one holds it.
 * Resolves with the holder's node name (`node` when it won or already held
 * it), or null when this node is not a member right now.
 */
export async function campaign(etcd: Etcd3, lease: Lease, key: string, node: string, mayGrant: () => boolean): Promise<string | null> {
  const id = String(await etcdCall('read the lease', () => lease.grant()));
  const mine = JSON.stringify({ node, incarnation: id });
  const res = await etcdCall('campaign', () => etcd.if(key, 'Create', '==', 0)
    .then(lease.put(key).value(mine))
    .else(etcd.get(key))
    .commit());
  if (res.succeeded) return mayGrant() ? node : null;
  const kv = res.responses[0]?.response_range?.kvs[0];
  if (kv === undefined) return null; // gone meanwhile: the next round campaigns again
  const holder = JSON.parse(kv.value.toString()) as { node: string; incarnation: string };
  // Our name under an earlier lease (before a fence) is not us: that key goes with its lease.
  if (holder.node === node && holder.incarnation !== id) return null;
  return mayGrant() || holder.node !== node ? holder.node : null;
}
