/**
 * The lock protocol's framing on a plain WebSocket (the `ws` transport:
 * client/transport-ws.ts, server/ws-link.ts and ws-server.ts). The messages
 * themselves, their replies and bounds are protocol.ts's, the same on both
 * transports. Both sides read frames with the one parser here.
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

/** A frame as received, its shape checked: [event, message, id (0: none)]; an answer is ['ack', answer, id]. */
export type ParsedFrame = [event: string, msg: unknown, id: number];

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/**
 * One frame's text, as either side receives it: `[event, message]` or
 * `[event, message, id]`, and an answer `["ack", id, answer]` as ['ack',
 * answer, id]; otherwise why it is not a frame (the connection ends).
 */
export function parseFrame(data: Buffer): ParsedFrame | string {
  let v: unknown;
  try {
    v = JSON.parse(data.toString('utf8'));
  } catch {
    return 'not JSON';
  }
  if (!Array.isArray(v) || (v.length !== 2 && v.length !== 3) || typeof v[0] !== 'string') return 'not an [event, message, id?] array';
  if (v[0] === 'ack') return v.length === 3 && isId(v[1]) ? ['ack', v[2], v[1]] : 'an ack without its id';
  if (v.length === 3 && !isId(v[2])) return 'an id that is not a positive integer';
  return [v[0], v[1], v.length === 3 ? (v[2] as number) : 0];
}
