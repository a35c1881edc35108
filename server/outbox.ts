/**
 * Everything the server sends to one lock-protocol connection goes through
 * its Outbox, in order: replies, pushes (blocking, lost, update, grace) and
 * late replies. What is sent in one turn of the event loop leaves as one
 * socket.io message (`m`), one WebSocket frame, one write: on this machine a
 * write to a loopback socket whose reader sleeps costs tens of microseconds,
 * more than the lock operation itself, and a busy connection (many owners,
 * a hot resource handed on) would otherwise pay it per message.
 *
 * A request sent the plain socket.io way (an event with an acknowledgement)
 * is answered through that acknowledgement; what is buffered goes first, so
 * the client still sees everything in the order the server did it.
 */

import type { LockSocket, Reply, ServerItem } from './protocol.js';

/** Items per `m` message; more in one turn go as several. */
const ITEMS_MAX = 1000;

export class Outbox {
  private items: ServerItem[] = [];
  private scheduled = false;
  private readonly flushNow = (): void => {
    this.scheduled = false;
    this.flush();
  };

  constructor(private readonly socket: LockSocket) {}

  /** The reply to a request the client sent in a batch, under the key it gave. */
  reply(key: number, reply: Reply<unknown>): void {
    this.add(['ack', key, reply]);
  }

  /** A message without a request: blocking, lost, update, reply, grace. */
  push(item: ServerItem): void {
    this.add(item);
  }

  /** Answer through a socket.io acknowledgement, after what is already buffered. */
  ack(fn: (r: Reply<unknown>) => void, reply: Reply<unknown>): void {
    this.flush();
    fn(reply);
  }

  /** Send what is buffered now (also before a message sent outside the outbox). */
  flush(): void {
    if (this.items.length === 0) return;
    const batch = this.items;
    this.items = [];
    // A connection gone meanwhile: replies are kept by the session (`recent`) and asked for again (`sync`).
    if (this.socket.connected) this.socket.emit('m', batch);
  }

  private add(item: ServerItem): void {
    this.items.push(item);
    if (this.items.length >= ITEMS_MAX) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      // After this turn's I/O callbacks and the grants they caused (promise continuations): all in one message.
      setImmediate(this.flushNow);
    }
  }
}

/** The connection's outbox, made on first use. */
export function outboxOf(socket: LockSocket): Outbox {
  return (socket.data.outbox ??= new Outbox(socket));
}
