/** `/api/grace`: the grace state for viewers, and lifting it for admins (recovery.ts runs grace itself). */

import express from 'express';
import type { LockManager } from '../src/index.js';
import { Auth, type Principal } from './auth.js';
import { presentedToken } from './page-cookie.js';
import { obj } from './validate.js';

const noQuery = obj({});

/** GET /api/grace (viewer): the grace state; POST /api/grace/lift (admin): end it now. */
export function graceRouter(lm: LockManager, auth: Auth, log: (event: string, fields: Record<string, unknown>) => void): express.Router {
  const r = express.Router();
  const who = (req: express.Request, action: 'read' | 'admin'): Principal => {
    const p = auth.identify(presentedToken(req.headers));
    Auth.require(p, action);
    return p;
  };
  r.get('/api/grace', (req, res) => {
    who(req, 'read');
    noQuery({ ...(req.query as Record<string, unknown>) }, 'query');
    res.json(lm.grace.state());
  });
  r.post('/api/grace/lift', (req, res) => {
    const p = who(req, 'admin');
    if (req.body !== undefined) obj({})(req.body, 'body');
    const was = lm.grace.active;
    lm.liftGrace();
    log('grace-lifted', { by: p.name, was });
    res.json(lm.grace.state());
  });
  return r;
}
