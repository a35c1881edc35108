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
 * P3. Peer routes parse their own bodies, bounded by `peerBodyBytesMax`
 *     (a cycle with its stacks is larger than any client's REST request),
 *     and are checked like every input: a bad body is EINVAL and changes
 *     nothing.
 */

import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import express from 'express';
import { LockError, type CycleEntry } from '../../src/index.js';
import { array, bool, obj, str, type Schema } from '../validate.js';
import { etcdCall } from './etcd.js';
import { clusterLimits, PEER_CALL_TIMEOUT_MS } from './limits.js';
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

/** What a node answers its peers (the binding provides it). */
export interface PeerHandler {
  waits(): PeerWaits;
  check(generation: string, keys: string[]): (CycleEntry | null)[];
  breakAt(generation: string, key: string, cycle: CycleEntry[], policy: string, nodes: string[]): boolean;
}

const generation = str(20);
const key = str(128);
const nullable = <T>(s: Schema<T>): Schema<T | null> => (v, path) => (v === null ? null : s(v, path));
const stack = nullable(str(64 * 1024));
const entry: Schema<CycleEntry> = obj({
  owner: str(), domain: str(), resource: str(1024), held: nullable(str(8)), wanted: str(8), stack, node: str(),
  blocker: obj({ owner: str(), mode: str(8), hard: bool, stack }),
}, ['blocker', 'node']);
const checkBody = obj({ generation, keys: array(key, clusterLimits.cycleStepsMax) });
const breakBody = obj({
  generation, key, cycle: array(entry, clusterLimits.cycleStepsMax), policy: str(32), nodes: array(str(), clusterLimits.membersMax),
});

/** P1, P3: the routes a node answers its peers on (mounted before the server's own body parser). */
export function peerRouter(secret: () => string | null, handler: () => PeerHandler | null): express.Router {
  const r = express.Router();
  const json = express.json({ limit: clusterLimits.peerBodyBytesMax, strict: true });
  const admit: express.RequestHandler = (req, _res, next) => {
    const mine = secret();
    const theirs = req.headers[PEER_HEADER];
    if (mine === null || typeof theirs !== 'string' || !sameSecret(mine, theirs)) {
      next(new LockError('EPERM', 'not a peer of this cluster node (missing or wrong peer secret)'));
      return;
    }
    if (handler() === null) {
      next(new LockError('EGRACE', 'this node is joining its cluster: retry shortly'));
      return;
    }
    next();
  };
  r.post('/api/cluster/peer/waits', admit, (_req, res) => {
    res.json(handler()!.waits());
  });
  r.post('/api/cluster/peer/check', admit, json, (req, res) => {
    const b = checkBody(req.body, 'body');
    res.json({ entries: handler()!.check(b.generation, b.keys) });
  });
  r.post('/api/cluster/peer/break', admit, json, (req, res) => {
    const b = breakBody(req.body, 'body');
    res.json({ broken: handler()!.breakAt(b.generation, b.key, b.cycle, b.policy, b.nodes) });
  });
  return r;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** P2: one call to a peer, with the deadline; rejects with EIO naming the node when it fails or answers an error. */
export async function callPeer<T>(advertise: string, node: string, path: string, secret: string, body: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${advertise}/api/cluster/peer/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [PEER_HEADER]: secret },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(PEER_CALL_TIMEOUT_MS),
    });
  } catch (err) {
    throw new LockError('EIO', `node ${node} did not answer ${path} (${(err as Error).message})`, { node });
  }
  const answer = (await res.json().catch(() => null)) as (T & { error?: { code?: string; message?: string } }) | null;
  if (!res.ok || answer === null) {
    throw new LockError('EIO', `node ${node} refused ${path}: ${answer?.error?.code ?? res.status} ${answer?.error?.message ?? ''}`.trim(), { node });
  }
  return answer;
}

