/**
 * The wire's shapes, types only: what the server gives the dashboard — the
 * live feed (`/feed`), the REST answers it reads, the history. Built on the
 * core's shapes (src/shapes.ts) and the collectors' (collectors/shapes.ts),
 * and importing nothing else, so the dashboard's build reads these three
 * files (and server/cluster/shapes.ts) and no behaviour of the server or the
 * core: the dashboard imports this file and the cluster's shapes, nothing
 * else from the server. The lock protocol the remote client speaks is
 * defined beside the client (client/protocol.ts); its socket.io types
 * on the server are in sockets.ts.
 */

import type { EdgeSnapshot, GraphSnapshot, LockEvents, Snapshot } from '../src/shapes.js';
import type { DumpRecord, LockFilesView } from '../collectors/shapes.js';

/** The state's shapes, re-exported so the dashboard needs this one file. */
export type {
  CurrentCycle, CycleEntry, DeadlockRecord, EdgeSnapshot, GraceState, Hang, LockSnapshot, OwnerSnapshot, RootBlocker, Snapshot,
} from '../src/shapes.js';
export type { DumpRecord } from '../collectors/shapes.js';

/** What a token lets its bearer do (auth.ts decides which actions each allows). */
export type Role = 'client' | 'viewer' | 'admin';

/** A session as the API and dashboard list it. */
export interface SessionSummary {
  id: string;
  client: string;
  host: string;
  pid: number | null;
  role: Role;
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

/** The manager events the feed forwards: every event of its typed map (LockEvents, src/shapes.ts). */
export type FeedEventName = keyof LockEvents;

/** The events of a hang's life. */
export type HangEventName = 'hang' | 'hang-persistent' | 'hang-resolved';

/** The hang events carry the id of the hang-dump the hang started (null: none was taken, e.g. rate limited). */
type FeedPayload<K extends FeedEventName> = K extends HangEventName ? LockEvents[K] & { dump: string | null } : LockEvents[K];

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
export type FeedGraph = GraphSnapshot;

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

/** `GET /api/lockfiles`: a listed file, with when this server first saw its current holders hold it (the kernel keeps no lock time). */
export type LockFileRow = LockFilesView['files'][number] & { heldSeenSince: number | null };

/** `GET /api/lockfiles`: no directory configured, the scan, or why the scan failed (an answer about the machine, not an API failure). */
export type LockFilesAnswer =
  | { configured: false }
  | ({ configured: true } & Omit<LockFilesView, 'files'> & { files: LockFileRow[] })
  | { configured: true; dir: string; error: { code: string; message: string } };
