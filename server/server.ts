/**
 * createServer(): one HTTP server carrying the REST API (express) and the
 * lock protocol (socket.io, or a plain WebSocket), with an in-memory
 * LockManager inside. This file
 * wires the parts together in their order and closes them in theirs; each
 * part is in its own file (README.md, "Files").
 */

import { createServer as createHttpServer, type RequestListener, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import v8 from 'node:v8';
import { performance } from 'node:perf_hooks';
import { HangDumper } from '../collectors/dumper.js';
import type { HangDumperOptions } from '../collectors/dumper-options.js';
import { lockFilesCollector, type LockFilesOptions } from '../collectors/lockfiles/collector.js';
import type { Collector } from '../collectors/types.js';
import { clientReports } from './client-reports.js';
import { invalid } from '../src/errors.js';
import { LockError, LockManager, type DomainConfig, type Limits, type LockManagerOptions } from '../src/index.js';
import { Auth, type TokenSpec } from './auth.js';
import { feedDumps } from './dump-feed.js';
import { logDumps } from './dump-log.js';
import { startFeed } from './feed.js';
import { Admission } from './admission.js';
import { lockServerIo, pinAdmitted } from './handshake.js';
import { History } from './history.js';
import { Budget, budgetBytes } from './budget.js';
import { serverLimits, type AdjustableServerLimits, type Budgets } from './limits.js';
import { boundConnections } from './connections.js';
import { logManagerEvents } from './manager-log.js';
import { checkBudgets, checkServerLimits, checkServerOptions } from './options.js';
import { isLoopback } from './origin.js';
import { errorFields, makeLogger, type Logger, type LogSink } from './log.js';
import { ServerMetrics } from './metrics.js';
import type { HttpAppContext } from './http-app.js';
import type { SessionSummary } from './protocol.js';
import { Recovery } from './recovery.js';
import { sessionTable, summaries, watchLosses } from './session-hooks.js';
import { tellGraceOver, type Session, type SessionTable } from './sessions.js';
import { SnapshotReads } from './snapshot-reads.js';
import { localView } from './views.js';
import { ClusterBinding, type ClusterHooks } from './cluster/binding.js';
import { checkClusterOptions, type ClusterOptions } from './cluster/options.js';
import type { LockServerIo } from './sockets.js';
import { lockServerWs, type LockServerWs } from './ws-server.js';

export interface ServerOptions {
  /** Port to listen on; 0 picks a free one. */
  port?: number;
  host?: string;
  /** Node name (shown in snapshots and the dashboard); default the host name. */
  node?: string;
  domains?: DomainConfig[];
  limits?: Partial<Limits>;
  /** Passed to the LockManager as they are. */
  deadlock?: LockManagerOptions['deadlock'];
  lockOrder?: LockManagerOptions['lockOrder'];
  stacks?: LockManagerOptions['stacks'];
  tokens?: TokenSpec[];
  /** How long a disconnected client keeps its locks. */
  leaseMs?: number;
  /** Where log lines go (one JSON object each); default nowhere. */
  log?: LogSink | null;
  /** Hang-dumps: a HangDumper on this server's manager with these options; default none (the dump API answers ENOENT). */
  dumps?: HangDumperOptions | null;
  /** The built dashboard served at `/`; default dist/web; null serves none. */
  webDir?: string | null;
  /**
   * Directory for the durable client record and fencing-token high-water
   * (recovery.ts). With it, a restart that finds clients recorded starts a
   * grace period in which they reclaim their locks; without it a restart
   * forgets every session.
   */
  stateDir?: string | null;
  /** How long a grace period lasts unless every recorded client reclaims sooner. */
  graceMs?: number;
  /** Join (or form) a cluster through etcd (server/cluster/README.md); without it, a single node. */
  cluster?: ClusterOptions | null;
  /**
   * An application lock directory (oslo.concurrency's lock_path, say) shown
   * beside lockscope's own locks: scanned into every hang-dump
   * (os/lockfiles.json) and served at GET /api/lockfiles for the dashboard.
   */
  lockFiles?: LockFilesOptions | null;
  /** What clients may make the server keep (limits.ts `Budgets`); each unset one has its default. */
  budgets?: Partial<Budgets>;
  /** Lower some of the server's own bounds (limits.ts); each at most its default. */
  serverLimits?: Partial<AdjustableServerLimits>;
}

export interface LockServer {
  url: string;
  manager: LockManager;
  /** The server's HangDumper, when it takes dumps. */
  dumper: HangDumper | null;
  close(): Promise<void>;
}

export { isLoopback } from './origin.js';

export async function createServer(options: ServerOptions = {}): Promise<LockServer> {
  const { host, port, leaseMs, graceMs } = checkServerOptions(options);
  const bounds = checkServerLimits(options.serverLimits);
  const auth = new Auth(options.tokens ?? []);
  if (auth.open && !isLoopback(host)) {
    throw new LockError('EPERM', `refusing to listen on ${host} without tokens: configure tokens or listen on a loopback address`);
  }
  const log = makeLogger(options.log ?? null);
  const internalError = (err: unknown): void => log('error', 'internal-error', errorFields(err));
  let sessions: SessionTable;
  const { lm, cluster, recovery, budget } = startManager(options, graceMs, leaseMs, log, () => sessions);
  const metrics = new ServerMetrics(lm, () => sessions, budget, () => recovery?.store.health() ?? null, cluster);
  sessions = sessionTable(lm, leaseMs, log, metrics, recovery, budget, cluster, bounds);
  const list = (): SessionSummary[] => summaries(sessions);
  recovery?.begin(lm);
  const lockIndex = new Map<number, Session>();
  watchLosses(lm, lockIndex);
  // Built (and so checked) even without dumps: a bad lock directory option fails here, not on the first dashboard poll.
  const lockFiles = options.lockFiles == null ? null : lockFilesCollector(options.lockFiles);
  // The dumper before the log's and the feed's listeners: a `hang` line names the dump the hang just started.
  const dumper = startDumper(lm, options, lockFiles, sessions, cluster);
  const dumpOf = (hangId: number): string | null => dumper?.dumpOfHang(hangId) ?? null;
  logManagerEvents(lm, log, dumpOf);
  const stopDumpLog = dumper === null ? () => {} : logDumps(dumper, log);

  // Recorded from the start, whether or not a dashboard is open: the moment worth scrubbing back to comes first.
  const history = new History(lm, list);
  const stopHistory = history.start();
  dumper?.on('dump-written', (d) => history.marker('dump', d.record.time, `dump ${d.record.file} (${d.trigger})`));
  const reads = new SnapshotReads(lm);
  cluster?.setHooks(clusterHooks(sessions, reads, dumper));
  const http = httpServer({
    lm, reads, auth, metrics, dumper, history, lockFiles: options.lockFiles ?? null, webDir: options.webDir, sessions: list,
    log: (e, f) => log('info', e, f), internalError, cluster,
  });
  const connections = boundConnections(http, bounds.connectionsMax);
  const protocol = { lm, lockIndex, internalError, end: (s: Session) => sessions.end(s), recovery, cluster, log, budget };
  // The lock protocol's two transports, one admission (README.md, "Transports").
  const admission = new Admission(auth, sessions, protocol, leaseMs, connections, log);
  const io = lockServerIo(http, auth, admission);
  const ws = lockServerWs(http, auth, admission, log);
  const stopFeed = startFeed(io, lm, reads, auth, list, internalError, dumpOf);
  io.of('/feed').on('connection', (socket) => pinAdmitted(socket, connections));
  const stopDumpFeed = feedDumps(io, dumper);
  const close = closer({
    log, sessions, dumper, io, ws, http, lm, recovery, cluster,
    stops: { feed: stopFeed, history: stopHistory, dumpFeed: stopDumpFeed, dumpLog: stopDumpLog },
  });
  const url = await listen(http, port, host, cluster, close);
  logStarted(log, lm, budget, auth, url, leaseMs);
  return { url, manager: lm, dumper, close };
}

/**
 * The core and what it is built with: the cluster binding, restart recovery
 * (`stateDir`), the budgets (B2: the manager's totals are budgets). Options
 * are checked in this order; the manager's own failing closes the state
 * directory again.
 */
function startManager(
  options: ServerOptions, graceMs: number, leaseMs: number, log: Logger, sessions: () => SessionTable,
): { lm: LockManager; cluster: ClusterBinding | null; recovery: Recovery | null; budget: Budget } {
  if (options.cluster != null && options.stateDir != null) {
    throw invalid('options.stateDir', 'left out in a cluster (its recovery state lives in etcd)', options.stateDir);
  }
  // Checked before anything is started: a bad budget or cluster option leaves no state directory held, no timer running.
  const budget = new Budget(checkBudgets(options.budgets));
  const clusterSettings = options.cluster == null ? null : checkClusterOptions(options.cluster);
  const cluster = clusterSettings === null ? null : new ClusterBinding(clusterSettings, graceMs, (e, f) => log('info', e, f));
  let recovery: Recovery | null = null;
  let lm: LockManager;
  try {
    recovery = options.stateDir == null ? null
      : new Recovery({ stateDir: options.stateDir, graceMs, leaseMs }, () => sessions().values(), (id) => sessions().hasClient(id), log);
    lm = new LockManager({
      node: options.node ?? cluster?.name ?? os.hostname(), domains: options.domains ?? [], ...pick(options, ['deadlock', 'lockOrder', 'stacks']),
      // The manager's totals are budgets (B2); `limits` may still lower or raise them.
      limits: { locksMax: budget.limits.locksMax, waitsMax: budget.limits.waitsMax, ...options.limits },
      ...(recovery === null ? {} : { tokens: recovery.tokens() }),
      ...(cluster === null ? {} : { tokens: { external: true }, admission: cluster.admission }),
    });
  } catch (err) {
    // Bad options: the state directory is not kept from the next attempt, and the cluster binding's timer stops.
    recovery?.close();
    void cluster?.close();
    throw err;
  }
  cluster?.attach(lm);
  return { lm, cluster, recovery, budget };
}

/** The server's HangDumper (null without `options.dumps`): every live client's own report, the lock directory, the cluster's parts. */
function startDumper(
  lm: LockManager, options: ServerOptions, lockFiles: Collector | null, sessions: SessionTable, cluster: ClusterBinding | null,
): HangDumper | null {
  const dumps = options.dumps == null || lockFiles === null ? options.dumps
    : { ...options.dumps, collectors: [...(options.dumps.collectors ?? []), lockFiles] };
  return dumps == null ? null : new HangDumper(lm, {
    clientReports: clientReports(() => sessions.values()), ...dumps, ...(cluster === null ? {} : { cluster: cluster.dumps }),
    // The server's tokens are scrubbed from every dump, wherever a client may have put one.
    secrets: [...(dumps.secrets ?? []), ...(options.tokens ?? []).map((t) => t.token)],
  });
}

/** What the cluster binding asks of this server (cluster/binding.ts, ClusterHooks): pushes to every session, clients, this node's files and views. */
function clusterHooks(sessions: SessionTable, reads: SnapshotReads, dumper: HangDumper | null): ClusterHooks {
  return {
    pushView: (v) => {
      for (const s of sessions.values()) s.push('view', v);
    },
    pushGraceOver: () => tellGraceOver(sessions.values()),
    verifierOf: (client) => sessions.clientVerifier(client) ?? null,
    clientConnected: (client) => sessions.clientConnected(client),
    nodeFiles: () => dumper?.nodeFiles() ?? Promise.resolve({ files: [], errors: [] }),
    read: (what, query) => localView({ reads, sessions: () => summaries(sessions), dumps: async () => (await dumper?.list()) ?? [] }, what, query),
  };
}

/**
 * The HTTP server, with timeouts tighter than Node's defaults (60 s for
 * headers, checked every 30 s): a half-sent request holds a descriptor for
 * seconds, not a minute and a half.
 */
function httpServer(ctx: HttpAppContext): HttpServer {
  return createHttpServer({
    headersTimeout: serverLimits.headersTimeoutMs, requestTimeout: serverLimits.requestTimeoutMs,
    keepAliveTimeout: serverLimits.keepAliveTimeoutMs, connectionsCheckingInterval: serverLimits.connectionsCheckingIntervalMs,
  }, lazyHttpApp(ctx));
}

/** What close() ends, in its order. */
interface Running {
  log: Logger;
  sessions: SessionTable;
  dumper: HangDumper | null;
  io: LockServerIo;
  ws: LockServerWs;
  http: HttpServer;
  lm: LockManager;
  recovery: Recovery | null;
  cluster: ClusterBinding | null;
  /** The feed, the history, the dumps in the feed and in the log. */
  stops: { feed(): void; history(): void; dumpFeed(): void; dumpLog(): void };
}

/** The server's close(): once, however often called. */
function closer(r: Running): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () =>
    (closing ??= (async () => {
      r.log('info', 'closing', {});
      // Sessions first: once closed, the sockets' disconnects start no lease timers that would outlive the server.
      r.sessions.close();
      r.stops.feed();
      r.stops.history();
      r.stops.dumpFeed();
      await r.dumper?.close();
      r.stops.dumpLog();
      // io.close() closes the HTTP server, which waits for every keep-alive connection (a browser holds
      // some) to end by itself: drop them now, or closing waits for their idle timeouts. The ws transport's
      // connections are told first (a close code the client retries), and end within wsCloseTimeoutMs.
      r.ws.close();
      const ioClosed = r.io.close();
      r.http.closeAllConnections();
      await ioClosed;
      r.lm.close();
      r.recovery?.close();
      await r.cluster?.close();
      // What the rate limit held back in its current windows (log.ts), before the last line.
      r.log.flush?.();
      r.log('info', 'closed', {});
    })());
}

/** Listen, then join the cluster (when there is one); resolves with the URL. A failure of either closes what was started. */
async function listen(http: HttpServer, port: number, host: string, cluster: ClusterBinding | null, close: () => Promise<void>): Promise<string> {
  try {
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(port, host, () => resolve());
    });
  } catch (err) {
    await close();
    throw err;
  }
  const addr = http.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  if (cluster !== null) {
    // Listening first: requests that come before the join are refused EGRACE (not yet a member) and retried.
    try {
      await cluster.start(url);
    } catch (err) {
      await close();
      throw err;
    }
  }
  return url;
}

/** The `listening` line, and the warnings an operator should see at start. */
function logStarted(log: Logger, lm: LockManager, budget: Budget, auth: Auth, url: string, leaseMs: number): void {
  log('info', 'listening', { url, node: lm.node, domains: lm.domainNames(), leaseMs });
  // The budgets are meant to stop clients well before the heap is at risk: say so when they cannot.
  const allowed = budgetBytes(budget.limits);
  const heapLimit = v8.getHeapStatistics().heap_size_limit;
  if (allowed > heapLimit / 2) log('warn', 'budgets-over-heap', { budgetBytes: allowed, heapLimitBytes: heapLimit, reason: 'lower options.budgets or raise --max-old-space-size' });
  if (auth.open) log('warn', 'open-access', { reason: 'no tokens configured: every caller on this loopback address is an admin' });
}

/**
 * The express app (http-app.ts), loaded and built by the first HTTP request;
 * the requests meanwhile wait for it. Logged once built (`http-ready`, with
 * how long the first request waited for it).
 */
function lazyHttpApp(ctx: HttpAppContext): RequestListener {
  let app: RequestListener | null = null;
  let loading: Promise<RequestListener> | null = null;
  const load = (): Promise<RequestListener> => {
    const t0 = performance.now();
    return import('./http-app.js').then(
      (m) => {
        app = m.httpApp(ctx);
        ctx.log('http-ready', { ms: Math.round(performance.now() - t0) });
        return app;
      },
      (err: unknown) => {
        loading = null;
        throw err;
      },
    );
  };
  return (req, res) => {
    if (app !== null) return app(req, res);
    loading ??= load();
    loading.then(
      (a) => a(req, res),
      (err: unknown) => {
        ctx.internalError(err);
        res.statusCode = 500;
        res.end();
      },
    );
  };
}

function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
