/**
 * How one connection reaches its server: the lock protocol's messages over
 * one of two transports, chosen per client (`transport` option).
 *
 * - `ws` (the default): a plain WebSocket speaking the protocol's frames
 *   (protocol-ws.ts): one JSON array per frame, no parser or emitter
 *   of a framework between the socket and the protocol.
 * - `socket.io`: the protocol as socket.io events, as the dashboard speaks
 *   to the same server.
 *
 * Both carry the same events, messages, replies and bounds; the server
 * admits and serves them through one handshake and one dispatcher
 * (server/README.md, "Transports"). What differs is below this interface:
 * framing, heartbeats, how a refusal and a deliberate drop are told apart
 * from a network failure. Neither reconnects by itself: the connection's
 * shared probe does (reconnect.ts).
 *
 * A call to `connect` while an attempt is under way or a connection is
 * open does nothing; `disconnect` reports `dropped('client')` before it
 * returns when a connection was open.
 */

import type { ClientItem, ClientReportFailure, ClientSelfReport, DirectEvent, HandshakeAuth, MessageOf, Reply, ReplyOf, ServerItem, SessionInfo } from './protocol.js';

export type TransportKind = 'ws' | 'socket.io';
export const TRANSPORTS: readonly TransportKind[] = ['ws', 'socket.io'];

/** Why an open connection ended: the server dropped it on purpose (never retried), this client closed it, or the network. */
export type DropCause = 'server' | 'client' | 'network';

/** What a transport tells its connection (connection.ts), in the order it happens. */
export interface TransportEvents {
  /** The server answered: a connection is open (the handshake goes on). */
  reached(): void;
  /** The server admitted the handshake: this connection's session. */
  session(info: SessionInfo): void;
  /** The server refused the handshake: final for this client. */
  refused(error: unknown): void;
  /** An attempt failed without an answer (nobody listening, a network error). */
  unreachable(): void;
  /** The server is about to drop this connection on purpose, and why (its `closed` notice). */
  closing(reason: 'session-taken-over' | 'session-closed'): void;
  /** One `m` message of the server, in order. */
  items(items: ServerItem[]): void;
  /** A hang-dump asks for this client's own report. */
  report(answer: (report: ClientSelfReport | ClientReportFailure) => void): void;
  /** An open connection ended. */
  dropped(cause: DropCause): void;
}

export interface Transport {
  /** Open and past the handshake's first step (socket.io: namespace joined; ws: socket open). */
  readonly connected: boolean;
  /** Increases with every connection made: what was built for one is stale on the next. */
  readonly generation: number;
  /** Start an attempt (none while one is under way); the handshake presents `auth()` as it is at that time. */
  connect(): void;
  /** Close this connection (no retry follows; `dropped('client')` if it was open). */
  disconnect(): void;
  /** Drop the connection as a network failure would: `dropped('network')` follows, and the probe retries (the demo's incidents, tests). */
  cut(): void;
  /** One `m` message (batch.ts). */
  batch(items: ClientItem[]): void;
  /** A call sent on its own; `answer` runs once with its reply, unless the connection drops first. */
  call<E extends DirectEvent>(event: E, message: MessageOf<E>, answer: (reply: Reply<ReplyOf<E>>) => void): void;
}

/** Why the server's `closed` notice says it drops the connection (anything else it might say: the session is closed). */
export function closingReason(msg: unknown): 'session-taken-over' | 'session-closed' {
  return (msg as { reason?: unknown } | null)?.reason === 'session-taken-over' ? 'session-taken-over' : 'session-closed';
}

export interface TransportOptions {
  /** The server's base URL (http: or https:). */
  url: string;
  auth: () => HandshakeAuth;
}
