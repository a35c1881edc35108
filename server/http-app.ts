/**
 * The HTTP side of the server: express with the dashboard files, the dump
 * and grace APIs, the REST API and /metrics. server.ts builds it on the
 * first HTTP request, not at start-up: loading express and these routes is
 * CPU a restarted server would otherwise spend before it listens, while
 * every client waits to reclaim, and the lock protocol (socket.io's
 * WebSocket upgrades) never goes through it.
 */

import type { RequestListener } from 'node:http';
import express from 'express';
import type { HangDumper } from '../collectors/dumper.js';
import type { LockManager } from '../src/index.js';
import type { Auth } from './auth.js';
import { dumpsRouter } from './dashboard-api.js';
import { pageSessionRouter } from './page-session.js';
import { graceRouter } from './grace-api.js';
import { serverLimits } from './limits.js';
import type { ServerMetrics } from './metrics.js';
import type { SessionSummary } from './protocol.js';
import { errorMiddleware, restRouter } from './rest.js';
import { defaultWebDir, staticRouter } from './static.js';

export interface HttpAppContext {
  lm: LockManager;
  auth: Auth;
  metrics: ServerMetrics;
  dumper: HangDumper | null;
  /** The built dashboard; null serves none; undefined the default (dist/web). */
  webDir: string | null | undefined;
  sessions(): SessionSummary[];
  log(event: string, fields: Record<string, unknown>): void;
  internalError(err: unknown): void;
}

export function httpApp(ctx: HttpAppContext): RequestListener {
  const { lm, auth, log, internalError } = ctx;
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: serverLimits.httpBodyBytesMax, strict: true }));
  if (ctx.webDir !== null) app.use(staticRouter(ctx.webDir ?? defaultWebDir()));
  app.use(pageSessionRouter(auth));
  app.use(dumpsRouter(ctx.dumper, auth, log));
  app.use(graceRouter(lm, auth, log));
  app.use(restRouter({ lm, auth, metrics: ctx.metrics, sessions: ctx.sessions, log, internalError }));
  app.use(errorMiddleware({ internalError }));
  return app;
}
