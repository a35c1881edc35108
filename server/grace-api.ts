/** `/api/grace`: the grace state for viewers, and lifting it for admins (recovery.ts runs grace itself). */

import express from 'express';
import type { LockManager } from '../src/index.js';
import { allow, principalOf } from './allow.js';
import type { Auth } from './auth.js';
import { obj } from './validate.js';

const noQuery = obj({});

/** GET /api/grace (viewer): the grace state; POST /api/grace/lift (admin): end it now. */
export function graceRouter(lm: LockManager, auth: Auth, log: (event: string, fields: Record<string, unknown>) => void): express.Router {
  const r = express.Router();
  r.get('/api/grace', allow(auth, 'read'), (req, res) => {
    noQuery({ ...(req.query as Record<string, unknown>) }, 'query');
    res.json(lm.graceState());
  });
  r.post('/api/grace/lift', allow(auth, 'admin'), (req, res) => {
    const p = principalOf(res);
    if (req.body !== undefined) obj({})(req.body, 'body');
    const was = lm.inGrace;
    lm.liftGrace();
    log('grace-lifted', { by: p.name, was });
    res.json(lm.graceState());
  });
  return r;
}
