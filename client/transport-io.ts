/**
 * The `socket.io` transport (transport.ts): the protocol's events as
 * socket.io events, the handshake in socket.io's `auth` (read anew on each
 * connection), a refusal as a connect_error carrying the server's
 * WireError, a deliberate drop as socket.io's "io server disconnect".
 */

import { io, type Socket } from 'socket.io-client';
import type { ClientItem, ClientToServerEvents, DirectEvent, MessageOf, Reply, ReplyOf, ServerToClientEvents } from './protocol.js';
import { closingReason, type Transport, type TransportEvents, type TransportOptions } from './transport.js';

/** socket.io's emit for one event of the protocol, with its message and acknowledgement. */
type EmitOne<E extends DirectEvent> = (event: E, message: MessageOf<E>, ack: (reply: Reply<ReplyOf<E>>) => void) => void;

export class IoTransport implements Transport {
  private readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  generation = 0;

  constructor(options: TransportOptions, events: TransportEvents) {
    this.socket = io(options.url, {
      autoConnect: false,
      // One connection per client: socket.io would otherwise share one among clients of the same server,
      // and a session is one client's.
      forceNew: true,
      transports: ['websocket'],
      // Retries are driven by the probe this process shares among the clients of this server (reconnect.ts),
      // on socket.io's own backoff (first retry soon, then up to 2 s: well within a lease).
      reconnection: false,
      auth: (cb) => cb(options.auth()),
    });
    const s = this.socket;
    s.on('connect', () => {
      this.generation++;
      events.reached();
    });
    s.on('session', (info) => events.session(info));
    s.on('closed', (m) => events.closing(closingReason(m)));
    s.on('disconnect', (reason) => {
      events.dropped(reason === 'io server disconnect' ? 'server' : reason === 'io client disconnect' ? 'client' : 'network');
    });
    s.on('connect_error', (err: Error & { data?: unknown }) => {
      if (err.data === undefined) events.unreachable();
      else events.refused(err.data);
    });
    s.on('m', (items) => events.items(items));
    s.on('report', (_m, ack) => events.report(ack));
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  connect(): void {
    if (!this.socket.connected) this.socket.connect();
  }

  disconnect(): void {
    this.socket.disconnect();
  }

  cut(): void {
    this.socket.io.engine?.close();
  }

  batch(items: ClientItem[]): void {
    this.socket.emit('m', items);
  }

  call<E extends DirectEvent>(event: E, message: MessageOf<E>, answer: (reply: Reply<ReplyOf<E>>) => void): void {
    // socket.io's typed emit spreads each event's parameters, which a generic event cannot name: the protocol's map says the same.
    (this.socket.emit as unknown as EmitOne<E>)(event, message, answer);
  }
}
