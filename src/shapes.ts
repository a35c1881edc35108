/**
 * The core's shapes, without behaviour: what a snapshot, a hang, a deadlock
 * and each event of the LockManager's typed event map look like. Plain
 * JSON-ready objects (tokens as decimal strings, times as wall-clock ms), so
 * they can be forwarded to the dashboard, dumps and logs unchanged.
 *
 * No runtime code and no imports: the code that builds each shape names it
 * (snapshot.ts, payloads.ts, watchdog.ts, deadlock.ts, grace.ts,
 * lockorder.ts), and the dashboard's build reads, of the core, this file
 * (server/protocol.ts, the wire's shapes, is built on it) and the range
 * algebra it bundles (ranges.ts), nothing else.
 */

// ---------------------------------------------------------------------------
// Errors and domains (errors.ts, domain.ts, api.ts)

/**
 * Why a lock stopped being held. `released` is the only voluntary one.
 * `session-taken-over`: another connection resumed the remote client's
 * session (it presented the session's secret); `session-closed`: the lock
 * server closed the session's connection for another reason.
 */
export type LossReason = 'released' | 'revoked' | 'session-expired' | 'session-taken-over' | 'session-closed' | 'deadlock-victim' | 'node-failed' | 'node-moved';

/** One step of a deadlock cycle: `owner` holds `held` on the resource and wants `wanted`. */
export interface CycleEntry {
  owner: string;
  domain: string;
  resource: string;
  /** The mode this owner already holds on the resource (a conversion), or null. */
  held: string | null;
  wanted: string;
  /** Where the waiting request was made. */
  stack: string | null;
  /** The next owner in the cycle, and what of it blocks this request. */
  blocker?: { owner: string; mode: string; hard: boolean; stack: string | null };
  /** In a cycle across cluster nodes: the node this wait is on (its resource's master). */
  node?: string;
}

export type ConvDeadlockPolicy = 'error' | 'demote' | 'notify';

export type DomainKind = 'dlm' | 'posix';

/** A domain's policy with every default filled in. */
export interface DomainPolicy {
  name: string;
  kind: DomainKind;
  softTimeoutMs: number;
  holdWarnMs: number | null;
  persistentAfterMs: number;
  ranges: boolean;
  lvbBytes: number;
  deadlock: boolean;
  convDeadlock: ConvDeadlockPolicy;
  resourcesPerDomainMax: number;
  waitersPerResourceMax: number;
}

// ---------------------------------------------------------------------------
// Events (the LockManager's typed event map; payloads.ts builds the lock events)

/** A byte range as reported: `end` is exclusive, null when it runs to the end. */
export interface ReportedRange {
  start: number;
  end: number | null;
}

export interface LockEventBase {
  node: string;
  domain: string;
  resource: string;
  owner: string;
  ownerId: number;
  /** Lock or request id (dlm); for posix, the id of the request. */
  id: number;
  /** dlm mode, or posix read / write / unlock. */
  mode: string;
  range: ReportedRange | null;
}

export interface GrantedEvent extends LockEventBase {
  token: string;
  /** How long the request waited (0 when granted at once). */
  waitedMs: number;
  /** A cached grant (src/README.md, "Cached grants"). */
  cached?: true;
}

/** What the holder of a cached grant said of its use (K1 confirmation, K4 report). */
export interface CacheUseEvent extends LockEventBase {
  confirmed: boolean;
  inUse: boolean | null;
  user: string | null;
  site: string | null;
}

export interface WaitingEvent extends LockEventBase {
  /** The request's own id (what an operator cancels); `id` is the lock's for a conversion. */
  waitId: number;
  /** For a conversion, the mode still held. */
  held: string | null;
}

/** A pending request ended without a grant (timeout, abort, cancel, revoke, deadlock victim). */
export interface FailedEvent extends LockEventBase {
  waitId: number;
  code: string;
}

export interface ConvertedEvent extends LockEventBase {
  from: string;
  token: string;
  waitedMs: number;
}

/** A conversion deadlock (policy demote) dropped the granted mode to NL; the conversion stays queued. */
export interface DemotedEvent extends LockEventBase {
  from: string;
  requested: string;
}

export interface ReleasedEvent extends LockEventBase {
  reason: LossReason;
  heldMs: number;
}

export interface DeadlockRecord {
  /** Sequence number within this manager. */
  seq: number;
  /** Wall-clock ms. */
  time: number;
  /** `conversion`: two conversions on one resource; `cycle`: a wait-for cycle. */
  kind: 'conversion' | 'cycle';
  cycle: CycleEntry[];
  /** Owner whose request failed, or null when the cycle was resolved without a victim. */
  victim: string | null;
  /** What was done: error, demote, notify (conversions), or the victim policy / 'reorder'. */
  policy: string;
  /** A cycle across cluster nodes (found by the cluster's detector): the nodes its waits are on. Absent for one node's. */
  nodes?: string[];
}

export interface LockEvents {
  granted: GrantedEvent;
  waiting: WaitingEvent;
  failed: FailedEvent;
  converted: ConvertedEvent;
  demoted: DemotedEvent;
  released: ReleasedEvent;
  /** The holder of a cached grant confirmed it in use or reported its use. */
  'cache-use': CacheUseEvent;
  deadlock: DeadlockRecord;
  /** A wait passed its domain's soft timeout (it keeps waiting). */
  hang: Hang;
  /** A hang still blocked `persistentAfterMs` after its soft timeout. */
  'hang-persistent': Hang;
  /** A hung wait ended (granted or failed), with how long it waited. */
  'hang-resolved': Hang;
  /** A lock held past its domain's `holdWarnMs`. */
  'long-hold': LongHold;
  /** Two lock classes taken in both orders: a deadlock waiting to happen. */
  'order-inversion': OrderInversion;
  /** A grace period started, was extended, or ended (how, and who never finished reclaiming). */
  grace: GraceEvent;
}

// ---------------------------------------------------------------------------
// Hangs and long holds (watchdog.ts)

/** An owner on a blocker chain, with what it waits for (if anything). */
export interface ChainLink {
  owner: string;
  ownerId: number;
  depth: number;
  /** In a cluster, for a link found on another node: that node (its ownerId is that node's). */
  node?: string;
  /** Whom it waits for, one entry per edge. */
  waitsFor: Array<{ owner: string; ownerId: number; domain: string; resource: string; wanted: string; blockerMode: string; hard: boolean }>;
}

export interface RootBlocker {
  owner: string;
  ownerId: number;
  meta: Record<string, unknown> | null;
  /** The locks through which it blocks the chain, with where each was requested (and, in a cluster, on which node). */
  holds: Array<{ domain: string; resource: string; mode: string; since: number | null; stack: string | null; node?: string }>;
  /** In a cluster: the node it holds on, its client, and whether that client is connected there now. */
  node?: string;
  client?: string | null;
  connected?: boolean | null;
}

export interface Hang {
  id: number;
  waitId: number;
  node: string;
  owner: string;
  ownerId: number;
  domain: string;
  resource: string;
  wanted: string;
  /** Wall-clock ms when the request was made. */
  since: number;
  softTimeoutMs: number;
  stack: string | null;
  chain: ChainLink[];
  rootBlockers: RootBlocker[];
  classification: 'pending' | 'persistent' | 'transient';
  /**
   * Set by a hang explainer (a cluster node's): the chain was followed on
   * these nodes, and these did not answer in time (their part is missing).
   */
  nodes?: { asked: string[]; missing: string[] };
  /** Set when the wait ended. */
  outcome?: 'granted' | string;
  waitedMs?: number;
}

export interface LongHold {
  node: string;
  id: number;
  owner: string;
  domain: string;
  resource: string;
  mode: string;
  heldMs: number;
  stack: string | null;
}

// ---------------------------------------------------------------------------
// Lock order (lockorder.ts)

export interface OrderStep {
  from: string;
  to: string;
  owner: string;
  heldResource: string;
  requestedResource: string;
  heldStack: string | null;
  requestedStack: string | null;
}

export interface OrderInversion {
  /** The pair of classes taken in both orders. */
  classes: [string, string];
  /** The order just seen (A→B). */
  now: OrderStep;
  /** The earlier orders that lead from B back to A. */
  earlier: OrderStep[];
  time: number;
}

// ---------------------------------------------------------------------------
// Grace (grace.ts)

export interface GraceState {
  active: boolean;
  /** Wall-clock ms; null when never started. */
  startedAt: number | null;
  deadline: number | null;
  expected: string[];
  /** Clients that said they finished reclaiming. */
  completed: string[];
  reclaims: number;
  /** How the last grace ended. */
  ended: 'deadline' | 'all-reclaimed' | 'lifted' | null;
}

export interface GraceEvent {
  phase: 'start' | 'extend' | 'end';
  state: GraceState;
  /** At the end: expected clients that never finished (their records can be dropped). */
  missing?: string[];
}

// ---------------------------------------------------------------------------
// Deadlock detection (deadlock.ts)

export interface DeadlockStats {
  searches: number;
  /** Searches not run because the owner's quota had no search credit left this second (left to the full pass). */
  throttled: number;
  exhausted: number;
  fullPasses: number;
  /** Candidate cycles that no longer held when revalidated. */
  falsePositives: number;
  reorders: number;
  victims: number;
}

/** A cycle as the dashboard shows it. */
export interface CurrentCycle {
  owners: string[];
  entries: CycleEntry[];
}

// ---------------------------------------------------------------------------
// The snapshot (snapshot.ts builds it)

export interface LockSnapshot {
  id: number;
  owner: string;
  ownerId: number;
  state: 'granted' | 'converting' | 'waiting';
  /** Granted mode (dlm) or type (posix); null while a new request waits. */
  mode: string | null;
  /** Requested mode or type while converting or waiting. */
  requested: string | null;
  range: ReportedRange | null;
  token: string | null;
  grantedAt: number | null;
  requestedAt: number | null;
  stack: string | null;
  /** The pending request's id while waiting or converting (what wait-for edges and cancels name). */
  waitId?: number;
  demoted?: boolean;
  /** In a view of a whole cluster (server/cluster/merge.ts): the node that masters it. */
  node?: string;
  /** A cached grant (src/README.md, "Cached grants"): what its client last reported of its local use. */
  cache?: CachedGrantInfo;
}

/** A cached grant as the lock tables show it. */
export interface CachedGrantInfo {
  /** Its client answered a blocking callback: in use (waits on it are wait-for edges, K1). */
  confirmed: boolean;
  /** Its client's last report (K4): in use by a local user or idle; null: not reported yet. */
  inUse: boolean | null;
  /** The local owner using it, and the site of that local re-grant, as last reported. */
  user: string | null;
  site: string | null;
  /** When that report came (epoch ms), or null. */
  reportedAt: number | null;
  /** The last fencing token of its run (K2): local re-grants take the ones above `token`. */
  tokenLast: string;
}

export interface ResourceSnapshot {
  name: string;
  granted: LockSnapshot[];
  converting: LockSnapshot[];
  waiting: LockSnapshot[];
  lvb?: { hex: string; seq: number; valid: boolean };
}

export interface DomainSnapshot {
  name: string;
  kind: DomainPolicy['kind'];
  policy: DomainPolicy;
  resources: ResourceSnapshot[];
}

export interface OwnerSnapshot {
  id: number;
  name: string;
  meta: Record<string, unknown> | null;
  priority: number;
  holding: number;
  waiting: number;
}

/** An edge of the wait-for graph: `from` waits for `to`. */
export interface EdgeSnapshot {
  from: number;
  fromName: string;
  to: number;
  toName: string;
  kind: 'hard' | 'soft';
  domain: string;
  resource: string;
  /** What the waiter wants. */
  wanted: string;
  /** The blocker's granted mode (hard) or requested mode (soft). */
  blockerMode: string;
  waitId: number;
}

/** The wait-for graph alone (`LockManager.waitForGraph()`): its edges, the cycles in it now, and the owners on them. */
export interface GraphSnapshot {
  edges: EdgeSnapshot[];
  cycles: CurrentCycle[];
  owners: OwnerSnapshot[];
}

export interface Snapshot {
  version: number;
  node: string;
  time: number;
  domains: DomainSnapshot[];
  owners: OwnerSnapshot[];
  /** The wait-for graph. */
  edges: EdgeSnapshot[];
  /** Cycles in the graph right now (normally none: they are broken as they form). */
  cycles: CurrentCycle[];
  /** The deadlock history, oldest first. */
  deadlocks: DeadlockRecord[];
  /** Hangs in progress (waits past their soft timeout). */
  hangs: Hang[];
  /** Hangs that ended, oldest first. */
  hangHistory: Hang[];
  orderInversions: OrderInversion[];
  /** The grace period after a restart: in force or not, deadline, clients expected and done. */
  grace: GraceState;
  detection: { mode: string; victim: string; stats: DeadlockStats; graph: { owners: number; edges: number }; lockOrderEdges: number };
  /**
   * Present when `snapshot({ locksMax })` left resources out: `locks` is how
   * many locks and waits are shown, `total` how many there are. Owners are
   * those of the resources shown and of the wait-for edges (always whole).
   */
  truncated?: { locks: number; total: number };
}
