/**
 * The history over HTTP, for viewers: `GET /api/history` (the kept window
 * and its markers) and `GET /api/history/moment?at=<ms>` (the state at a
 * moment: a keyframe and the entries up to it, sent as the JSON it was
 * stored as, never parsed again on the server).
 */

import express, { type NextFunction, type Request, type Response } from 'express';
import { LockError } from '../src/index.js';
import { Auth, bearer } from './auth.js';
import type { History } from './history.js';
import { obj, str } from './validate.js';

const momentQuery = obj({ at: str(16) });

export function historyRouter(history: History | null, auth: Auth): express.Router {
  const r = express.Router();
  const read = (req: Request, _res: Response, next: NextFunction): void => {
    Auth.require(auth.identify(bearer(req.get('authorization'))), 'read');
    next();
  };
  const need = (): History => {
    if (history === null || !history.enabled) throw new LockError('ENOENT', 'this server keeps no history (historyBytesMax is 0)');
    return history;
  };
  r.get('/api/history', read, (req, res) => {
    obj({})({ ...(req.query as Record<string, unknown>) }, 'query');
    res.json(need().index());
  });
  r.get('/api/history/moment', read, (req, res) => {
    const { at } = momentQuery({ ...(req.query as Record<string, unknown>) }, 'query');
    if (!/^[0-9]{1,16}$/.test(at)) throw new LockError('EINVAL', 'query.at: wall-clock milliseconds');
    const json = need().momentJson(Number(at));
    if (json === null) throw new LockError('ENOENT', `no history kept at ${at} (see GET /api/history for the kept window)`);
    res.type('application/json').send(json);
  });
  return r;
}
