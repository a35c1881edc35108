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
import type { LockFilesOptions } from '../collectors/lockfiles/collector.js';
import { lockFilesRouter } from './lockfiles-api.js';
import type { History } from './history.js';
import { historyRouter } from './history-api.js';
import { serverLimits } from './limits.js';
import { openModeRefusal } from './origin.js';
import type { ServerMetrics } from './metrics.js';
import type { SessionSummary } from './protocol.js';
import type { SnapshotReads } from './snapshot-reads.js';
import { errorMiddleware, restRouter } from './rest.js';
import { defaultWebDir, staticRouter } from './static.js';
import type { ClusterBinding } from './cluster/binding.js';
import { clusterRouter } from './cluster/api.js';
import { peerRouter } from './cluster/peer-routes.js';

export interface HttpAppContext {
  lm: LockManager;
  reads: SnapshotReads;
  auth: Auth;
  metrics: ServerMetrics;
  dumper: HangDumper | null;
  /** The application lock directory GET /api/lockfiles scans, if one is configured. */
  lockFiles: LockFilesOptions | null;
  history: History | null;
  /** The built dashboard; null serves none; undefined the default (dist/web). */
  webDir: string | null | undefined;
  sessions(): SessionSummary[];
  log(event: string, fields: Record<string, unknown>): void;
  internalError(err: unknown): void;
  /** The cluster this node belongs to, or null for a single node. */
  cluster: ClusterBinding | null;
}

export function httpApp(ctx: HttpAppContext): RequestListener {
  const { lm, auth, log, internalError } = ctx;
  const app = express();
  app.disable('x-powered-by');
  // Open mode: no other web page may drive or read this server (origin.ts, rules O1–O3). First, before any route.
  if (auth.open) {
    app.use((req, _res, next) => {
      const refused = openModeRefusal(req, true);
      next(refused ?? undefined);
    });
  }
  // P3: peers' calls carry cycles with their stacks, larger than any client's request: their own parser and bound.
  if (ctx.cluster !== null) app.use(peerRouter(() => ctx.cluster?.secret ?? null, () => ctx.cluster?.peerHandler() ?? null));
  app.use(express.json({ limit: serverLimits.httpBodyBytesMax, strict: true }));
  if (ctx.webDir !== null) app.use(staticRouter(ctx.webDir ?? defaultWebDir()));
  app.use(pageSessionRouter(auth));
  app.use(dumpsRouter(ctx.dumper, auth, log));
  app.use(graceRouter(lm, auth, log));
  app.use(clusterRouter(ctx.cluster, auth));
  app.use(lockFilesRouter(ctx.lockFiles, auth));
  app.use(historyRouter(ctx.history, auth));
  app.use(restRouter({ lm, reads: ctx.reads, auth, metrics: ctx.metrics, sessions: ctx.sessions, log, internalError }));
  app.use(errorMiddleware({ internalError }));
  return app;
}
