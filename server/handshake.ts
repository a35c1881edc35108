/**
 * The lock protocol's socket.io server on the HTTP server (one of its two
 * transports; ws-server.ts is the other): heartbeats well within the lease,
 * WebSockets only, open mode's checks on every namespace's handshake
 * (origin.ts, rules O1 and O2), the handshake admitted as on the other
 * transport (admission.ts), and the `session` message that starts each
 * connection, sent in one write with socket.io's CONNECT reply.
 *
 * Preconditions: the admission's parts are built (server.ts); nothing here
 * runs before a handshake arrives.
 */

import type { Server as HttpServer } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import { Server } from 'socket.io';
import type { Admission } from './admission.js';
import type { Auth } from './auth.js';
import type { ConnectionBound } from './connections.js';
import { IoLink } from './io-link.js';
import { serverLimits } from './limits.js';
import { openModeRefusal } from './origin.js';
import type { LockServerIo, LockSocket } from './sockets.js';

/** socket.io on the HTTP server: the handshake admits a session (admission.ts), then the lock protocol runs on the connection. */
export function lockServerIo(http: HttpServer, auth: Auth, admission: Admission): LockServerIo {
  const heartbeatMs = admission.heartbeatMs;
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
      admission.admit(socket.data, socket.handshake.auth, socket.handshake.address);
      holdConnectPacket(socket);
      next();
    } catch (err) {
      next(Object.assign(new Error('refused'), { data: admission.refusal(err, socket.handshake.address) }));
    }
  });
  io.on('connection', (socket) => {
    admission.start(new IoLink(socket), websocketOf(socket), () => releaseConnectPacket(socket));
  });
  return io;
}

/** socket.io's connection's TCP connection, when it is a WebSocket (the only transport taken; a long-poll is never pinned). */
function websocketOf(socket: { conn: { transport: { name: string } }; request: { socket: NetSocket } }): NetSocket | null {
  return socket.conn.transport.name === 'websocket' ? socket.request.socket : null;
}

/** An admitted WebSocket (the lock protocol's or the feed's) is a client, never closed to make room (connections.ts). */
export function pinAdmitted(socket: { conn: { transport: { name: string } }; request: { socket: NetSocket } }, connections: ConnectionBound): void {
  const ws = websocketOf(socket);
  if (ws !== null) connections.pin(ws);
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
