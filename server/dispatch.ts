/**
 * How one connection's messages reach their handlers (lock-protocol.ts):
 * each one sent alone (answered through the transport's acknowledgement:
 * socket.io's, or the ws transport's `ack` frame) or as an item of an `m`
 * batch (answered under its key), the sender's role
 * checked, its request sites kept (request-sites.ts), its schema checked
 * (messages.ts), and any failure turned into the `{ error }` reply
 * (errors.ts), so nothing a client sends can throw out of a handler.
 * Events nobody handles are answered EINVAL when they ask for an answer.
 *
 * Precondition: every handler is registered (`on`) before `listen`.
 */

import { LockError } from '../src/index.js';
import { BATCHED_EVENTS } from '../client/protocol.js';
import type { BatchedEvent, ClientToServerEvents, Reply } from '../client/protocol.js';
import { Auth } from './auth.js';
import { errorReply } from './errors.js';
import { serverLimits } from './limits.js';
import type { Logger } from './log.js';
import { outboxOf } from './outbox.js';
import { SITED, type RequestSites } from './request-sites.js';
import type { LockLink } from './sockets.js';
import type { Schema } from './validate.js';

/** Answers a request; `ended`: the answer ends a wait (a grant or a failure), sent before other answers (outbox.ts). */
export type AckFn = (r: Reply<unknown>, ended?: boolean) => void;

/** Every client event but the batch itself (`m`), each with its handler. */
export type HandledEvent = Exclude<keyof ClientToServerEvents, 'm'>;

/** The handlers of one connection, by event; `m` batches reach the same ones. */
export class Dispatch {
  private readonly handlers = new Map<HandledEvent, (raw: unknown, ack: AckFn | null) => void>();

  constructor(
    private readonly link: LockLink,
    /** The session's id, named in the log line of a bad batch. */
    private readonly sessionId: string,
    private readonly sites: RequestSites,
    private readonly internalError: (err: unknown) => void,
    private readonly log: Logger,
  ) {}

  /**
   * Authorize, keep the request's sites, validate, run; any failure becomes the `{ error }` reply.
   * Budget rule B1 (budget.ts): nothing is stored for a message its sender's role may not send, so a
   * viewer's lock request costs nothing after its reply. The sites of a message from a role that may
   * lock are kept before the message is judged: the client numbers a site once and refers to it after,
   * so a site first sent with a refused request (a bad field, a full quota) still stands for later ones;
   * what is kept is charged to the session's site budget (B4), which bounds what refusals can cost.
   */
  on<T>(event: HandledEvent, schema: Schema<T>, fn: (msg: T, ack: AckFn | null) => unknown, action: 'lock' | null = 'lock'): void {
    const fail = (ack: AckFn | null) => (err: unknown): void => ack?.(errorReply(err, this.internalError));
    const numbersSites = SITED.has(event);
    this.handlers.set(event, (raw, ack) => {
      try {
        if (action !== null) Auth.require(this.link.data.principal, action);
        if (numbersSites) this.sites.keep(raw);
        const msg = schema(raw, event);
        const r = fn(msg, ack);
        if (r instanceof Promise) r.catch(fail(ack));
      } catch (err) {
        fail(ack)(err);
      }
    });
  }

  /** The link's listeners: one per handled event, `m` for batches, and the answer to any other event. */
  listen(): void {
    const outbox = outboxOf(this.link);
    for (const [event, handle] of this.handlers) {
      this.link.on(event, (raw, fn) => handle(raw, fn === null ? null : (r) => outbox.ack(fn, r)));
    }
    this.link.on('m', (raw) => this.batch(raw));
    // Events nobody handles: answered EINVAL when they ask for an answer, never thrown.
    this.link.onOther((_event, fn) => {
      if (fn !== null) outbox.ack(fn, errorReply(new LockError('EINVAL', 'unknown message'), this.internalError));
    });
  }

  /**
   * A batch: each item goes to its handler as if sent alone, in order, and
   * is answered under its key (0: no answer). A malformed batch is dropped
   * whole (it has no key to answer under); a malformed item gets EINVAL.
   */
  private batch(raw: unknown): void {
    if (!Array.isArray(raw) || raw.length > serverLimits.batchItemsMax) {
      this.log('warn', 'bad batch', { session: this.sessionId, reason: Array.isArray(raw) ? `over ${serverLimits.batchItemsMax} items` : 'not an array' });
      return;
    }
    const outbox = outboxOf(this.link);
    for (const item of raw) {
      const parsed = batchItem(item);
      if (parsed === null) continue;
      const [key, event, msg] = parsed;
      const ack: AckFn | null = key === 0 ? null : (r, ended) => outbox.reply(key, r, ended);
      const handle = isBatched(event) ? this.handlers.get(event) : undefined;
      if (handle === undefined) ack?.(errorReply(new LockError('EINVAL', `not a message that can be batched: ${String(event).slice(0, 40)}`), this.internalError));
      else handle(msg, ack);
    }
  }
}

/**
 * What may travel in a batch: requests, an owner's registration (it goes with the owner's first request) and a
 * reclaim (with its owners' registrations: after a restart a client's owners, reclaim and done in one message,
 * answered in one). The message bound (messageBytesMax, on either transport) bounds the whole batch as it did each message.
 */
const BATCHED: ReadonlySet<string> = new Set(BATCHED_EVENTS);

function isBatched(event: unknown): event is BatchedEvent {
  return typeof event === 'string' && BATCHED.has(event);
}

/** A batch item with its key (>= 0), its event and message still to be judged; null: no key, so nowhere to answer. */
function batchItem(item: unknown): [key: number, event: unknown, msg: unknown] | null {
  if (!Array.isArray(item) || item.length !== 3) return null;
  const [key, event, msg]: unknown[] = item;
  return typeof key === 'number' && Number.isSafeInteger(key) && key >= 0 ? [key, event, msg] : null;
}
