/**
 * createServer(): one HTTP server carrying the REST API (express) and the
 * lock protocol (socket.io), with an in-memory LockManager inside.
 */

import { createServer as createHttpServer, type RequestListener } from 'node:http';
import type { AddressInfo, Socket as NetSocket } from 'node:net';
import os from 'node:os';
import v8 from 'node:v8';
import { performance } from 'node:perf_hooks';
import { Server } from 'socket.io';
import { HangDumper } from '../collectors/dumper.js';
import type { HangDumperOptions } from '../collectors/dumper-options.js';
import { lockFilesCollector, type LockFilesOptions } from '../collectors/lockfiles/collector.js';
import { clientReports } from './client-reports.js';
import { invalid } from '../src/errors.js';
import { LockError, LockManager, type DomainConfig, type Hang, type Limits, type LockManagerOptions } from '../src/index.js';
import type { HandshakeAuth } from '../client/protocol.js';
import { Auth, verifierOf, type TokenSpec } from './auth.js';
import { feedDumps } from './dump-feed.js';
import { logDumps } from './dump-log.js';
import { errorReply } from './errors.js';
import { startFeed } from './feed.js';
import { History } from './history.js';
import { bindLockProtocol, type ProtocolContext } from './lock-protocol.js';
import { Budget, budgetBytes } from './budget.js';
import { defaultBudgets, NAME_CHARS_MAX, serverLimits, type AdjustableServerLimits, type Budgets } from './limits.js';
import { boundConnections, type ConnectionBound } from './connections.js';
import { checkServerLimits, checkServerOptions } from './options.js';
import { isLoopback, openModeRefusal } from './origin.js';
import { errorFields, makeLogger, type Logger, type LogSink } from './log.js';
import { ServerMetrics } from './metrics.js';
import type { SessionSummary } from './protocol.js';
import type { HttpAppContext } from './http-app.js';
import { Recovery } from './recovery.js';
import { closeConnection, SessionTable, tellGraceOver, type Session } from './sessions.js';
import { SnapshotReads } from './snapshot-reads.js';
import { localView } from './views.js';
import { int, obj, str } from './validate.js';
import { ClusterBinding, checkClusterOptions, type ClusterOptions } from './cluster/binding.js';
import type { LockServerIo, LockSocket } from './sockets.js';

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

const handshakeSchema = obj(
  { token: str(), name: str(NAME_CHARS_MAX), host: str(256), pid: int(0, 2 ** 31), session: str(64), clientId: str(NAME_CHARS_MAX), secret: secretSchema },
  ['token', 'host', 'pid', 'session', 'clientId', 'secret'],
);

/** A session secret: its length checked without echoing it in the error (which goes back to the client, and may be logged). */
function secretSchema(v: unknown, path: string): string {
  const { secretCharsMin: min, secretCharsMax: max } = serverLimits;
  if (typeof v !== 'string' || v.length < min || v.length > max) throw new LockError('EINVAL', `${path}: a string of ${min} to ${max} characters`);
  return v;
}

const DEFAULT_PING_INTERVAL_MS = 25_000;
const MIN_HEARTBEAT_MS = 1_000;

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
  if (options.cluster != null && options.stateDir != null) {
    throw invalid('options.stateDir', 'left out in a cluster (its recovery state lives in etcd)', options.stateDir);
  }
  const cluster = options.cluster == null ? null : new ClusterBinding(checkClusterOptions(options.cluster), graceMs, (e, f) => log('info', e, f));
  const recovery = options.stateDir == null ? null : new Recovery({ stateDir: options.stateDir, graceMs, leaseMs }, () => sessions.values(), (id) => sessions.hasClient(id), log);
  const budget = new Budget(checkBudgets(options.budgets));
  let lm: LockManager;
  try {
    lm = new LockManager({
      node: options.node ?? cluster?.name ?? os.hostname(), domains: options.domains ?? [], ...pick(options, ['deadlock', 'lockOrder', 'stacks']),
      // The manager's totals are budgets (B2); `limits` may still lower or raise them.
      limits: { locksMax: budget.limits.locksMax, waitsMax: budget.limits.waitsMax, ...options.limits },
      ...(recovery === null ? {} : { tokens: recovery.tokens() }),
      ...(cluster === null ? {} : { tokens: { external: true }, admission: cluster.admission }),
    });
  } catch (err) {
    // Bad options: the state directory is not kept from the next attempt.
    recovery?.close();
    throw err;
  }
  cluster?.attach(lm);
  const metrics = new ServerMetrics(lm, () => sessions, budget, () => recovery?.store.health() ?? null, cluster);
  sessions = sessionTable(lm, leaseMs, log, metrics, recovery, budget, cluster, bounds);
  cluster?.setHooks({
    pushView: (v) => {
      for (const s of sessions.values()) s.push('view', v);
    },
    pushGraceOver: () => tellGraceOver(sessions.values()),
    verifierOf: (client) => sessions.clientVerifier(client) ?? null,
    clientConnected: (client) => sessions.clientConnected(client),
    nodeFiles: () => dumper?.nodeFiles() ?? Promise.resolve({ files: [], errors: [] }),
    read: (what, query) => localView({ reads, sessions: () => summaries(sessions), dumps: async () => (await dumper?.list()) ?? [] }, what, query),
  });
  recovery?.begin(lm);
  const lockIndex = new Map<number, Session>();
  watchLosses(lm, lockIndex);
  // Built (and so checked) even without dumps: a bad lock directory option fails here, not on the first dashboard poll.
  const lockFiles = options.lockFiles == null ? null : lockFilesCollector(options.lockFiles);
  const dumps = options.dumps == null || lockFiles === null ? options.dumps
    : { ...options.dumps, collectors: [...(options.dumps.collectors ?? []), lockFiles] };
  // The dumper before the log's and the feed's listeners: a `hang` line names the dump the hang just started.
  const dumper = dumps == null ? null : new HangDumper(lm, {
    clientReports: clientReports(() => sessions.values()), ...dumps, ...(cluster === null ? {} : { cluster: cluster.dumps }),
    // The server's tokens are scrubbed from every dump, wherever a client may have put one.
    secrets: [...(dumps.secrets ?? []), ...(options.tokens ?? []).map((t) => t.token)],
  });
  const dumpOf = (hangId: number): string | null => dumper?.dumpOfHang(hangId) ?? null;
  logManagerEvents(lm, log, dumpOf);
  const stopDumpLog = dumper === null ? () => {} : logDumps(dumper, log);

  // Recorded from the start, whether or not a dashboard is open: the moment worth scrubbing back to comes first.
  const history = new History(lm, () => summaries(sessions));
  const stopHistory = history.start();
  dumper?.on('dump-written', (d) => history.marker('dump', d.record.time, `dump ${d.record.file} (${d.trigger})`));
  const reads = new SnapshotReads(lm);
  // Tighter than Node's defaults (60 s for headers, checked every 30 s): a half-sent request holds a descriptor
  // for seconds, not a minute and a half.
  const http = createHttpServer({
    headersTimeout: serverLimits.headersTimeoutMs, requestTimeout: serverLimits.requestTimeoutMs,
    keepAliveTimeout: serverLimits.keepAliveTimeoutMs, connectionsCheckingInterval: serverLimits.connectionsCheckingIntervalMs,
  }, lazyHttpApp({
    lm, reads, auth, metrics, dumper, history, lockFiles: options.lockFiles ?? null, webDir: options.webDir, sessions: () => summaries(sessions),
    log: (e, f) => log('info', e, f), internalError, cluster,
  }));
  const connections = boundConnections(http, bounds.connectionsMax);
  const io = lockServerIo(
    http, leaseMs, auth, sessions, { lm, lockIndex, internalError, end: (s) => sessions.end(s), recovery, cluster, log, budget }, log, connections,
  );
  const stopFeed = startFeed(io, lm, reads, auth, () => summaries(sessions), internalError, dumpOf);
  io.of('/feed').on('connection', (socket) => pinAdmitted(socket, connections));
  const stopDumpFeed = feedDumps(io, dumper);

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      log('info', 'closing', {});
      // Sessions first: once closed, the sockets' disconnects start no lease timers that would outlive the server.
      sessions.close();
      stopFeed();
      stopHistory();
      stopDumpFeed();
      await dumper?.close();
      stopDumpLog();
      // io.close() closes the HTTP server, which waits for every keep-alive connection (a browser holds
      // some) to end by itself: drop them now, or closing waits for their idle timeouts.
      const ioClosed = io.close();
      http.closeAllConnections();
      await ioClosed;
      lm.close();
      recovery?.close();
      await cluster?.close();
      // What the rate limit held back in its current windows (log.ts), before the last line.
      log.flush?.();
      log('info', 'closed', {});
    })());
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
  log('info', 'listening', { url, node: lm.node, domains: lm.domainNames(), leaseMs });
  // The budgets are meant to stop clients well before the heap is at risk: say so when they cannot.
  const allowed = budgetBytes(budget.limits);
  const heapLimit = v8.getHeapStatistics().heap_size_limit;
  if (allowed > heapLimit / 2) log('warn', 'budgets-over-heap', { budgetBytes: allowed, heapLimitBytes: heapLimit, reason: 'lower options.budgets or raise --max-old-space-size' });
  if (auth.open) log('warn', 'open-access', { reason: 'no tokens configured: every caller on this loopback address is an admin' });
  return { url, manager: lm, dumper, close };
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

function checkBudgets(value: unknown): Partial<Budgets> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid('options.budgets', 'an object', value);
  const out: Partial<Budgets> = {};
  for (const [k, v] of Object.entries(value)) {
    if (!Object.hasOwn(defaultBudgets, k)) throw invalid(`options.budgets.${k}`, `one of ${Object.keys(defaultBudgets).join(', ')}`);
    if (!Number.isSafeInteger(v) || (v as number) < 0) throw invalid(`options.budgets.${k}`, 'a non-negative integer', v);
    out[k as keyof Budgets] = v as number;
  }
  return out;
}

function sessionTable(
  lm: LockManager, leaseMs: number, log: Logger, metrics: ServerMetrics, recovery: Recovery | null, budget: Budget,
  cluster: ClusterBinding | null, bounds: AdjustableServerLimits,
): SessionTable {
  // B5: a client's cluster record goes only with its last session here: a client that connected again (a second
  // session under the same id, its first one ending later) still holds locks recorded under that id.
  const forgetClient = (id: string | null): void => {
    if (id !== null && !table.hasClient(id)) cluster?.forgetClient(id);
  };
  const table: SessionTable = new SessionTable(lm, leaseMs, {
    created: (s) => log('info', 'session-created', sessionFields(s)),
    resumed: (s) => log('info', 'session-resumed', sessionFields(s)),
    disconnected: (s) => log('info', 'session-disconnected', sessionFields(s)),
    expired: (s) => {
      metrics.expired.inc();
      log('warn', 'session-expired', sessionFields(s));
      budget.release(s);
      recovery?.forget(s);
      forgetClient(s.who.clientId);
    },
    ended: (s) => {
      log('info', 'session-ended', sessionFields(s));
      budget.release(s);
      recovery?.forget(s);
      forgetClient(s.who.clientId);
    },
  }, bounds);
  return table;
}

/** socket.io on the HTTP server: the handshake admits a session, then the lock protocol runs on the connection. */
function lockServerIo(
  http: ReturnType<typeof createHttpServer>, leaseMs: number, auth: Auth, sessions: SessionTable, ctx: ProtocolContext, log: Logger,
  connections: ConnectionBound,
): LockServerIo {
  // A dead connection must be noticed well within the lease, or a vanished client keeps its locks for
  // socket.io's 45 s of heartbeats plus the lease.
  const heartbeatMs = Math.max(MIN_HEARTBEAT_MS, Math.min(DEFAULT_PING_INTERVAL_MS, Math.floor(leaseMs / 3)));
  const io: LockServerIo = new Server(http, {
    maxHttpBufferSize: serverLimits.messageBytesMax, serveClient: false, pingInterval: heartbeatMs, pingTimeout: heartbeatMs,
    // Our clients (the Node client, the dashboard) use WebSockets only. A long-poll is a request held open up to a
    // heartbeat, which a connection bound could not tell from real load (connections.ts): none are taken.
    transports: ['websocket'],
    // An engine.io connection that joins no namespace (no token shown) is dropped this soon, not after socket.io's 45 s.
    connectTimeout: serverLimits.headersTimeoutMs,
    // Open mode: the handshake of every namespace (lock protocol and feed) from a loopback Host and our own Origin
    // only, so no other web page reaches either (origin.ts, rules O1 and O2).
    allowRequest: (req, cb) => {
      const refused = auth.open ? openModeRefusal(req, false) : null;
      cb(refused === null ? null : refused.code, refused === null);
    },
  });
  // An upgrade's 101 response and engine.io's open packet (written after an await in engine.io's handshake,
  // so at the end of the turn, not the tick) leave in one write instead of two: writes to loopback are much of
  // what a thousand clients coming back at once cost.
  http.prependListener('upgrade', (_req, socket) => {
    socket.cork();
    setImmediate(() => socket.uncork());
  });
  io.use((socket, next) => {
    try {
      admit(socket, auth, sessions, ctx.recovery);
      holdConnectPacket(socket);
      next();
    } catch (err) {
      const e = Object.assign(new Error('refused'), { data: errorReply(err, ctx.internalError).error });
      log('warn', 'connection-refused', { code: e.data.code, address: socket.handshake.address });
      next(e);
    }
  });
  io.on('connection', (socket) => {
    pinAdmitted(socket, connections);
    onConnection(socket, sessions, ctx, leaseMs);
  });
  return io;
}

/**
 * Check the handshake, then open or resume the session, before the
 * connection counts. Sessions rules S1–S4 (README.md): only roles that take
 * locks get a session; a session id or client id comes with its secret.
 */
function admit(socket: LockSocket, auth: Auth, sessions: SessionTable, recovery: Recovery | null): void {
  const raw = socket.handshake.auth as unknown;
  const hs = handshakeSchema(raw, 'auth') as HandshakeAuth;
  const principal = auth.identify(hs.token);
  Auth.require(principal, 'lock');
  if ((hs.session !== undefined || hs.clientId !== undefined) && hs.secret === undefined) {
    throw new LockError('EINVAL', 'auth.secret: required with auth.session or auth.clientId');
  }
  const verifier = hs.secret === undefined ? null : verifierOf(hs.secret);
  if (hs.clientId !== undefined) recovery?.checkIdentity(hs.clientId, principal, verifier!);
  const who = { client: hs.name, host: hs.host ?? socket.handshake.address, pid: hs.pid ?? null, clientId: hs.clientId ?? null };
  const { session, resumed, expired } = sessions.open(hs.session, principal, who, verifier);
  socket.data.principal = principal;
  socket.data.sessionId = session.id;
  socket.data.resumed = resumed;
  socket.data.expired = expired;
}

function onConnection(socket: LockSocket, sessions: SessionTable, ctx: ProtocolContext, leaseMs: number): void {
  const session = sessions.get(socket.data.sessionId);
  if (session === undefined) {
    releaseConnectPacket(socket);
    closeConnection(socket, 'session-closed');
    return;
  }
  sessions.attach(session, socket, socket.data.resumed);
  bindLockProtocol(socket, session, ctx);
  socket.on('disconnect', () => sessions.detach(session, socket));
  const { resumed, expired } = socket.data;
  // A session presented that this server never expired: it was made by an earlier run of the server.
  const restarted = expired !== null && !sessions.wasExpired(expired);
  const reclaim = restarted && ctx.recovery !== null && ctx.recovery.mayReclaim(ctx.lm, session);
  socket.emit('session', {
    id: session.id, resumed, expired, leaseMs, restarted, grace: ctx.lm.inGrace, reclaim,
    ...(ctx.cluster === null ? {} : { cluster: ctx.cluster.clientView() }),
  });
  releaseConnectPacket(socket);
  sessions.flush(session);
}

/** An admitted WebSocket (the lock protocol's or the feed's) is a client, never closed to make room (connections.ts). */
function pinAdmitted(socket: { conn: { transport: { name: string } }; request: { socket: NetSocket } }, connections: ConnectionBound): void {
  if (socket.conn.transport.name === 'websocket') connections.pin(socket.request.socket);
}

/** engine.io's socket and transport, as far as holdConnectPacket uses them (not part of their typed API). */
interface EngineConn {
  transport?: { writable?: boolean };
  flush?: () => void;
}

const connectHeld = new WeakSet<LockSocket>();

/**
 * socket.io's CONNECT reply and our `session` message go in one write, not
 * two: engine.io sends a packet once the previous write has completed, so
 * the second would be a write of its own (a thousand clients coming back
 * after a restart pay it a thousand times). The transport is marked busy
 * from the admitted handshake until `session` is queued behind CONNECT;
 * then both leave together. Only when engine.io is as expected; otherwise
 * nothing changes.
 */
function holdConnectPacket(socket: LockSocket): void {
  const conn = socket.conn as unknown as EngineConn;
  if (typeof conn.flush !== 'function' || conn.transport?.writable !== true) return;
  conn.transport.writable = false;
  connectHeld.add(socket);
}

function releaseConnectPacket(socket: LockSocket): void {
  if (!connectHeld.delete(socket)) return;
  const conn = socket.conn as unknown as Required<EngineConn>;
  const raw = socket.request.socket;
  raw.cork();
  conn.transport.writable = true;
  conn.flush();
  raw.uncork();
}

/** A remote lock taken away (not released by its client) is reported to its session. */
function watchLosses(lm: LockManager, lockIndex: Map<number, Session>): void {
  lm.on('released', (e) => {
    if (e.id === 0) return;
    const s = lockIndex.get(e.id);
    if (s === undefined) return;
    lockIndex.delete(e.id);
    s.locks.delete(e.id);
    if (e.reason !== 'released') s.lost(e.id, e.reason);
  });
}

/** What an operator wants in the log: deadlocks, hangs (with the dump each started, if any) and lock-order inversions, one line each. */
function logManagerEvents(lm: LockManager, log: Logger, dumpOf: (hangId: number) => string | null): void {
  lm.on('deadlock', (d) => log('warn', 'deadlock', {
    kind: d.kind, victim: d.victim, policy: d.policy, ...(d.nodes === undefined ? {} : { nodes: d.nodes }),
    cycle: d.cycle.map((c) => ({ owner: c.owner, domain: c.domain, resource: c.resource, held: c.held, wanted: c.wanted })),
  }));
  const hang = (level: 'warn' | 'error', event: string) => (h: Hang): void => log(level, event, {
    owner: h.owner, domain: h.domain, resource: h.resource, wanted: h.wanted, since: h.since,
    rootBlockers: h.rootBlockers.map((b) => b.owner), classification: h.classification, dump: dumpOf(h.id),
    // In a cluster (C1–C3): where each root blocker holds, its client and whether it is connected; nodes that did not answer.
    ...(h.nodes === undefined ? {} : {
      rootBlockersAt: h.rootBlockers.map((b) => ({ node: b.node ?? null, client: b.client ?? null, connected: b.connected ?? null })),
      ...(h.nodes.missing.length === 0 ? {} : { missingNodes: h.nodes.missing }),
    }),
  });
  lm.on('hang', hang('warn', 'hang'));
  lm.on('hang-persistent', hang('error', 'hang-persistent'));
  lm.on('hang-resolved', (h) => log('info', 'hang-resolved', { owner: h.owner, domain: h.domain, resource: h.resource, outcome: h.outcome, waitedMs: h.waitedMs, dump: dumpOf(h.id) }));
  lm.on('order-inversion', (o) => log('warn', 'order-inversion', { classes: o.classes }));
}

function pick<T extends object, K extends keyof T>(o: T, keys: readonly K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function sessionFields(s: Session): Record<string, unknown> {
  return { session: s.id, client: s.who.client, host: s.who.host, pid: s.who.pid, principal: s.principal.name, owners: s.owners.size };
}

function summaries(t: SessionTable): SessionSummary[] {
  return [...t.values()].map((s) => ({
    id: s.id, client: s.who.client, host: s.who.host, pid: s.who.pid, role: s.principal.role, state: s.state,
    owners: s.owners.size, locks: s.locks.size, pending: s.pending.size, createdAt: s.createdAt,
  }));
}
