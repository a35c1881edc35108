/**
 * Everything the server sends to one lock-protocol connection goes through
 * its Outbox, in order: replies, pushes (blocking, lost, update, grace) and
 * late replies. What is sent in one turn of the event loop leaves as one
 * `m` message, one WebSocket frame, one write (on either transport): on this machine a
 * write to a loopback socket whose reader sleeps costs tens of microseconds,
 * more than the lock operation itself, and a busy connection (many owners,
 * a hot resource handed on) would otherwise pay it per message.
 *
 * A request sent on its own (an event with an acknowledgement: socket.io's,
 * or the ws transport's call with an id) is answered through that
 * acknowledgement; what is buffered goes first, so
 * the client still sees everything in the order the server did it.
 */

import type { Reply, ServerItem } from '../client/protocol.js';
import type { LinkAck, LockLink } from './sockets.js';

/** Items per `m` message; more in one turn go as several. */
const ITEMS_MAX = 1000;

/**
 * The outboxes with something to send this turn, flushed together once the
 * turn's I/O and the grants it caused have run: first those carrying news
 * someone waits on (a grant or failure ending a wait, a push), then the rest
 * (answers to requests that never wait, such as a release). When a release
 * hands a hot lock on, the next holder's grant is written before the
 * releaser's acknowledgement: each write to a sleeping reader costs tens of
 * microseconds here, and only the grant is on the path of the handover.
 * Each connection's own messages keep their order (one Outbox each).
 */
const urgentQueue: Outbox[] = [];
const laterQueue: Outbox[] = [];
let flushScheduled = false;

function scheduleFlush(): void {
  if (flushScheduled) return;
  flushScheduled = true;
  setImmediate(flushQueued);
}

function flushQueued(): void {
  flushScheduled = false;
  // An outbox can be in both queues (a later item made it urgent); the second flush finds it empty.
  for (const queue of [urgentQueue, laterQueue]) {
    for (let i = 0; i < queue.length; i++) queue[i]!.flush();
    queue.length = 0;
  }
}

const NOT_QUEUED = 0;
const QUEUED_LATER = 1;
const QUEUED_URGENT = 2;

export class Outbox {
  private items: ServerItem[] = [];
  private queued = NOT_QUEUED;

  constructor(private readonly link: LockLink) {}

  /**
   * The reply to a request the client sent in a batch, under the key it gave;
   * `ended` when it ends a wait (a grant or a failure), which goes out first.
   */
  reply(key: number, reply: Reply<unknown>, ended = false): void {
    this.add(['ack', key, reply], ended);
  }

  /** A message without a request: blocking, lost, update, reply, grace. */
  push(item: ServerItem): void {
    this.add(item, true);
  }

  /** Answer through the transport's acknowledgement, after what is already buffered. */
  ack(fn: LinkAck, reply: Reply<unknown>): void {
    this.flush();
    fn(reply);
  }

  /** Send what is buffered now (also before a message sent outside the outbox). */
  flush(): void {
    this.queued = NOT_QUEUED;
    if (this.items.length === 0) return;
    const batch = this.items;
    this.items = [];
    // A connection gone meanwhile: replies are kept by the session (`recent`) and asked for again (`sync`).
    if (this.link.connected) this.link.emit('m', batch);
  }

  private add(item: ServerItem, urgent: boolean): void {
    this.items.push(item);
    if (this.items.length >= ITEMS_MAX) {
      this.flush();
    } else if (urgent ? this.queued !== QUEUED_URGENT : this.queued === NOT_QUEUED) {
      (urgent ? urgentQueue : laterQueue).push(this);
      this.queued = urgent ? QUEUED_URGENT : QUEUED_LATER;
      scheduleFlush();
    }
  }
}

/** The connection's outbox, made on first use. */
export function outboxOf(link: LockLink): Outbox {
  return (link.data.outbox ??= new Outbox(link));
}
