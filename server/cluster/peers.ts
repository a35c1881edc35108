/**
 * Node-to-node calls: what the cluster's deadlock detector asks of every
 * member (detector.ts), over HTTP to the member's advertised URL.
 *
 * P1. A peer proves it is one with the cluster's peer secret, a random value
 *     created once in etcd (`peer`, create-if-absent) and read by every node
 *     as it joins. Whoever can read the cluster's etcd keys can already
 *     rewrite its view and grace record, so the secret gives nobody a power
 *     they did not have. It is compared in constant time, and never logged.
 * P2. Every call has a deadline (`PEER_CALL_TIMEOUT_MS`): a node that does
 *     not answer in time is left out of the pass that asked it, never waited
 *     for.
 * P3. Peer routes (peer-routes.ts, loaded with the HTTP side) parse their own bodies, bounded by `peerBodyBytesMax`
 *     (a cycle with its stacks is larger than any client's REST request),
 *     and are checked like every input: a bad body is EINVAL and changes
 *     nothing.
 */

import { randomBytes } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { LockError, type CycleEntry } from '../../src/index.js';
import { etcdCall } from './etcd.js';
import { clusterLimits, PEER_CALL_TIMEOUT_MS } from './limits.js';
import type { LocksQuery, ViewKind } from '../views.js';
import type { NodeState } from './dumps.js';
import type { PeerWaits } from './shapes.js';

export const PEER_HEADER = 'x-lockscope-peer';

/** P1: the cluster's peer secret, made by the first node that needs it. */
export async function loadPeerSecret(etcd: Etcd3, key: string): Promise<string> {
  const fresh = randomBytes(32).toString('hex');
  const res = await etcdCall('read the peer secret', () => etcd.if(key, 'Create', '==', 0).then(etcd.put(key).value(fresh)).else(etcd.get(key)).commit());
  if (res.succeeded) return fresh;
  const kv = res.responses[0]?.response_range?.kvs[0];
  if (kv === undefined) throw new LockError('EIO', 'the cluster peer secret vanished from etcd');
  return kv.value.toString();
}

/** An edge explained for a hang report: the cycle entry, and the blocking owner's client and whether it is connected here. */
export type ExplainedEdge = CycleEntry & { client: string | null; connected: boolean | null };

/** What a node answers its peers (the binding provides it). */
export interface PeerHandler {
  waits(): PeerWaits;
  explain(keys: string[]): (ExplainedEdge | null)[];
  check(generation: string, keys: string[]): (CycleEntry | null)[];
  breakAt(generation: string, key: string, cycle: CycleEntry[], policy: string, nodes: string[]): boolean;
  /** This node's part of a cluster dump (dumps.ts, K1). */
  state(): Promise<NodeState>;
  /** One of this node's REST views, for the cluster-wide view (view-api.ts). */
  read(what: ViewKind, query: LocksQuery): Promise<unknown>;
}

/** P2: one call to a peer, with the deadline; rejects with EIO naming the node when it fails or answers an error. */
export async function callPeer<T>(advertise: string, node: string, path: string, secret: string, body: unknown, signal: AbortSignal = AbortSignal.timeout(PEER_CALL_TIMEOUT_MS)): Promise<T> {
  const res = await post(advertise, node, path, secret, body, signal);
  const answer = (await res.json().catch(() => null)) as T | null;
  if (answer === null) throw new LockError('EIO', `node ${node} answered ${path} with no JSON`, { node });
  return answer;
}

/** P2, for an answer that is bytes (a node's part of a dump, dumps.ts). */
export async function callPeerBytes(advertise: string, node: string, path: string, secret: string, body: unknown, signal: AbortSignal): Promise<Buffer> {
  const res = await post(advertise, node, path, secret, body, signal);
  try {
    return Buffer.from(await res.arrayBuffer());
  } catch (err) {
    throw new LockError('EIO', `node ${node} did not finish its answer to ${path} (${(err as Error).message})`, { node });
  }
}

async function post(advertise: string, node: string, path: string, secret: string, body: unknown, signal: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(`${advertise}/api/cluster/peer/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [PEER_HEADER]: secret },
      body: JSON.stringify(body),
      signal,
    });
  } catch (err) {
    throw new LockError('EIO', `node ${node} did not answer ${path} (${(err as Error).message})`, { node });
  }
  if (!res.ok) {
    const answer = (await res.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
    throw new LockError('EIO', `node ${node} refused ${path}: ${answer?.error?.code ?? res.status} ${answer?.error?.message ?? ''}`.trim(), { node });
  }
  return res;
}
