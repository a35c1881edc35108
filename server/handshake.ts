/**
 * The lock protocol's socket.io server on the HTTP server: heartbeats well
 * within the lease, WebSockets only, open mode's checks on every
 * namespace's handshake (origin.ts, rules O1 and O2), the handshake that
 * admits a session (README.md, "Sessions", rules S1–S4), and the `session`
 * message that starts each connection, sent in one write with socket.io's
 * CONNECT reply.
 *
 * Preconditions: the session table, the connection bound and the lock
 * protocol's context are built (server.ts); nothing here runs before a
 * handshake arrives.
 */

import type { Server as HttpServer } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import { Server } from 'socket.io';
import { LockError } from '../src/index.js';
import type { HandshakeAuth } from '../client/protocol.js';
import { Auth, verifierOf } from './auth.js';
import type { ConnectionBound } from './connections.js';
import { errorReply } from './errors.js';
import { NAME_CHARS_MAX, serverLimits } from './limits.js';
import { bindLockProtocol, type ProtocolContext } from './lock-protocol.js';
import type { Logger } from './log.js';
import { openModeRefusal } from './origin.js';
import type { Recovery } from './recovery.js';
import { closeConnection, type SessionTable } from './sessions.js';
import type { LockServerIo, LockSocket } from './sockets.js';
import { int, obj, str } from './validate.js';

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

/** socket.io on the HTTP server: the handshake admits a session, then the lock protocol runs on the connection. */
export function lockServerIo(
  http: HttpServer, leaseMs: number, auth: Auth, sessions: SessionTable, ctx: ProtocolContext, log: Logger,
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
export function pinAdmitted(socket: { conn: { transport: { name: string } }; request: { socket: NetSocket } }, connections: ConnectionBound): void {
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
