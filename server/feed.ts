/**
 * The live feed for the dashboard: socket.io namespace `/feed`, viewer or
 * admin. A new subscriber gets the whole snapshot and the session list;
 * after that, lock events are batched and sent a few times a second (the
 * dashboard stays fast with 10,000 locks because it never gets one message
 * per lock). When a batch would pass its bound the events are dropped and
 * the batch says `overflow`: the dashboard then asks for a new snapshot.
 * The manager's events are listened to only while someone is subscribed.
 */

import type { Namespace, Socket } from 'socket.io';
import type { Hang, LockManager, LockEvents, Snapshot } from '../src/index.js';
import { Auth, type Principal } from './auth.js';
import { presentedToken } from './page-cookie.js';
import { errorReply } from './errors.js';
import { serverLimits } from './limits.js';
import type { SnapshotReads } from './snapshot-reads.js';
import type { FeedBatch, FeedClientEvents, FeedEvent, FeedEventName, FeedEvents, HangEventName, SessionSummary } from './protocol.js';
import type { LockServerIo } from './sockets.js';

interface FeedData {
  principal: Principal;
  domains: Set<string> | null;
}
type FeedNamespace = Namespace<FeedClientEvents, FeedEvents, Record<string, never>, FeedData>;
type FeedSocket = Socket<FeedClientEvents, FeedEvents, Record<string, never>, FeedData>;

/**
 * The `/feed` namespace with the feed's own event maps. socket.io types every
 * namespace with the server's maps (the lock protocol's): this is the one
 * place the feed's are put in their stead.
 */
export function feedNamespace(io: LockServerIo): FeedNamespace {
  return io.of('/feed') as unknown as FeedNamespace;
}

const ALL = 'all';
const room = (domain: string): string => `d:${domain}`;

/**
 * The events the feed and the history forward, at run time: the names of
 * FeedEventName as a record's keys, so that a name missing here, or one
 * that is not an event, does not compile.
 */
const FORWARDED_NAMES: Readonly<Record<FeedEventName, true>> = {
  granted: true, waiting: true, failed: true, converted: true, demoted: true, released: true, 'cache-use': true, deadlock: true,
  hang: true, 'hang-persistent': true, 'hang-resolved': true, 'long-hold': true, 'order-inversion': true, grace: true,
};
export const FORWARDED = Object.keys(FORWARDED_NAMES) as FeedEventName[];

const HANG_NAMES: Readonly<Record<HangEventName, true>> = { hang: true, 'hang-persistent': true, 'hang-resolved': true };
const isHangEvent = (event: FeedEventName): event is HangEventName => Object.hasOwn(HANG_NAMES, event);

/**
 * One forwarded event as a batch carries it. `payload` is `event`'s own
 * (each listener is registered for its event), which the union of payloads
 * cannot say: the one place the pair is asserted.
 */
export function feedEvent(event: FeedEventName, payload: LockEvents[FeedEventName], dumpOf: (hangId: number) => string | null): FeedEvent {
  if (isHangEvent(event)) return { event, payload: { ...(payload as Hang), dump: dumpOf((payload as Hang).id) } } as FeedEvent;
  return { event, payload } as FeedEvent;
}

const SESSIONS_EVERY_FLUSHES = Math.max(1, Math.round(1000 / serverLimits.feedIntervalMs));

/** `{ domains: null | string[] }` naming known domains, else undefined. */
function parseDomains(msg: unknown, lm: LockManager): Set<string> | null | undefined {
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || Object.keys(msg).some((k) => k !== 'domains')) return undefined;
  const d = (msg as { domains?: unknown }).domains;
  if (d === null) return null;
  if (!Array.isArray(d) || d.length > lm.domainNames().length || !d.every((x) => typeof x === 'string' && lm.hasDomain(x))) return undefined;
  return new Set(d as string[]);
}

/** The snapshot for a filtered dashboard: every domain listed (the filter menu needs them), only the chosen ones' resources. */
function snapshotFor(reads: SnapshotReads, domains: Set<string> | null): Snapshot {
  const snap = reads.snapshot();
  if (domains === null) return snap;
  return {
    ...snap,
    domains: snap.domains.map((d) => (domains.has(d.name) ? d : { ...d, resources: [] })),
    edges: snap.edges.filter((e) => domains.has(e.domain)),
    cycles: snap.cycles.filter((c) => c.entries.some((x) => domains.has(x.domain))),
    hangs: snap.hangs.filter((h) => domains.has(h.domain)),
  };
}

/** The part of a batch that concerns `domains`: their lock events and edges, and what belongs to no domain (grace). */
function batchFor(b: FeedBatch, domains: Set<string>): FeedBatch {
  const keep = (e: FeedBatch['events'][number]): boolean => {
    const p = e.payload as { domain?: string; cycle?: Array<{ domain: string }>; classes?: [string, string] };
    if (typeof p.domain === 'string') return domains.has(p.domain);
    if (Array.isArray(p.cycle)) return p.cycle.some((c) => domains.has(c.domain));
    if (Array.isArray(p.classes)) return p.classes.some((c) => domains.has(c.split(':')[0]!));
    return true;
  };
  const out: FeedBatch = { events: b.events.filter(keep), overflow: b.overflow };
  if (b.graph !== undefined) {
    const edges = b.graph.edges.filter((e) => domains.has(e.domain));
    const ids = new Set(edges.flatMap((e) => [e.from, e.to]));
    out.graph = { edges, cycles: b.graph.cycles.filter((c) => c.entries.some((x) => domains.has(x.domain))), owners: b.graph.owners.filter((o) => ids.has(o.id)) };
  }
  return out;
}

/**
 * R3: `fn` at most snapshotReadsPerSecond times a second; an ask within the
 * interval is done when it ends, once for all the asks meanwhile.
 */
function throttled(fn: () => void): { ask(): void; cancel(): void } {
  const gapMs = 1000 / serverLimits.snapshotReadsPerSecond;
  let lastAt = Number.NEGATIVE_INFINITY;
  let timer: NodeJS.Timeout | null = null;
  const run = (): void => {
    timer = null;
    lastAt = Date.now();
    fn();
  };
  return {
    ask(): void {
      if (timer !== null) return;
      const wait = lastAt + gapMs - Date.now();
      if (wait <= 0) run();
      else timer = setTimeout(run, wait);
    },
    cancel(): void {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}

/**
 * `dumpOf`: the dump a hang started (null: none, rate limited), added to the
 * hang events as `dump`. The dumper listens before the feed does, so the id is known.
 */
export function startFeed(
  io: LockServerIo, lm: LockManager, reads: SnapshotReads, auth: Auth, sessions: () => SessionSummary[], internalError: (err: unknown) => void,
  dumpOf: (hangId: number) => string | null = () => null,
): () => void {
  const nsp = feedNamespace(io);
  const events = feedBatches(nsp, lm, sessions, dumpOf);
  nsp.use((socket, next) => {
    try {
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token ?? presentedToken(socket.handshake.headers);
      const principal = auth.identify(token);
      Auth.require(principal, 'read');
      socket.data.principal = principal;
      next();
    } catch (err) {
      next(Object.assign(new Error('refused'), { data: errorReply(err, internalError).error }));
    }
  });
  nsp.on('connection', (socket) => {
    if (nsp.sockets.size === 1) events.subscribe(true);
    subscriber(socket, lm, reads, sessions);
    socket.on('disconnect', () => {
      if (nsp.sockets.size === 0) events.subscribe(false);
    });
  });
  return () => events.stop();
}

/**
 * The manager's events while someone is subscribed, batched and sent every
 * `feedIntervalMs` to every room that has a member (the session list too,
 * once a second when it changed).
 */
function feedBatches(
  nsp: FeedNamespace, lm: LockManager, sessions: () => SessionSummary[], dumpOf: (hangId: number) => string | null,
): { subscribe(on: boolean): void; stop(): void } {
  let batch: FeedBatch = { events: [], overflow: false };
  let timer: NodeJS.Timeout | null = null;
  const listeners = FORWARDED.map((event) => {
    const listener = (payload: LockEvents[FeedEventName]): void => {
      if (batch.events.length >= serverLimits.feedBatchMax) batch.overflow = true;
      else batch.events.push(feedEvent(event, payload, dumpOf));
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
    out.graph = lm.waitForGraph();
    nsp.to(ALL).emit('batch', out);
    // Rooms per domain: a dashboard filtered to one domain gets that domain's events and edges only.
    for (const name of lm.domainNames()) {
      if ((nsp.adapter.rooms.get(room(name))?.size ?? 0) === 0) continue;
      nsp.to(room(name)).emit('batch', batchFor(out, new Set([name])));
    }
  };
  const subscribe = (on: boolean): void => {
    for (const { event, listener } of listeners) {
      if (on) lm.on(event, listener);
      else lm.off(event, listener);
    }
    if (on) timer = setInterval(flush, serverLimits.feedIntervalMs);
    else if (timer !== null) {
      clearInterval(timer);
      timer = null;
      batch = { events: [], overflow: false };
    }
  };
  return {
    subscribe,
    stop: () => {
      if (timer !== null) subscribe(false);
    },
  };
}

/** One dashboard connection: the state now, then the state again when it asks (refresh, a new domain filter), throttled (R3). */
function subscriber(socket: FeedSocket, lm: LockManager, reads: SnapshotReads, sessions: () => SessionSummary[]): void {
  socket.data.domains = null;
  void socket.join(ALL);
  socket.emit('snapshot', reads.snapshot());
  socket.emit('sessions', sessions());
  // R3: snapshots this connection asks for, one per turn of its throttle however often it asks.
  const send = throttled(() => {
    socket.emit('snapshot', snapshotFor(reads, socket.data.domains));
    socket.emit('sessions', sessions());
  });
  // A dashboard that saw `overflow` asks for the state again.
  socket.on('refresh', send.ask);
  socket.on('subscribe', (msg: unknown) => {
    const domains = parseDomains(msg, lm);
    // Bad input changes nothing: the subscription stays as it was.
    if (domains === undefined) return;
    for (const r of socket.rooms) if (r !== socket.id) void socket.leave(r);
    socket.data.domains = domains;
    if (domains === null) void socket.join(ALL);
    else for (const d of domains) void socket.join(room(d));
    send.ask();
  });
  socket.on('disconnect', () => send.cancel());
}
