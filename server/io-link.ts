/**
 * A lock-protocol connection over socket.io as a `LockLink` (sockets.ts):
 * a thin adapter, made once per connection. socket.io already gives each
 * event its message and acknowledgement, so an incoming message costs one
 * call more than it did without the adapter and nothing allocated beyond the
 * closure socket.io's listener always was.
 */

import type { ClientToServerEvents, ServerToClientEvents } from '../client/protocol.js';
import type { LinkAck, LinkEvent, LockLink, LockSocket, SocketData } from './sockets.js';

export class IoLink implements LockLink {
  /** Events with a handler: the catch-all (onAny sees every event) leaves them alone. */
  private readonly handled = new Set<string>();

  constructor(private readonly socket: LockSocket) {}

  get data(): SocketData {
    return this.socket.data;
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  get address(): string {
    return this.socket.handshake.address;
  }

  on(event: keyof ClientToServerEvents, handler: (raw: unknown, ack: LinkAck | null) => void): void {
    this.handled.add(event);
    // The listener takes `unknown`: a client may send anything under an event's name, and the schema judges it.
    (this.socket as unknown as { on(e: string, fn: (raw: unknown, ack?: unknown) => void): void }).on(event, (raw, ack) => {
      handler(raw, typeof ack === 'function' ? (ack as LinkAck) : null);
    });
  }

  onOther(handler: (event: string, ack: LinkAck | null) => void): void {
    this.socket.onAny((event: unknown, ...args: unknown[]) => {
      // socket.io's parser also takes a number as an event's name: not one we handle either.
      if (typeof event === 'string' && this.handled.has(event)) return;
      const ack = args.at(-1);
      handler(String(event), typeof ack === 'function' ? (ack as LinkAck) : null);
    });
  }

  emit<E extends LinkEvent>(event: E, msg: Parameters<ServerToClientEvents[E]>[0]): void {
    (this.socket as unknown as { emit(e: string, m: unknown): boolean }).emit(event, msg);
  }

  ask(event: 'report', deadlineMs: number, cb: (err: Error | null, answer: unknown) => void): void {
    this.socket.timeout(deadlineMs).emit(event, {}, cb);
  }

  disconnect(): void {
    this.socket.disconnect(true);
  }

  onDisconnect(fn: () => void): void {
    this.socket.on('disconnect', fn);
  }
}
