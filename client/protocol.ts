/**
 * The lock protocol between the remote client (this directory) and the lock
 * server: its types, and the constants both sides must agree on (the
 * batched events and the bounds of a message, a site and its numbering). The
 * server imports them from here (its socket types in server/sockets.ts, its
 * limits in server/limits.ts), so the client and the server agree on one
 * definition; the package's `lockscope/server` re-exports the types. Every request is answered with a Reply: under its key in an
 * `m` batch (BATCHED_EVENTS), or through its own acknowledgement (socket.io's, or the ws transport's `ack` frame).
 *
 * Encoding: fencing tokens travel as decimal strings, value blocks as base64,
 * byte ranges as { start, end } numbers. A request-site stack (`site`) is the
 * client's own "at ..." lines, so the server's snapshot shows where the
 * remote program asked for the lock.
 */

import type { LockErrorCode, LossReason } from '../src/errors.js';
import type { ConvDeadlockPolicy, LockState, PosixLockInfo, PosixRequest, Range } from '../src/api.js';
import type { DlmMode } from '../src/modes.js';

/** A LockError as plain JSON: its code, message and context (cycle for EDEADLK, limit for ENOLCK, ...). */
export interface WireError {
  code: LockErrorCode;
  message: string;
  [context: string]: unknown;
}

export type Reply<T> = { ok: T } | { error: WireError };
export type Ack<T> = (reply: Reply<T>) => void;

/** A dlm lock as the client's handle mirrors it. */
export interface WireLock {
  id: number;
  domain: string;
  resource: string;
  mode: DlmMode;
  range: Range | null;
  state: LockState;
  token: string;
  lvb: string | null;
  lvbValid: boolean;
  lvbSeq: number;
  demoted: boolean;
  /** A cached grant's last fencing token (src/README.md, "Cached grants", K2): its local re-grants take the ones above `token`. */
  tokenLast?: string;
}

/** LockOptions without the parts that cannot travel (signal, onBlocking), plus flags that stand for them. */
export interface WireLockOptions {
  timeoutMs?: number;
  noQueue?: boolean;
  range?: Range;
  quecvt?: boolean;
  expedite?: boolean;
  alt?: 'PR' | 'CW';
  convDeadlock?: ConvDeadlockPolicy;
  /** The client registered onBlocking: push `blocking` messages for this lock. */
  blocking?: boolean;
  /** The client passed a signal: it may send `cancel` for this request. */
  abortable?: boolean;
  /** A cached grant (client/cache.ts): kept after its last local user let go, called back when in the way. */
  cache?: boolean;
}

export interface WireConvertOptions {
  timeoutMs?: number;
  noQueue?: boolean;
  quecvt?: boolean;
  alt?: 'PR' | 'CW';
  convDeadlock?: ConvDeadlockPolicy;
  lvb?: string;
  abortable?: boolean;
}

export interface WireSetlkOptions {
  wait?: boolean;
  timeoutMs?: number;
  abortable?: boolean;
}

export interface OwnerMessage {
  /** The client's number for this owner, unique within the session. */
  oid: number;
  name: string;
  meta?: Record<string, string | number | boolean | string[]>;
  priority?: number;
  /**
   * In a cluster: the application's owner this one stands for on this node
   * (its number in the client's attached session). With the client id it
   * names the owner cluster-wide, so the cluster's deadlock detector sees
   * one owner where the nodes see one each.
   */
  gid?: number;
}

export interface LockMessage {
  /** The client's number for this request, unique within the session (for `cancel` and late replies). */
  req: number;
  oid: number;
  domain: string;
  resource: string;
  mode: string;
  options?: WireLockOptions;
  site?: string;
  /** The site's number on this connection: sent with `site` the first time, alone after (see Connection). */
  siteId?: number;
}

export interface ConvertMessage {
  req: number;
  id: number;
  mode: string;
  options?: WireConvertOptions;
  /** The client's request-site stack ("at ..." lines). */
  site?: string;
  siteId?: number;
}

export interface ReleaseMessage {
  id: number;
  lvb?: string;
}

/**
 * What a client says of one of its cached grants (client/cache.ts):
 * `confirm`, its answer to a blocking callback, that a local user holds it
 * (K1: from then on waits on it are wait-for edges); otherwise a lazy report
 * of its use for the lock tables (K4).
 */
export interface HoldMessage {
  id: number;
  inUse: boolean;
  confirm?: boolean;
  /** The local owner using it, and where that owner asked for it. */
  user?: string;
  site?: string;
  siteId?: number;
}

export interface SetlkMessage {
  req: number;
  oid: number;
  domain: string;
  resource: string;
  request: PosixRequest;
  options?: WireSetlkOptions;
  site?: string;
  siteId?: number;
}

export interface GetlkMessage {
  oid: number;
  domain: string;
  resource: string;
  request: PosixRequest;
}

/** One lock held before a server restart, replayed in a grace period (a dlm lock or a piece of a posix lock set). */
export type ReclaimItem =
  /** site, siteId: where the lock was first requested (a posix piece: its setlk), numbered on the connection as in a LockMessage. */
  | { kind: 'dlm'; oid: number; domain: string; resource: string; mode: string; range?: Range; lvb?: string; lvbSeq?: number; site?: string; siteId?: number }
  | { kind: 'posix'; oid: number; domain: string; resource: string; request: PosixRequest; site?: string; siteId?: number };

export interface ReclaimMessage {
  /** Request number: a reply lost with a connection is asked for again (sync), not the reclaim sent twice. */
  req: number;
  items: ReclaimItem[];
  /**
   * This is the client's last reclaim message: once its items (and those of
   * every reclaim sent before it on this connection) are handled, the client
   * is done, as if it sent `reclaimComplete` (one message and reply less).
   */
  done?: boolean;
}

/**
 * A reclaimed dlm lock, in short: the client knows its domain, resource, mode
 * and range already (a reclaim of 100,000 locks should not send them back).
 */
export interface ReclaimedLock {
  id: number;
  token: string;
  /** The value block, base64; absent: none (the server leaves out what most locks have, to keep 100,000 short). */
  lvb?: string;
  /** Absent: false (as in a domain without value blocks). */
  lvbValid?: boolean;
  /** Absent: 0. */
  lvbSeq?: number;
}

/** Per item, in order: the re-established dlm lock (its new id), the posix grant's token, or why it was refused. */
export type ReclaimResult = { lock: ReclaimedLock } | { token: string } | { error: WireError };

/**
 * Messages a client batches: what it sends in one turn of its event loop
 * leaves as one `m` message of [key, event, message] items. The server
 * answers each item under its key (an `ack` item); key 0 asks for no answer.
 */
export const BATCHED_EVENTS = ['lock', 'convert', 'release', 'setlk', 'cancel', 'owner', 'reclaim', 'hold', 'adopt'] as const;
export type BatchedEvent = (typeof BATCHED_EVENTS)[number];
/** Request sites one connection may number (`siteId` 1..this); past it, the client sends the text every time. */
export const SITES_PER_CONNECTION_MAX = 4096;
/**
 * Items one client message carries at most (an `m` batch's requests, a
 * reclaim's locks), and about its bytes of JSON: well under the server's
 * 64 KiB message bound (counted in bytes, as names may be UTF-8). The server
 * takes exactly this many reclaim items, and twice as many batched ones.
 */
export const MESSAGE_ITEMS_MAX = 256;
export const MESSAGE_BYTES_MAX = 48 * 1024;
/** A request-site stack the client relays is cut to this many characters; the server refuses a longer one. */
export const SITE_CHARS_MAX = 8 * 1024;
/** Bytes of JSON a client's report to a hang-dump may take: one message, as much as a batch. */
export const REPORT_BYTES_MAX = MESSAGE_BYTES_MAX;

/** Every client event but the batch itself (`m`): one message, answered by one Reply. */
export type CallEvent = Exclude<keyof ClientToServerEvents, 'm'>;
/** A client event sent on its own, answered through its acknowledgement (not batched). */
export type DirectEvent = Exclude<CallEvent, BatchedEvent>;
/** The message of a client event. */
export type MessageOf<E extends CallEvent> = Parameters<ClientToServerEvents[E]>[0];
/** What the reply to a client event carries when it succeeds (`ok`). */
export type ReplyOf<E extends CallEvent> = Parameters<ClientToServerEvents[E]>[1] extends Ack<infer T> ? T : never;

/** One item of a client's `m` batch: a batched event with that event's message. */
export type ClientItem = { [E in BatchedEvent]: [key: number, event: E, msg: MessageOf<E>] }[BatchedEvent];

/** What the server sends in one `m` message, in the order it happened. */
export type ServerItem =
  | [event: 'ack', key: number, reply: Reply<unknown>]
  | [event: 'blocking', msg: Parameters<ServerToClientEvents['blocking']>[0]]
  | [event: 'lost', msg: Parameters<ServerToClientEvents['lost']>[0]]
  | [event: 'update', msg: Parameters<ServerToClientEvents['update']>[0]]
  | [event: 'reply', msg: Parameters<ServerToClientEvents['reply']>[0]]
  | [event: 'grace', msg: Parameters<ServerToClientEvents['grace']>[0]]
  | [event: 'view', msg: Parameters<ServerToClientEvents['view']>[0]];

export interface ClientToServerEvents {
  /** Several requests at once (see ClientItem); answered by `ack` items, each under its key. */
  m(items: ClientItem[]): void;
  owner(msg: OwnerMessage, ack: Ack<null>): void;
  lock(msg: LockMessage, ack: Ack<WireLock>): void;
  convert(msg: ConvertMessage, ack: Ack<WireLock>): void;
  release(msg: ReleaseMessage, ack: Ack<null>): void;
  /** About a cached grant of this session: in use (answering a callback: `confirm`) or a lazy report. */
  hold(msg: HoldMessage, ack: Ack<null>): void;
  /** An idle cached grant of this session passes to another of its owners (client/cache.ts, C4; the core's K6). */
  adopt(msg: { id: number; oid: number }, ack: Ack<null>): void;
  setlk(msg: SetlkMessage, ack: Ack<{ token: string } | null>): void;
  getlk(msg: GetlkMessage, ack: Ack<PosixLockInfo | null>): void;
  releaseAll(msg: { oid: number }, ack: Ack<null>): void;
  /** The client's owner object was garbage collected: the server forgets it unless it still holds or waits. */
  dropOwner(msg: { oid: number }, ack: Ack<{ dropped: boolean }>): void;
  /** Abort a pending request (its AbortSignal fired): it fails with ECANCELED. */
  cancel(msg: { req: number }, ack: Ack<null>): void;
  /**
   * After a reconnect that resumed the session: requests sent on an earlier
   * connection and not answered yet. The server answers those it knows (again,
   * as `reply` messages, before this reply) and lists the ones it never received.
   */
  sync(msg: { reqs: number[] }, ack: Ack<{ unknown: number[] }>): void;
  /**
   * After a server restart, in its grace period: locks this client held
   * before, granted at once or refused one by one (never queued).
   */
  reclaim(msg: ReclaimMessage, ack: Ack<ReclaimResult[]>): void;
  /**
   * This client has reclaimed everything it is going to (NFS RECLAIM_COMPLETE); grace may lift. In a
   * cluster, with the generation of the view the client reclaimed under: a node that has not adopted it
   * yet answers EGRACE (ask again), so a `done` can never count for an earlier recovery.
   */
  reclaimComplete(msg: { generation?: string }, ack: Ack<null>): void;
  /** A round trip: everything sent before it has been handled when the reply arrives. */
  ping(msg: Record<string, never>, ack: Ack<{ time: number }>): void;
  /** The client is closing: end the session now instead of at lease expiry. */
  bye(msg: Record<string, never>, ack: Ack<null>): void;
  /** A cluster node's membership view (null from a single node): where to send each resource's requests. */
  view(msg: Record<string, never>, ack: Ack<ClusterView | null>): void;
}

/** A cluster's membership view as a client needs it: the masters follow from it (src/rendezvous.ts). */
export interface ClusterView {
  /** The view's generation (an etcd revision, decimal): higher is newer. */
  generation: string;
  /** The node that sent it. */
  node: string;
  members: { node: string; weight: number; advertise: string }[];
}

/** Sent once per connection, before anything else. */
export interface SessionInfo {
  id: string;
  /** True when this connection resumed a live session: its locks are still held. */
  resumed: boolean;
  /** The session the client presented, when it had expired (its locks are gone, reason `session-expired`). */
  expired: string | null;
  leaseMs: number;
  /** The session presented is unknown to a server that did not expire it: the server restarted. */
  restarted: boolean;
  /** The server is in a grace period: new requests get EGRACE until it ends. */
  grace: boolean;
  /** This client may reclaim what it held (it is in the server's durable record and has not said it is done). */
  reclaim: boolean;
  /** A cluster node: its membership view (absent or null from a single node). */
  cluster?: ClusterView | null;
  /** The server's heartbeat interval on this connection: its pings on the ws transport (socket.io pings at the same interval). */
  heartbeatMs?: number;
}

export interface ServerToClientEvents {
  session(info: SessionInfo): void;
  /** Everything below except `session` and `report` travels in these batches, in order. */
  m(items: ServerItem[]): void;
  /** A lock of this session blocks a request for `mode` (the blocking AST). */
  blocking(msg: { id: number; mode: DlmMode }): void;
  /** A lock of this session was taken away (operator break, deadlock victim, ...). */
  lost(msg: { id: number; reason: LossReason }): void;
  /** A lock's state changed without a reply of its own (queued conversion, demotion). */
  update(msg: { id: number; mode: DlmMode; state: LockState; demoted: boolean }): void;
  /** The reply to a request that completed while the client was disconnected. */
  reply(msg: { req: number; reply: Reply<unknown> }): void;
  /** The grace period started or ended: requests refused with EGRACE may go again. */
  grace(msg: { active: boolean }): void;
  /** A cluster node adopted a new membership view: resources may have new masters (server/cluster/README.md, Failover). */
  view(msg: ClusterView): void;
  /**
   * The server is about to drop this connection and the session's locks are
   * no longer this client's (another connection resumed the session, or the
   * session is gone): sent just before the disconnect, so the client fails
   * its handles with this reason instead of believing it holds them.
   */
  closed(msg: { reason: 'session-taken-over' | 'session-closed' }): void;
  /** A hang-dump is being taken: send this client's own report (its owners, its process), within the deadline. */
  report(msg: Record<string, never>, ack: (report: ClientSelfReport | ClientReportFailure) => void): void;
}

/** A client's answer to a hang-dump when making its report failed: the failure, which the dump records in its place. */
export interface ClientReportFailure {
  client: string;
  error: string;
}

/** What a client tells a hang-dump about itself. Its process report has no environment or network interfaces. */
export interface ClientSelfReport {
  client: string;
  clientId: string;
  host: string;
  pid: number;
  /** The locks this client holds, as its handles know them: as many as fit `REPORT_BYTES_MAX` (the server's locks/<domain>.json has them all). */
  locks: Array<{
    owner: string; id: number; domain: string; resource: string; mode: string; state: string; token: string;
    /** A cached grant (cache.ts): its local use as of this report. */
    cached?: { inUse: boolean; mode?: string; site?: string; token?: string };
  }>;
  /** How many locks the client holds in all. */
  locksTotal: number;
  /** Requests sent and not answered yet. */
  pendingCalls: number;
  /** Node's diagnostic report of the client process, without environment variables and network interfaces. */
  process: unknown;
}

/** What a client presents when it connects (socket.io `auth`, the ws transport's `hello`). */
export interface HandshakeAuth {
  token?: string;
  /** Client name, shown with host and pid on the dashboard. */
  name: string;
  host?: string;
  pid?: number;
  /** The session to resume, if any. */
  session?: string;
  /** This client's identity for reclaims: the same on every reconnection, and after a server restart. */
  clientId?: string;
  /**
   * A secret only this client knows, made with its client id and presented
   * with it on every connection: the server resumes a session, lets a client
   * id connect, and admits its reclaims only with the secret they were first
   * presented with. Required with `session` or `clientId`. Never shown or logged.
   */
  secret?: string;
}
