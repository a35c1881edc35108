/**
 * Admission of a lock-protocol connection, the same on both transports
 * (README.md, "Transports", rule A2): the handshake checked (its schema,
 * the token, rules S1–S4 of "Sessions"), the session opened or resumed,
 * then the connection pinned (connections.ts), attached to its session,
 * its messages bound (lock-protocol.ts) and the `session` message sent.
 * socket.io runs `admit` in its middleware (a refusal is its CONNECT_ERROR)
 * and `start` on its `connection`; the ws transport runs both on the
 * client's `hello` frame (a refusal is a `refused` frame).
 *
 * Preconditions: the session table, the connection bound and the lock
 * protocol's context are built (server.ts).
 */

import type { Socket as NetSocket } from 'node:net';
import { LockError } from '../src/index.js';
import type { HandshakeAuth, WireError } from '../client/protocol.js';
import { Auth, verifierOf } from './auth.js';
import type { ConnectionBound } from './connections.js';
import { errorReply } from './errors.js';
import { NAME_CHARS_MAX, serverLimits } from './limits.js';
import { bindLockProtocol, type ProtocolContext } from './lock-protocol.js';
import type { Logger } from './log.js';
import { closeConnection, type SessionTable } from './sessions.js';
import type { LockLink, SocketData } from './sockets.js';
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

/**
 * The heartbeat interval of every lock-protocol connection (socket.io's
 * pingInterval and pingTimeout, the ws transport's pings). A dead connection
 * must be noticed well within the lease, or a vanished client keeps its
 * locks for socket.io's 45 s of heartbeats plus the lease.
 */
export function heartbeatOf(leaseMs: number): number {
  return Math.max(serverLimits.heartbeatMsMin, Math.min(serverLimits.heartbeatMsMax, Math.floor(leaseMs / 3)));
}

export class Admission {
  readonly heartbeatMs: number;

  constructor(
    private readonly auth: Auth,
    private readonly sessions: SessionTable,
    private readonly ctx: ProtocolContext,
    private readonly leaseMs: number,
    private readonly connections: ConnectionBound,
    private readonly log: Logger,
  ) {
    this.heartbeatMs = heartbeatOf(leaseMs);
  }

  /**
   * Check the handshake, then open or resume the session, before the
   * connection counts; its findings go in `data`. Sessions rules S1–S4
   * (README.md): only roles that take locks get a session; a session id or
   * client id comes with its secret. Throws the refusal.
   */
  admit(data: SocketData, raw: unknown, address: string): void {
    const hs = handshakeSchema(raw, 'auth') as HandshakeAuth;
    const principal = this.auth.identify(hs.token);
    Auth.require(principal, 'lock');
    if ((hs.session !== undefined || hs.clientId !== undefined) && hs.secret === undefined) {
      throw new LockError('EINVAL', 'auth.secret: required with auth.session or auth.clientId');
    }
    const verifier = hs.secret === undefined ? null : verifierOf(hs.secret);
    if (hs.clientId !== undefined) this.ctx.recovery?.checkIdentity(hs.clientId, principal, verifier!);
    const who = { client: hs.name, host: hs.host ?? address, pid: hs.pid ?? null, clientId: hs.clientId ?? null };
    const { session, resumed, expired } = this.sessions.open(hs.session, principal, who, verifier);
    data.principal = principal;
    data.sessionId = session.id;
    data.resumed = resumed;
    data.expired = expired;
  }

  /** What a refused client is told (the failure's code and message), logged `connection-refused`. */
  refusal(err: unknown, address: string): WireError {
    const error = errorReply(err, this.ctx.internalError).error;
    this.log('warn', 'connection-refused', { code: error.code, address });
    return error;
  }

  /**
   * An admitted connection starts: pinned (`pin`, its TCP connection: a
   * client now, never closed to make room), attached to its session, its
   * messages bound, the `session` message sent; `sent` runs once that (or
   * the `closed` of a session that vanished meanwhile) is queued.
   */
  start(link: LockLink, pin: NetSocket | null, sent: () => void = () => {}): void {
    const { sessions, ctx } = this;
    if (pin !== null) this.connections.pin(pin);
    const session = sessions.get(link.data.sessionId);
    if (session === undefined) {
      sent();
      closeConnection(link, 'session-closed');
      return;
    }
    sessions.attach(session, link, link.data.resumed);
    bindLockProtocol(link, session, ctx);
    link.onDisconnect(() => sessions.detach(session, link));
    const { resumed, expired } = link.data;
    // A session presented that this server never expired: it was made by an earlier run of the server.
    const restarted = expired !== null && !sessions.wasExpired(expired);
    const reclaim = restarted && ctx.recovery !== null && ctx.recovery.mayReclaim(ctx.lm, session);
    link.emit('session', {
      id: session.id, resumed, expired, leaseMs: this.leaseMs, restarted, grace: ctx.lm.inGrace, reclaim,
      ...(ctx.cluster === null ? {} : { cluster: ctx.cluster.clientView() }), heartbeatMs: this.heartbeatMs,
    });
    sent();
    sessions.flush(session);
  }
}
