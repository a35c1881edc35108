/**
 * The server's protocol, types only: the lock protocol the remote client
 * speaks (defined beside the client in src/client/protocol.ts, since src may
 * not import from server/) and the live feed the dashboard reads. The
 * dashboard imports this file and nothing else from the server.
 */

import type { Server, Socket } from 'socket.io';
import type { ClientToServerEvents, ServerToClientEvents } from '../src/client/protocol.js';
import type { EdgeSnapshot, LockEvents, OwnerSnapshot, Snapshot } from '../src/index.js';
import type { DumpRecord } from '../collectors/types.js';
import type { Principal } from './auth.js';
import type { Outbox } from './outbox.js';

export type * from '../src/client/protocol.js';
/** The state's shapes, re-exported so the dashboard needs this one file. */
export type {
  CurrentCycle, CycleEntry, DeadlockRecord, EdgeSnapshot, GraceState, Hang, LockSnapshot, OwnerSnapshot, RootBlocker, Snapshot,
} from '../src/index.js';
export type { DumpRecord } from '../collectors/types.js';

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

/** A session as the API and dashboard list it. */
export interface SessionSummary {
  id: string;
  client: string;
  host: string;
  pid: number | null;
  role: Principal['role'];
  state: 'live' | 'disconnected' | 'expired';
  owners: number;
  locks: number;
  pending: number;
  createdAt: number;
}

export interface GraphNode {
  id: number;
  name: string;
  client: string | null;
  host: string | null;
  pid: number | null;
  holding: number;
  waiting: number;
}

export interface WaitForGraph {
  nodes: GraphNode[];
  /** The core's wait-for edges: `from` waits for `to` (owner ids). */
  edges: EdgeSnapshot[];
  /** Cycles present right now (normally none: they are broken as they form). */
  cycles: Snapshot['cycles'];
}

/** The manager events the feed forwards. */
export type FeedEventName =
  | 'granted' | 'waiting' | 'failed' | 'converted' | 'demoted' | 'released' | 'deadlock'
  | 'hang' | 'hang-persistent' | 'hang-resolved' | 'long-hold' | 'order-inversion' | 'grace';

/** The hang events carry the id of the hang-dump the hang started (null: none was taken, e.g. rate limited). */
type FeedPayload<K extends FeedEventName> = K extends 'hang' | 'hang-persistent' | 'hang-resolved' ? LockEvents[K] & { dump: string | null } : LockEvents[K];

/** One forwarded manager event. */
export type FeedEvent = { [K in FeedEventName]: { event: K; payload: FeedPayload<K> } }[FeedEventName];

/** Events since the last batch, oldest first. `overflow`: some were dropped; ask for a new snapshot (`refresh`). */
export interface FeedBatch {
  events: FeedEvent[];
  overflow: boolean;
  /** The wait-for graph after these events (events do not say who blocks whom); absent when nothing happened. */
  graph?: FeedGraph;
}

/** The wait-for graph as the dashboard draws it: edges, current cycles, and the owners on them (with their metadata). */
export interface FeedGraph {
  edges: EdgeSnapshot[];
  cycles: Snapshot['cycles'];
  owners: OwnerSnapshot[];
}

/** The live feed to the dashboard (namespace `/feed`, viewer or admin; token in `auth.token`). */
export interface FeedEvents {
  /** The whole state, on subscribing and on `refresh`. */
  snapshot(s: Snapshot): void;
  sessions(list: SessionSummary[]): void;
  /** Lock events, a few times a second. */
  batch(b: FeedBatch): void;
  /** The hang-dumps, on subscribing and whenever one is written, classified or removed. */
  dumps(list: DumpRecord[]): void;
}

export interface FeedClientEvents {
  refresh(): void;
  /**
   * Receive only these domains' locks, events and graph edges (null: all).
   * Filtering happens on the server: each domain is a room. Answered with a
   * snapshot in which the other domains are listed without their resources.
   */
  subscribe(msg: { domains: string[] | null }): void;
}

/** What a timeline marks. `failover` is kept for the cluster (not emitted yet). */
export type MarkerKind = 'deadlock' | 'hang' | 'hang-persistent' | 'dump' | 'grace' | 'failover';

export interface HistoryMarker {
  /** Wall-clock ms. */
  time: number;
  kind: MarkerKind;
  label: string;
  /** The first kept moment whose state includes it (the flush that stored its batch); absent until then. */
  at?: number;
}

/** `GET /api/history`: the kept window (`from` null when nothing is kept yet) and its markers. */
export interface HistoryIndex {
  from: number | null;
  to: number;
  bytes: number;
  bytesMax: number;
  windowMs: number;
  markers: HistoryMarker[];
}

/** One stored flush: a batch of events (with the graph after it) and/or the session list when it changed. */
export interface HistoryEntry {
  time: number;
  batch?: FeedBatch;
  sessions?: SessionSummary[];
}

/** `GET /api/history/moment?at=ms`: the state at a moment, as a keyframe and the entries after it up to that moment. */
export interface HistoryMoment {
  time: number;
  keyframeTime: number;
  state: { snapshot: Snapshot; sessions: SessionSummary[] };
  entries: HistoryEntry[];
}

/** One line of a top list (`GET /api/history/top`). */
export interface TopEntry {
  /** `domain:resource` for resources, the owner's name for blockers. */
  key: string;
  /** Waiting time charged, ms: every waiter's time adds up. */
  waitMs: number;
  /** Distinct waits seen. */
  waits: number;
  /** Blockers: the owner's id when last seen (to find its session). */
  ownerId?: number;
}

/** The resources waited on longest and the owners that made others wait longest, over [from, to]. */
export interface TopLists {
  from: number;
  to: number;
  resources: TopEntry[];
  blockers: TopEntry[];
}
