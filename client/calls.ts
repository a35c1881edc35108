/**
 * One connection's calls in flight: every message the client waits on a
 * reply for, numbered, found by its key (the `ack` of a batched item) or by
 * its request number (a `reply` that completed while the client was away),
 * and settled once; and what becomes of the calls when their session is
 * lost, replaced after a server restart, or their node is gone for good.
 *
 * Preconditions: a call is in the table from `open` until it settles, and
 * settling takes it out, so a second settle is a no-op (a call is answered
 * once). The table sends nothing: when a call goes, and on which connection,
 * is the connection's business (connection.ts); `sentOn` is what it records.
 */

import type { CallEvent, MessageOf, Reply, ReplyOf, WireError } from './protocol.js';
import { fromWire } from './wire.js';

/** One message the client is waiting on a reply for. */
export interface Call {
  /** Its number on this client: a batched request's reply comes back under it. */
  key: number;
  event: CallEvent;
  /**
   * Built at send time, so an owner registration can go first on a new
   * session. Its event's message (`open` takes them together); the table
   * holds calls of every event, so the type here is any event's message.
   */
  message: () => MessageOf<CallEvent>;
  /** Request number: the server keeps such a request across reconnections. */
  req: number | null;
  /** Connection number it was last sent on (0: not yet). */
  sentOn: number;
  settle(reply: Reply<unknown>): void;
  /** What to do when the session is gone: fail with this error, succeed, or (null) send again on the new one. */
  onSessionLost: WireError | 'succeed' | null;
  /** The caller gave up (signal, client-side timeout): the server is told whenever this call reaches it. */
  cancelled: boolean;
  /** Sent while the connection is reclaiming, too (the replay itself, owner registrations). */
  early: boolean;
}

export interface CallOptions {
  /** A request the server may keep waiting, under this number (Connection.nextReq). */
  req?: number;
  onSessionLost?: WireError | 'succeed' | null;
  early?: boolean;
}

export class CallTable {
  /** Keys and request numbers come from one sequence. */
  private seq = 0;
  private readonly byKey = new Map<number, Call>();
  private readonly byReq = new Map<number, Call>();

  /** Calls sent or queued and not answered yet. */
  get size(): number {
    return this.byKey.size;
  }

  nextReq(): number {
    return ++this.seq;
  }

  /** The call a batched reply (`ack`) answers. */
  get(key: number): Call | undefined {
    return this.byKey.get(key);
  }

  /** The call waiting under request number `req`. */
  request(req: number): Call | undefined {
    return this.byReq.get(req);
  }

  /** Every call, in the order they were made (a copy: settling one takes it out of the table). */
  all(): Call[] {
    return [...this.byKey.values()];
  }

  /**
   * A new call, in the table until it settles: resolved with its reply's
   * value, or rejected with its LockError.
   */
  open<E extends CallEvent>(
    event: E, message: () => MessageOf<E>, opts: CallOptions, resolve: (value: ReplyOf<E>) => void, reject: (err: Error) => void,
  ): Call {
    const key = ++this.seq;
    const call: Call = {
      key, event, message, req: opts.req ?? null, sentOn: 0, onSessionLost: opts.onSessionLost ?? null, cancelled: false, early: opts.early ?? false,
      settle: (reply) => {
        if (!this.byKey.delete(key)) return;
        if (call.req !== null) this.byReq.delete(call.req);
        if ('ok' in reply) {
          // The server answers each event with its reply's shape (protocol.ts): the wire is not checked again here.
          resolve(reply.ok as ReplyOf<E>);
          return;
        }
        const e = fromWire(reply.error);
        // A failed conversion carries the lock's state after it, for the handle's mirror.
        if (reply.error.lock !== undefined) Object.defineProperty(e, 'serverLock', { value: reply.error.lock });
        reject(e);
      },
    };
    this.byKey.set(key, call);
    if (call.req !== null) this.byReq.set(call.req, call);
    return call;
  }

  /** Every call ends with `reply` (the client is closed, refused, or its session closed by the server). */
  settleAll(reply: Reply<unknown>): void {
    for (const c of this.all()) c.settle(reply);
  }

  /**
   * The server restarted and this client may reclaim: what the dead server
   * had is not failed. Releases and registrations are moot (it holds nothing
   * now); every other request is to be sent again (`sentOn` 0).
   */
  requeue(): void {
    for (const c of this.all()) {
      if (c.sentOn === 0) continue;
      if (c.early && c.onSessionLost !== null && c.onSessionLost !== 'succeed') c.settle({ error: c.onSessionLost });
      else if (c.onSessionLost === 'succeed') c.settle({ ok: null });
      else c.sentOn = 0;
    }
  }

  /** The old session is gone: the calls it had end as `onSessionLost` says; the rest wait for the new one. */
  loseSession(): void {
    for (const c of this.all()) {
      if (c.sentOn === 0 || c.onSessionLost === null) continue;
      if (c.onSessionLost === 'succeed') c.settle({ ok: null });
      else c.settle({ error: c.onSessionLost });
    }
  }

  /** Every call ends now: releases (and what else succeeds with a lost session) as done, the rest with `error`. */
  failAll(error: WireError): void {
    for (const c of this.all()) c.settle(c.onSessionLost === 'succeed' ? { ok: null } : { error });
  }
}
