/**
 * The typed event map of a LockManager. Payloads are plain JSON-ready
 * objects (tokens as decimal strings, times as wall-clock ms), so they can be
 * forwarded to the dashboard and logs unchanged.
 */

import type { CycleEntry, LossReason } from './errors.js';
import type { OrderInversion } from './lockorder.js';
import type { Hang, LongHold } from './watchdog.js';
import type { GraceEvent } from './grace.js';

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
