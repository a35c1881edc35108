/**
 * The live feed for the dashboard: socket.io namespace `/feed`, viewer or
 * admin. A new subscriber gets the whole snapshot and the session list;
 * after that, lock events are batched and sent a few times a second (the
 * dashboard stays fast with 10,000 locks because it never gets one message
 * per lock). When a batch would pass its bound the events are dropped and
 * the batch says `overflow`: the dashboard then asks for a new snapshot.
 * The manager's events are listened to only while someone is subscribed.
 */

import type { Namespace } from 'socket.io';
import type { LockManager, LockEvents } from '../src/index.js';
import { Auth, bearer, type Principal } from './auth.js';
import { errorReply } from './errors.js';
import { serverLimits } from './limits.js';
import type { FeedBatch, FeedClientEvents, FeedEvents, LockServerIo, SessionSummary } from './protocol.js';

type FeedNamespace = Namespace<FeedClientEvents, FeedEvents, Record<string, never>, { principal: Principal }>;

const FORWARDED = [
  'granted', 'waiting', 'failed', 'converted', 'demoted', 'released', 'deadlock', 'hang', 'hang-persistent', 'hang-resolved',
  'long-hold', 'order-inversion', 'grace',
] as const satisfies readonly (keyof LockEvents)[];

export function startFeed(io: LockServerIo, lm: LockManager, auth: Auth, sessions: () => SessionSummary[], internalError: (err: unknown) => void): () => void {
  const nsp = io.of('/feed') as unknown as FeedNamespace;
  let batch: FeedBatch = { events: [], overflow: false };
  let timer: NodeJS.Timeout | null = null;
  const listeners = FORWARDED.map((event) => {
    const listener = (payload: unknown): void => {
      if (batch.events.length >= serverLimits.feedBatchMax) batch.overflow = true;
      else batch.events.push({ event, payload } as FeedBatch['events'][number]);
    };
    return { event, listener };
  });
  const flush = (): void => {
    if (batch.events.length === 0 && !batch.overflow) return;
    const out = batch;
    batch = { events: [], overflow: false };
    nsp.emit('batch', out);
  };
  const subscribe = (on: boolean): void => {
    for (const { event, listener } of listeners) {
      if (on) lm.on(event, listener as never);
      else lm.off(event, listener as never);
    }
    if (on) timer = setInterval(flush, serverLimits.feedIntervalMs);
    else if (timer !== null) {
      clearInterval(timer);
      timer = null;
      batch = { events: [], overflow: false };
    }
  };

  nsp.use((socket, next) => {
    try {
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token ?? bearer(socket.handshake.headers.authorization);
      const principal = auth.identify(token);
      Auth.require(principal, 'read');
      socket.data.principal = principal;
      next();
    } catch (err) {
      next(Object.assign(new Error('refused'), { data: errorReply(err, internalError).error }));
    }
  });
  nsp.on('connection', (socket) => {
    if (nsp.sockets.size === 1) subscribe(true);
    socket.emit('snapshot', lm.snapshot());
    socket.emit('sessions', sessions());
    // A dashboard that saw `overflow` asks for the state again.
    socket.on('refresh', () => {
      socket.emit('snapshot', lm.snapshot());
      socket.emit('sessions', sessions());
    });
    socket.on('disconnect', () => {
      if (nsp.sockets.size === 0) subscribe(false);
    });
  });
  return () => {
    if (timer !== null) subscribe(false);
  };
}
