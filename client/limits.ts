/**
 * Every bound and timing of the remote client, in one place (the protocol's
 * own bounds, which the server shares, are in protocol.ts), by the file that
 * uses it.
 */

// cache.ts
/** Bounds of the cache options, named here. */
export const CACHE_MIN_HOLD_MAX_MS = 1_000;
export const CACHE_MIN_HOLD_DEFAULT_MS = 10;
export const CACHE_IDLE_DEFAULT_MS = 30_000;
export const CACHE_ENTRIES_DEFAULT = 10_000;
export const CACHE_ENTRIES_MAX = 1_000_000;
/** Local grants in a row before one waits for a turn of the event loop (C7). */
export const LOCAL_GRANTS_PER_TURN = 1024;
/** Lazy use reports (K4) go at most this often, and only when something changed. */
export const CACHE_REPORT_MS = 1_000;

// local-wait.ts
/** A wait for another owner of this client (C9) that lasts this long is sent to the server too (its wait-for edge). */
export const LOCAL_WAIT_REPORT_MS = 10;

// cluster.ts
/** How many times a request is routed again after ESTALE before the caller sees it. */
export const ROUTE_ATTEMPTS_MAX = 8;
/** Members a view may name (server/cluster/limits.ts membersMax). */
export const MEMBERS_MAX = 64;
/** R5: how often the other members are asked for a view while a node this client uses does not answer. */
export const VIEW_POLL_MS = 250;
/** Longest a view request may take before the next member is asked. */
export const VIEW_CALL_TIMEOUT_MS = 2_000;
/** Longest a connection to another member may take to open, before the request asks for a newer view and tries again (R2). */
export const MEMBER_CONNECT_TIMEOUT_MS = 5_000;

// connection.ts
/** Bound on calls waiting for a connection, like the server's pending table. */
export const QUEUED_CALLS_MAX = 10_000;

// failover.ts
/** Longest a lock is tried again on its new master (F3), and a `done` on a member (F4). */
export const FAILOVER_WAIT_MAX_MS = 120_000;
/** A failover retry's backoff: first, and at most (FAILOVER_RETRY_MAX_MS, below). */
export const FAILOVER_RETRY_FIRST_MS = 50;
/** Longest a move of posix pieces waits for the owner's requests in flight on the resource to settle (F6). */
export const POSIX_SETTLE_MAX_MS = 5_000;
export const FAILOVER_RETRY_MAX_MS = 1_000;

// index.ts
/** How long after its own timeoutMs a request is failed by the client, if the server has not answered. */
export const TIMEOUT_SLACK_MS = 2_000;
/** Blocking notices and losses that arrive before the reply that creates their handle. */
export const EARLY_NOTICES_MAX = 1024;
/** Retrying a request refused with EGRACE: at once when the server says grace ended, else after a backoff up to this. */
export const GRACE_RETRY_FIRST_MS = 100;
export const GRACE_RETRY_MAX_MS = 1_000;
/** Reclaim reports kept for `reclaims` (the latest). */
export const RECLAIM_REPORTS_KEPT = 16;

// reconnect.ts
/** First retry, and the longest wait between two attempts of the probe (socket.io's backoff, as before). */
export const RECONNECT_DELAY_MS = 100;
export const RECONNECT_DELAY_MAX_MS = 2_000;
/** The randomization factor of the probe's backoff (socket.io's own). */
export const RECONNECT_JITTER = 0.5;
/** How long the others wait on one attempt of the probe before another client probes. */
export const PROBE_STALL_MS = 5_000;

// transport-ws.ts
/** Longest one attempt of the ws transport waits for its session (socket.io gives an attempt as long). */
export const WS_ATTEMPT_MS = 20_000;
/** Beyond two of the server's heartbeats, how long a ws connection waits for a sign of life before it is dropped. */
export const WS_HEARTBEAT_SLACK_MS = 1_000;
/** The transport a client uses unless told otherwise (transport.ts). */
export const DEFAULT_TRANSPORT: 'ws' | 'socket.io' = 'ws';

// remote-lock.ts
/** Longest a conversion waits for its lock to move before it is asked again of the new master (cluster only). */
export const MOVE_WAIT_MAX_MS = 120_000;
/** How often it looks whether the move began. */
export const MOVE_POLL_MS = 25;
