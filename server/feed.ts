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
import type { FeedBatch, FeedClientEvents, FeedEvents, FeedGraph, LockServerIo, SessionSummary } from './protocol.js';

type FeedNamespace = Namespace<FeedClientEvents, FeedEvents, Record<string, never>, { principal: Principal }>;

const FORWARDED = [
  'granted', 'waiting', 'failed', 'converted', 'demoted', 'released', 'deadlock', 'hang', 'hang-persistent', 'hang-resolved',
  'long-hold', 'order-inversion', 'grace',
] as const satisfies readonly (keyof LockEvents)[];

const SESSIONS_EVERY_FLUSHES = Math.max(1, Math.round(1000 / serverLimits.feedIntervalMs));

/** The wait-for graph without a whole snapshot: a batch carries it, and a snapshot of 10,000 locks a few times a second would not be cheap. */
function liveGraph(lm: LockManager): FeedGraph {
  const owners = new Map<number, FeedGraph['owners'][number]>();
  const seen = (o: { id: number; name: string; meta: Record<string, unknown> | null; priority: number; holding: number; waiting: number }): void => {
    if (!owners.has(o.id)) owners.set(o.id, { id: o.id, name: o.name, meta: o.meta, priority: o.priority, holding: o.holding, waiting: o.waiting });
  };
  const edges = lm.detector.graph.edges().map(({ wait, blocker }): FeedGraph['edges'][number] => {
    seen(wait.owner);
    seen(blocker.to);
    return {
      from: wait.owner.id, fromName: wait.owner.name, to: blocker.to.id, toName: blocker.to.name, kind: blocker.hard ? 'hard' : 'soft',
      domain: wait.domain, resource: wait.resource, wanted: wait.wanted, blockerMode: blocker.mode, waitId: wait.id,
    };
  });
  return { edges, cycles: edges.length === 0 ? [] : lm.detector.currentCycles(), owners: [...owners.values()] };
}

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
  let lastSessions = '';
  let flushes = 0;
  const flush = (): void => {
    // Sessions change without lock events (a client connects, drops, expires): sent when they differ, once a second.
    if (++flushes % SESSIONS_EVERY_FLUSHES === 0) {
      const list = sessions();
      const text = JSON.stringify(list);
      if (text !== lastSessions) nsp.emit('sessions', list);
      lastSessions = text;
    }
    if (batch.events.length === 0 && !batch.overflow) return;
    const out = batch;
    batch = { events: [], overflow: false };
    out.graph = liveGraph(lm);
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
