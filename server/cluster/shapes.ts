/**
 * The cluster's shapes, without behaviour: what etcd's records hold and what
 * `GET /api/cluster` answers. No runtime code, and only type imports of
 * shapes the dashboard's build reads anyway (collectors/shapes.ts), so that it
 * reads this file alone of the cluster layer.
 */

import type { NodeWaits } from '../../collectors/shapes.js';

/** A member as it announces itself (its key in etcd, and each entry of the view). */
export interface MemberRecord {
  node: string;
  weight: number;
  /** URL clients use to reach this node. */
  advertise: string;
  /** Which life of the node (its lease's id): a node back as a new member changes the view even under the same name (M8). */
  incarnation?: string;
}

/** A node's flags in the grace record (grace-record.ts, G1–G7). */
export interface GraceFlags {
  need: boolean;
  enforcing: boolean;
}

/** The cluster's grace record: current epoch C, recovery epoch R (0: no grace), per node flags. */
export interface GraceRecord {
  current: number;
  recovery: number;
  nodes: Record<string, GraceFlags>;
}

export interface MemberStatus extends MemberRecord {
  /** In the view (acting as a member) — a member key can exist a moment before the view takes it in. */
  inView: boolean;
  /** Has a live key (its lease not expired). */
  live: boolean;
  /** The newest generation it has adopted. */
  adopted: string;
}

export interface ClusterStatus {
  cluster: string;
  generation: string;
  members: MemberStatus[];
  grace: GraceRecord & { inGrace: boolean };
  tokenMark: number;
  /** With a domain and resource asked about: its master under the view. */
  master?: { domain: string; resource: string; node: string | null };
}

/**
 * A node's own recovery (node.ts N4): while it holds `need`, whom it still
 * waits for. What an operator reads when the cluster's grace does not end.
 */
export interface NodeRecovery {
  /** When this node set `need` (ms since the epoch), or null: it waits for nobody. */
  since: number | null;
  /** The clients it waits for that have not said they are done (at most `waitingForShownMax` ids; `waiting` counts all). */
  waitingFor: string[];
  waiting: number;
  /** Members whose list of handed-over clients it has not read yet (it joined). */
  handoversFrom: string[];
  /** Whether it has read whom to wait for, and passed the barrier of its view (N3). */
  ready: boolean;
  /** When the grace's bound lifts its need anyway (ms since the epoch). */
  boundAt: number | null;
}

/** `GET /api/cluster`: a member's status, its own name and recovery, or, from a single node (or one still joining), no cluster. */
export type ClusterAnswer =
  | (ClusterStatus & { node: string; recovery: NodeRecovery; detector: DetectorStatus | null })
  | { cluster: null; joining: boolean };

/**
 * A node's wait-for edges as the cluster's deadlock detector gathers them
 * (detector.ts). Compact, as a node may have tens of thousands: owners once,
 * edges by owner id; stacks and names of resources come only for the edges
 * of a cycle, when they are checked.
 */
/** One node's wait-for edges, as it answers its peers (the dump's `nodes/<node>/waits.json`). */
export type PeerWaits = NodeWaits;

/** The cluster's deadlock detector as `GET /api/cluster` shows it. */
export interface DetectorStatus {
  /** The node elected to run it (null: none right now). */
  leader: string | null;
  /** On the leader: what its passes did since it was elected; zero elsewhere. */
  passes: number;
  /** Cycles across nodes found in the gathered edges. */
  cycles: number;
  /** Of those, cycles that no longer held when their edges were checked (no victim). */
  falsePositives: number;
  victims: number;
  /** Edges in the last pass, and the nodes that did not answer it in time. */
  edges: number;
  missing: string[];
  /** Milliseconds the last pass took (gather, search, checks). */
  lastPassMs: number;
}
