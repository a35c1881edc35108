/**
 * The lock protocol's socket.io types on the server: the server and socket
 * typed with the client's event maps (client/protocol.ts), and what the
 * server keeps on each connection. Types only; server-side, so the wire's
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

export type LockServerIo = Server<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
export type LockSocket = Socket<ClientToServerEvents, ServerToClientEvents, Record<string, never>, SocketData>;
