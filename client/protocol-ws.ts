/**
 * The lock protocol's framing on a plain WebSocket (the `ws` transport:
 * client/transport-ws.ts, server/ws-link.ts and ws-server.ts). The messages
 * themselves, their replies and bounds are protocol.ts's, the same on both
 * transports.
 */

import type { HandshakeAuth, WireError } from './protocol.js';

/**
 * The lock protocol over a plain WebSocket (the `ws` transport; socket.io
 * stays for the dashboard and is the other transport of the lock client):
 * the same events, messages, replies and bounds, on the path WS_PATH of
 * the server's HTTP port. Every frame is one text frame holding one JSON
 * array; a binary frame, a frame that is not such an array or one over the
 * message bound ends the connection (as socket.io's parser does), and the
 * session lives on for its lease.
 *
 * - The client's first frame is `["hello", HandshakeAuth]`; the server
 *   answers `["session", SessionInfo]`, or `["refused", WireError]` and
 *   closes with WS_CLOSE_BY_SERVER.
 * - A call that wants its answer: `[event, message, id]` (id a positive
 *   integer chosen by the asking side); its answer: `["ack", id, answer]`.
 *   Without an id, no answer is sent. Both sides ask: the client its calls,
 *   the server a hang-dump's `report`.
 * - Everything else is `[event, message]`: `m` batches both ways, `closed`.
 * - Heartbeats are WebSocket pings from the server every `heartbeatMs`
 *   (in SessionInfo); a side that hears nothing for two of them plus a
 *   second drops the connection.
 * - WS_CLOSE_BY_SERVER: the server dropped the connection on purpose (a
 *   refusal, or after `closed`): the client does not reconnect. Any other
 *   close (a network loss, the server stopping) is retried.
 */
export const WS_PATH = '/lockscope/ws';
export const WS_CLOSE_BY_SERVER = 4000;
export type WsFrame =
  | [event: 'hello', auth: HandshakeAuth]
  | [event: 'refused', error: WireError]
  | [event: 'ack', id: number, answer: unknown]
  | [event: string, message: unknown, id?: number];
