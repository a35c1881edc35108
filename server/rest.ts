/**
 * The HTTP API: health, metrics, the lock state for viewers, operator
 * actions for admins, and the Grafana Node Graph view. Every query and body
 * is checked (unknown keys are EINVAL); every failure goes through the one
 * error middleware at the end, which maps the LockError code to a status.
 */

import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { LockError, type LockManager, type Snapshot } from '../src/index.js';
import { allow as allowRole, principalOf } from './allow.js';
import type { Action, Auth } from './auth.js';
import { statusOf, toWireError } from './errors.js';
import { GRAFANA_FIELDS, grafanaData, waitForGraph } from './graph.js';
import { serverLimits } from './limits.js';
import type { ServerMetrics } from './metrics.js';
import type { SessionSummary } from './protocol.js';
import type { SnapshotReads } from './snapshot-reads.js';
import { localView, locksQuery } from './views.js';
import { int, obj, oneOf, str, type Schema } from './validate.js';

export interface RestContext {
  lm: LockManager;
  /** Every read of the lock state goes through here (snapshot-reads.ts: bounded, shared). */
  reads: SnapshotReads;
  auth: Auth;
  metrics: ServerMetrics;
  sessions(): SessionSummary[];
  log(event: string, fields: Record<string, unknown>): void;
  internalError(err: unknown): void;
}

const noQuery = obj({});
const posixBreakBody = obj({ domain: str(), resource: str(), owner: int(1, Number.MAX_SAFE_INTEGER) });
const idParam = (v: unknown): number => int(1, Number.MAX_SAFE_INTEGER)(/^[0-9]{1,16}$/.test(String(v)) ? Number(v) : NaN, 'id');

function query<T>(req: Request, schema: Schema<T>): T {
  return schema({ ...(req.query as Record<string, unknown>) }, 'query');
}

export function restRouter(ctx: RestContext): express.Router {
  const r = express.Router();
  const allow = (action: Action): RequestHandler => allowRole(ctx.auth, action);

  r.get('/healthz', (req, res) => {
    query(req, noQuery);
    // ok: the server answers. storage (with --state-dir): writable false while new clients' requests are refused EIO.
    const storage = ctx.metrics.storage();
    res.json({ ok: true, node: ctx.lm.node, ...(storage === null ? {} : { storage }) });
  });
  r.get('/metrics', allow('read'), async (req, res) => {
    query(req, noQuery);
    res.type(ctx.metrics.contentType).send(await ctx.metrics.metrics());
  });
  r.get('/api/snapshot', allow('read'), (req, res) => {
    query(req, noQuery);
    res.type('application/json').send(ctx.reads.json());
  });
  // The views of this node's state, answered as a peer's cluster view answers them (views.ts).
  const views = { reads: ctx.reads, sessions: ctx.sessions, dumps: async () => [] };
  for (const what of ['locks', 'owners', 'sessions', 'graph', 'deadlocks', 'hangs'] as const) {
    r.get(`/api/${what}`, allow('read'), async (req, res) => {
      const q = query(req, what === 'locks' ? locksQuery : noQuery);
      res.json(await localView(views, what, q));
    });
  }
  r.post('/api/locks/:id/break', allow('admin'), (req, res) => {
    const id = idParam(req.params.id);
    checkEmptyBody(req);
    ctx.lm.breakLock(id);
    ctx.log('lock-broken', { id, by: principalOf(res).name });
    res.json({ ok: true });
  });
  r.post('/api/waits/:id/cancel', allow('admin'), (req, res) => {
    const id = idParam(req.params.id);
    checkEmptyBody(req);
    ctx.lm.cancelWait(id);
    ctx.log('wait-cancelled', { id, by: principalOf(res).name });
    res.json({ ok: true });
  });
  // A posix lock has no id to break by (pieces split and merge): it is named by domain, resource and owner.
  r.post('/api/posix/break', allow('admin'), (req, res) => {
    const body = posixBreakBody(req.body, 'body');
    ctx.lm.breakPosix(body.domain, body.resource, body.owner);
    ctx.log('posix-lock-broken', { ...body, by: principalOf(res).name });
    res.json({ ok: true });
  });
  // The Node Graph API data source sends a query only when a panel's "query string" is filled in; lockscope takes none.
  r.get('/api/grafana/health', allow('read'), (req, res) => {
    query(req, noQuery);
    res.json({ ok: true });
  });
  r.get('/api/grafana/graph/fields', allow('read'), (req, res) => {
    query(req, noQuery);
    res.json(GRAFANA_FIELDS);
  });
  r.get('/api/grafana/graph/data', allow('read'), (req, res) => {
    query(req, noQuery);
    res.json(grafanaData(waitForGraph(ctx.reads.snapshot())));
  });
  r.use((_req, _res, next) => next(new LockError('ENOENT', 'no such endpoint')));
  return r;
}


/** Operator actions take no body; anything but an empty object is a mistake worth refusing. */
function checkEmptyBody(req: Request): void {
  if (req.body !== undefined) obj({})(req.body, 'body');
}

/** The one error middleware: LockError code → status, body `{ error: { code, message, ... } }`. */
export function errorMiddleware(ctx: Pick<RestContext, 'internalError'>) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void => {
    const e = fromHttpError(err);
    if (e === null) {
      res.status(500).json({ error: toWireError(err, ctx.internalError) }); // the one fallback, as on the socket
      return;
    }
    res.status(statusOf(e.code)).json({ error: toWireError(e, ctx.internalError) });
  };
}

/** body-parser's own errors (bad JSON, too large) are input errors. */
function fromHttpError(err: unknown): LockError | null {
  if (err instanceof LockError) return err;
  const status = (err as { status?: unknown; type?: unknown })?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const type = String((err as { type?: unknown }).type ?? 'bad request');
    return new LockError('EINVAL', `the request was refused (${type})`);
  }
  return null;
}
