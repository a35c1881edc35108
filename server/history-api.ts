/**
 * The history over HTTP, for viewers: `GET /api/history` (the kept window
 * and its markers) and `GET /api/history/moment?at=<ms>` (the state at a
 * moment: a keyframe and the entries up to it, sent as the JSON it was
 * stored as, never parsed again on the server).
 */

import express from 'express';
import { LockError } from '../src/index.js';
import { allow } from './allow.js';
import type { Auth } from './auth.js';
import type { History } from './history.js';
import { obj, str } from './validate.js';

const momentQuery = obj({ at: str(16) });
const topQuery = obj({ from: str(16), to: str(16), n: str(4) }, ['from', 'to', 'n']);
const TOP_MAX = 50;
const millis = (v: string | undefined, name: string, fallback: number): number => {
  if (v === undefined) return fallback;
  if (!/^[0-9]{1,16}$/.test(v)) throw new LockError('EINVAL', `query.${name}: wall-clock milliseconds`);
  return Number(v);
};

export function historyRouter(history: History | null, auth: Auth): express.Router {
  const r = express.Router();
  const read = allow(auth, 'read');
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
  // The top lists over a range of the kept window (default: all of it), at most TOP_MAX entries each.
  r.get('/api/history/top', read, (req, res) => {
    const q = topQuery({ ...(req.query as Record<string, unknown>) }, 'query');
    const h = need();
    const n = q.n === undefined ? 10 : Number(q.n);
    if (!Number.isInteger(n) || n < 1 || n > TOP_MAX) throw new LockError('EINVAL', `query.n: 1 to ${TOP_MAX}`);
    res.json(h.top(millis(q.from, 'from', 0), millis(q.to, 'to', Date.now()), n));
  });
  return r;
}
