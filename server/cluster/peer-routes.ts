/**
 * The routes a node answers its peers on (peers.ts says who may call them,
 * P1, and how bodies are bounded, P3). Apart from peers.ts so that express is
 * loaded only with the rest of the HTTP side (http-app.ts), never by the
 * cluster binding at start.
 */

import { timingSafeEqual } from 'node:crypto';
import express from 'express';
import { LockError, type CycleEntry } from '../../src/index.js';
import { array, bool, obj, oneOf, str, type Schema } from '../validate.js';
import { locksQuery, VIEWS } from '../views.js';
import { clusterLimits } from './limits.js';
import { encodeState } from './dumps.js';
import { PEER_HEADER, type PeerHandler } from './peers.js';

const generation = str(20);
const key = str(128);
const nullable = <T>(s: Schema<T>): Schema<T | null> => (v, path) => (v === null ? null : s(v, path));
const stack = nullable(str(64 * 1024));
const entry: Schema<CycleEntry> = obj({
  owner: str(), domain: str(), resource: str(1024), held: nullable(str(8)), wanted: str(8), stack, node: str(),
  blocker: obj({ owner: str(), mode: str(8), hard: bool, stack }),
}, ['blocker', 'node']);
const checkBody = obj({ generation, keys: array(key, clusterLimits.cycleStepsMax) });
const explainBody = obj({ keys: array(key, clusterLimits.chainEdgesMax) });
const readBody = obj({ what: oneOf(VIEWS), query: locksQuery });
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
  r.post('/api/cluster/peer/state', admit, (_req, res, next) => {
    handler()!.state().then((s) => res.type('application/octet-stream').send(encodeState(s)), next);
  });
  r.post('/api/cluster/peer/read', admit, json, (req, res, next) => {
    const b = readBody(req.body, 'body');
    handler()!.read(b.what, b.query).then((rows) => res.json({ rows }), next);
  });
  r.post('/api/cluster/peer/explain', admit, json, (req, res) => {
    const b = explainBody(req.body, 'body');
    res.json({ entries: handler()!.explain(b.keys) });
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
