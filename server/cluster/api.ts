/**
 * `GET /api/cluster` (viewer): the members with weight, address, adopted
 * generation and state, the grace record, the token mark, and with
 * `?domain=&resource=` the resource's master, and this node's own recovery
 * (whom it still waits for while it holds `need`). A single node answers
 * `{ cluster: null }`.
 */

import express from 'express';
import { invalid } from '../../src/errors.js';
import { LockError } from '../../src/index.js';
import { allow } from '../allow.js';
import type { Auth } from '../auth.js';
import { obj, oneOf, str } from '../validate.js';
import { VIEWS } from '../views.js';
import { clusterView } from './view.js';
import type { ClusterBinding } from './binding.js';

const query = obj({ domain: str(128), resource: str(256) }, ['domain', 'resource']);
/** /api/locks's filters, and `nodes`: the members to ask (comma-separated; all of them by default). */
const viewQuery = obj(
  { domain: str(), resource: str(), owner: str(), state: oneOf(['granted', 'converting', 'waiting'] as const), limit: str(12), nodes: str(1024) },
  ['domain', 'resource', 'owner', 'state', 'limit', 'nodes'],
);

export function clusterRouter(cluster: ClusterBinding | null, auth: Auth): express.Router {
  const r = express.Router();
  r.get('/api/cluster', allow(auth, 'read'), (req, res, next) => {
    const q = query({ ...(req.query as Record<string, unknown>) }, 'query');
    if ((q.domain === undefined) !== (q.resource === undefined)) throw invalid('query', 'both domain and resource, or neither');
    const node = cluster?.node ?? null;
    if (node === null) {
      res.json({ cluster: null, joining: cluster !== null });
      return;
    }
    const ask = q.domain !== undefined && q.resource !== undefined ? { domain: q.domain, resource: q.resource } : undefined;
    node.status(ask).then((s) => res.json({ ...s, node: node.node, recovery: node.recovery(), detector: cluster!.detectorStatus() }), next);
  });
  // One view of the whole cluster: each member's rows, asked with a deadline, tagged with the member (V1).
  r.get('/api/cluster/view/:what', allow(auth, 'read'), (req, res, next) => {
    const what = oneOf(VIEWS)(req.params.what, 'view');
    const { nodes: only, ...rest } = viewQuery({ ...(req.query as Record<string, unknown>) }, 'query');
    if (what !== 'locks' && Object.keys(rest).length > 0) throw invalid('query', `only nodes (the ${what} view takes no other filter)`);
    const node = cluster?.node ?? null;
    const handler = cluster?.peerHandler() ?? null;
    if (node === null || handler === null) throw new LockError('ENOENT', 'not a cluster member (GET /api/cluster says why): the view of this node is at /api/' + what);
    clusterView(node, handler, cluster!.secret, what, rest, only?.split(',')).then((v) => res.json(v), next);
  });
  return r;
}
