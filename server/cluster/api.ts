/**
 * `GET /api/cluster` (viewer): the members with weight, address, adopted
 * generation and state, the grace record, the token mark, and with
 * `?domain=&resource=` the resource's master, and this node's own recovery
 * (whom it still waits for while it holds `need`). A single node answers
 * `{ cluster: null }`.
 */

import express from 'express';
import { invalid } from '../../src/errors.js';
import { allow } from '../allow.js';
import type { Auth } from '../auth.js';
import { obj, str } from '../validate.js';
import type { ClusterBinding } from './binding.js';

const query = obj({ domain: str(128), resource: str(256) }, ['domain', 'resource']);

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
  return r;
}
