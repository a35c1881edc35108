/**
 * One lock-protocol connection as the protocol's code sees it (`LockLink`),
 * whichever transport carries it: socket.io (io-link.ts) or a plain
 * WebSocket (ws-link.ts). dispatch.ts, outbox.ts, sessions.ts,
 * client-reports.ts and lock-protocol.ts use this interface and nothing of
 * either transport, so both run the same protocol, checks and limits
 * (README.md, "Transports", rule A1). Also the socket.io server's types,
 * typed with the client's event maps (client/protocol.ts), and what the
 * server keeps per connection. Types only; server-side, so the wire's
 * shapes (protocol.ts) stay free of the server's own modules.
 */

import type { Server, Socket } from 'socket.io';
import type { ClientToServerEvents, ServerToClientEvents } from '../client/protocol.js';
import type { Principal } from './auth.js';
import type { Outbox } from './outbox.js';

/** Per-connection data the server keeps on a socket. */
export interface SocketData {
  principal: Principal;
  sessionId: string;
  resumed: boolean;
  expired: string | null;
  /** What the server sends this connection, in order, a batch per turn (made on first use). */
  outbox?: Outbox;
}

/** The answer to a call that asked for one: sent once, to the caller. */
export type LinkAck = (answer: unknown) => void;

/** What the server sends on a link outside a call's answer; everything else travels inside `m`. */
export type LinkEvent = 'session' | 'm' | 'closed';

/** One admitted lock-protocol connection; per connection, made once (its identity stands for the connection). */
export interface LockLink {
  /** What the handshake found (admission.ts), and the outbox. */
  readonly data: SocketData;
  /** False from the moment the connection ends or is dropped: nothing sent after is delivered. */
  readonly connected: boolean;
  /** The peer's address: a session's `host` when the client names none, and the log's. */
  readonly address: string;
  /** Incoming `event`: its message, not yet judged, and the answer when the caller asked for one. */
  on(event: keyof ClientToServerEvents, handler: (raw: unknown, ack: LinkAck | null) => void): void;
  /** Any event no `on` handles (never one that is handled). */
  onOther(handler: (event: string, ack: LinkAck | null) => void): void;
  emit<E extends LinkEvent>(event: E, msg: Parameters<ServerToClientEvents[E]>[0]): void;
  /** Ask the client, with a deadline: `cb(null, answer)`, or `cb(err)` once the deadline passed (or the link ended). */
  ask(event: 'report', deadlineMs: number, cb: (err: Error | null, answer: unknown) => void): void;
  /** Drop the connection on purpose (a refusal, a session taken over): the client does not come back on its own. */
  disconnect(): void;
  /** Called once, when the connection ends for any reason. */
  onDisconnect(fn: () => void): void;
}

export type LockServerIo = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
export type LockSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
