/**
 * Every bound and default of the cluster layer, in one place (the server's
 * are in server/limits.ts, the core's in src/limits.ts).
 */

export interface ClusterLimits {
  /** Shortest lease a node may ask for: below ~2 s on two cores, CPU starvation looks like a failure. */
  leaseTtlSecMin: number;
  /** Longest lease a node may ask for (a dead node's resources wait this long). */
  leaseTtlSecMax: number;
  /** Members in one cluster (each is a score per lookup). */
  membersMax: number;
  /** Largest member weight. */
  weightMax: number;
  /** Bytes of a node or cluster name. */
  nameBytesMax: number;
  /** Characters of an advertised URL. */
  urlCharsMax: number;
  /** etcd endpoints given to one node. */
  endpointsMax: number;
  /** Compare-and-swap attempts on one record before giving up for this round (others are changing it). */
  casAttemptsMax: number;
  /** Client records written to etcd at once (B5); more wait their turn, so a reclaim storm cannot starve the keepalives. */
  recordsInFlightMax: number;
  /** Client ids a node's status names among those its recovery still waits for (the count is always given). */
  waitingForShownMax: number;
  /** Steps of a cycle the cluster's detector acts on (a longer one is left to the next pass, reported). */
  cycleStepsMax: number;
  /** Cycles one detector pass checks and breaks; more wait for the next pass. */
  cyclesPerPassMax: number;
  /** Bytes of a request from one node to another (a check or break carries a cycle with its stacks). */
  peerBodyBytesMax: number;
  /** Edges one node reports to a detector pass (beyond, the pass reports the node as truncated). */
  peerEdgesMax: number;
  /** Edges of a hang's chain followed onto other nodes (a hang report stays readable). */
  chainEdgesMax: number;
}

export const clusterLimits: Readonly<ClusterLimits> = Object.freeze({
  leaseTtlSecMin: 2,
  leaseTtlSecMax: 60,
  membersMax: 64,
  weightMax: 1000,
  nameBytesMax: 64,
  urlCharsMax: 512,
  endpointsMax: 16,
  casAttemptsMax: 50,
  recordsInFlightMax: 16,
  waitingForShownMax: 50,
  cycleStepsMax: 64,
  cyclesPerPassMax: 16,
  peerBodyBytesMax: 2 * 1024 * 1024,
  peerEdgesMax: 200_000,
  chainEdgesMax: 256,
});

/** Lease TTL unless configured: a dead node's resources are remastered about this long after it died. */
export const DEFAULT_LEASE_TTL_SEC = 5;
/**
 * Deadline of every unary etcd call. The etcd3 client sets none, and a call to
 * a stopped leader then hangs; with a deadline the client retries another
 * endpoint. A timed-out write's outcome is unknown: every write is a
 * compare-guarded transaction, so a retry can neither double nor undo it.
 */
export const ETCD_CALL_TIMEOUT_MS = 1000;
/** How long a start waits for etcd before failing with EETCD. */
export const ETCD_CONNECT_TIMEOUT_MS = 5000;
/** Name of the cluster when none is configured (several clusters can share one etcd). */
export const DEFAULT_CLUSTER = 'default';
/** How often the cluster's deadlock detector gathers every node's wait-for edges (a cross-node cycle waits at most about this long). */
export const DETECT_INTERVAL_MS = 500;
/** Bounds of the detector's options: its pass interval from DETECT_INTERVAL_MS_MIN, both it and the confirmation delay at most DETECT_OPTION_MS_MAX. */
export const DETECT_INTERVAL_MS_MIN = 50;
export const DETECT_OPTION_MS_MAX = 60_000;
/** Fencing tokens a node reserves per block unless configured (T4: a grant never waits for etcd while a block lasts). */
export const DEFAULT_TOKEN_BLOCK = 1_000_000;
/** Deadline of one node-to-node call (gather, check, break): a node that does not answer is left out of the pass. */
export const PEER_CALL_TIMEOUT_MS = 2000;
/** How long a hang report may wait for the other nodes' part of its chain before it goes out without it (they are named missing). */
export const HANG_EXPLAIN_MS = 1500;
