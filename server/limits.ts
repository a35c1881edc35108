/**
 * Every bound the lock server enforces, in one place (the core's own bounds
 * are in src/limits.ts). Input over a size bound is EINVAL; a full table is
 * ENOLCK naming the limit.
 */

import { assert } from '../src/assert.js';
import { MESSAGE_BYTES_MAX, MESSAGE_ITEMS_MAX, SITE_CHARS_MAX, SITES_PER_CONNECTION_MAX } from '../client/protocol.js';
import { defaultLimits } from '../src/limits.js';

export interface ServerLimits {
  /**
   * Bytes of one lock-protocol message, on either transport: socket.io's
   * maxHttpBufferSize, the ws transport's maxPayload. A connection that
   * sends more is closed (its session lives on for its lease).
   */
  messageBytesMax: number;
  /** Bytes of an HTTP request body. */
  httpBodyBytesMax: number;
  /** Characters of any string field in a message (names are then checked in bytes by the core). */
  stringCharsMax: number;
  /** Characters of a relayed request-site stack (the client cuts its own to the same bound). */
  siteCharsMax: number;
  /** Characters of a base64 value block (lvbBytesMax 64 → 88). */
  lvbCharsMax: number;
  /** Sessions that exist at once (live or disconnected). */
  sessionsMax: number;
  /**
   * Sessions one principal (token) may have at once: a token, even the
   * client token every client shares, cannot take the whole table. At the
   * quota a new session first ends the principal's oldest disconnected
   * session that holds and waits for nothing (sessions.ts, rule S5).
   */
  sessionsPerPrincipalMax: number;
  /**
   * TCP connections the HTTP server keeps at once (WebSockets, requests,
   * idle keep-alives). At the bound a new connection closes the connection
   * idle longest (no request in progress, not upgraded); with none, the new
   * one is closed (connections.ts).
   */
  connectionsMax: number;
  /**
   * At a session bound, how many of the principal's disconnected sessions a
   * new session looks through for an idle one to end, and how many owners of
   * each it looks at (more owners: not idle): a handshake's work stays small
   * whatever the sessions hold.
   */
  idleScanMax: number;
  /**
   * Longest wait for a request's headers (Node's headersTimeout): a
   * half-sent request holds a descriptor no longer. Also how long a
   * WebSocket may stay without showing its token: socket.io's connectTimeout
   * and the ws transport's wait for `hello`.
   */
  headersTimeoutMs: number;
  /**
   * How long the ws transport waits for a peer to answer its close frame
   * before it cuts the TCP connection (ws's closeTimeout; its default, 30 s,
   * would let a peer that never answers hold a descriptor, and a stopping
   * server's close(), that long). A client answers within a round trip.
   */
  wsCloseTimeoutMs: number;
  /**
   * The heartbeat interval of a lock-protocol connection (socket.io's ping
   * interval and timeout, the ws transport's pings) is a third of the lease,
   * within these bounds: a dead connection is noticed well within the lease,
   * and a short lease does not make heartbeats a load of their own.
   */
  heartbeatMsMin: number;
  heartbeatMsMax: number;
  /** Longest wait for a whole request, body included (Node's requestTimeout). */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection is kept between requests (Node's keepAliveTimeout). */
  keepAliveTimeoutMs: number;
  /** How often Node checks requests against the two timeouts above (its default, 30 s, nearly doubles them). */
  connectionsCheckingIntervalMs: number;
  /** Characters of a session secret (the client sends 43: 32 random bytes, base64url); fewer is refused. */
  secretCharsMin: number;
  secretCharsMax: number;
  /** Owners one session has created. */
  ownersPerSessionMax: number;
  /** Requests of one session pending at once (also bounds replies kept while it is away). */
  pendingPerSessionMax: number;
  /** Replies a session keeps after sending them, for a client whose connection dropped before they arrived. */
  recentRepliesMax: number;
  /** Expired session ids remembered so a returning client is told its locks are gone. */
  expiredSessionsRemembered: number;
  /** Rows one /api/locks answer returns. */
  apiRowsMax: number;
  /** Events in one dashboard feed batch (more: the batch says overflow and the dashboard refetches). */
  feedBatchMax: number;
  /** How often the feed sends a batch. */
  feedIntervalMs: number;
  /**
   * The dashboard's history (history.ts): bytes of serialized snapshots and
   * batches kept in all (0: no history), how far back, how often a new
   * snapshot starts a segment, the event bytes after which one starts
   * sooner (what a scrub replays stays small), and markers kept.
   */
  historyBytesMax: number;
  historyWindowMs: number;
  historyKeyframeEveryMs: number;
  historySegmentBytesMax: number;
  historyMarkersMax: number;
  /** Resources and blockers tallied per history segment for the top lists (contention.ts). */
  contentionKeysMax: number;
  /** Longest lease a configuration may ask for. */
  leaseMsMax: number;
  /** Tokens configured at once. */
  tokensMax: number;
  /** Clients in the durable record (state.ts): one per client that holds or held locks. */
  clientRecordsMax: number;
  /** Locks one `reclaim` message carries (the client sends as many messages as it needs). */
  reclaimItemsMax: number;
  /** Longest grace period a configuration may ask for. */
  graceMsMax: number;
  /** Request sites one connection may number (siteId); the client sends the text again past this. */
  sitesPerConnectionMax: number;
  /** Requests one `m` batch may carry (twice what the client sends, MESSAGE_ITEMS_MAX; the message must also fit messageBytesMax). */
  batchItemsMax: number;
  /** How long a hang-dump waits for each connected client's own report (below the collector's 5 s deadline). */
  clientReportMs: number;
  /** How often a failed write of the state directory is tried again (state.ts): a full disk costs one failed write a second. */
  stateRetryMs: number;
  /** Lines of one event kind the log writes per window before it counts the rest (log.ts): a flood costs one summary line. */
  logLinesPerKindMax: number;
  /** That window: a suppressed kind gets its `log-suppressed` line at its end. */
  logWindowMs: number;
  /** Locks a session's expiry or goodbye drops in one turn before yielding (slices.ts): ~11 µs each, ~20 ms a slice. */
  releaseSliceLocks: number;
  /** Snapshots one feed connection may be sent per second on `refresh` / `subscribe` (snapshot-reads.ts, R3). */
  snapshotReadsPerSecond: number;
  /** A snapshot of at most this many locks and waits is never reused (R2): a small server's readers see the state of now. */
  snapshotFreshLocksMax: number;
  /** Locks and waits one snapshot read (REST, feed) carries at most (R1): 6–40 µs (GC included) and ~250 bytes of JSON each. */
  apiSnapshotLocksMax: number;
}

export const serverLimits: Readonly<ServerLimits> = Object.freeze({
  clientReportMs: 3_000,
  releaseSliceLocks: 2_000,
  snapshotReadsPerSecond: 2,
  snapshotFreshLocksMax: 2_000,
  apiSnapshotLocksMax: 10_000,
  messageBytesMax: 64 * 1024,
  httpBodyBytesMax: 16 * 1024,
  stringCharsMax: 1024,
  siteCharsMax: SITE_CHARS_MAX,
  lvbCharsMax: 88,
  sessionsMax: 10_000,
  sessionsPerPrincipalMax: 2_500,
  connectionsMax: 12_000,
  idleScanMax: 64,
  headersTimeoutMs: 10_000,
  wsCloseTimeoutMs: 1_000,
  heartbeatMsMin: 1_000,
  heartbeatMsMax: 25_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  connectionsCheckingIntervalMs: 1_000,
  secretCharsMin: 32,
  secretCharsMax: 128,
  ownersPerSessionMax: 100_000,
  pendingPerSessionMax: 10_000,
  recentRepliesMax: 1024,
  expiredSessionsRemembered: 10_000,
  apiRowsMax: 10_000,
  feedBatchMax: 5000,
  feedIntervalMs: 250,
  // 64 MiB: ten minutes of the demo workload with 10,000 locks held (bench/dashboard.js) fits with room to spare.
  historyBytesMax: 64 * 1024 * 1024,
  historyWindowMs: 10 * 60_000,
  historyKeyframeEveryMs: 60_000,
  historySegmentBytesMax: 2 * 1024 * 1024,
  historyMarkersMax: 2_000,
  contentionKeysMax: 1_000,
  leaseMsMax: 24 * 60 * 60 * 1000,
  tokensMax: 1000,
  clientRecordsMax: 100_000,
  reclaimItemsMax: MESSAGE_ITEMS_MAX,
  graceMsMax: 60 * 60 * 1000,
  batchItemsMax: 2 * MESSAGE_ITEMS_MAX,
  sitesPerConnectionMax: SITES_PER_CONNECTION_MAX,
  stateRetryMs: 1_000,
  logLinesPerKindMax: 100,
  logWindowMs: 10_000,
});

/**
 * What every client together, one principal (token) and one session may make
 * the server keep (budget.ts; server/README.md, "Budgets", has the bytes per
 * item measured on this machine and the sums). Over one: ENOLCK naming it
 * in `context.limit`, except request sites, which are kept as a placeholder.
 * `serve` reads them from the config file's `budgets`; createServer from
 * `options.budgets`.
 */
export interface Budgets {
  /** Granted locks at once, every client (and in-process owner) together: the core's `locksMax`. */
  locksMax: number;
  /** Requests waiting at once: the core's `waitsMax`. */
  waitsMax: number;
  /** Locks plus waits of one principal's sessions together. */
  locksPerPrincipalMax: number;
  /** Locks plus waits of one session. */
  locksPerSessionMax: number;
  /** Owners registered by clients, every session together. */
  ownersMax: number;
  /** Owners registered by one principal's sessions together. */
  ownersPerPrincipalMax: number;
  /** Bytes of owner names and metadata (JSON) registered by clients, every session together. */
  metaBytesMax: number;
  /** Bytes of request-site texts kept, every session together (two bytes a character). */
  siteBytesMax: number;
  /** Bytes of request-site texts one session keeps. */
  siteBytesPerSessionMax: number;
  /** Wait-for edges the deadlock searches of one principal's waits may follow per second (then left to the full pass). */
  searchEdgesPerPrincipalPerSecond: number;
}

export const defaultBudgets: Readonly<Budgets> = Object.freeze({
  locksMax: 2_000_000,
  waitsMax: 500_000,
  locksPerPrincipalMax: 1_000_000,
  locksPerSessionMax: 500_000,
  ownersMax: 500_000,
  ownersPerPrincipalMax: 250_000,
  metaBytesMax: 128 * 1024 * 1024,
  siteBytesMax: 128 * 1024 * 1024,
  siteBytesPerSessionMax: 4 * 1024 * 1024,
  searchEdgesPerPrincipalPerSecond: 100_000,
});

export const DEFAULT_LEASE_MS = 30_000;
/** How long grace lasts after a restart unless every client reclaims sooner (knfsd's default). */
export const DEFAULT_GRACE_MS = 90_000;
export const DEFAULT_PORT = 7070;
/** Loopback: elsewhere tokens are required (createServer refuses an open server on another address). */
export const DEFAULT_HOST = '127.0.0.1';
/** Characters of a name the server takes before the core checks it in bytes (owner, client, node, token names): the core's bound. */
export const NAME_CHARS_MAX = defaultLimits.nameBytesMax;

// What a client sends must fit what the server takes, whatever either bound becomes.
assert(MESSAGE_BYTES_MAX < serverLimits.messageBytesMax, 'a client message fits the server\'s message bound');

/** The server bounds a configuration may lower (ServerOptions.serverLimits): a small deployment wants smaller tables. */
export type AdjustableServerLimits = Pick<ServerLimits, 'sessionsMax' | 'sessionsPerPrincipalMax' | 'connectionsMax'>;
export const ADJUSTABLE_SERVER_LIMITS: readonly (keyof AdjustableServerLimits)[] = ['sessionsMax', 'sessionsPerPrincipalMax', 'connectionsMax'];
