/**
 * What `lockscope torture` (torture.ts) and its client processes
 * (worker.ts) agree on: the shape of the workload, its bounds, and the
 * messages the workers send up.
 */

export const TORTURE = Object.freeze({
  posixDomain: 'torture-posix',
  dlmDomain: 'torture-dlm',
  /** The posix resource every worker locks ranges of (the shared file's name). */
  posixResource: 'file:posix.dat',
  posixFile: 'posix.dat',
  dlmFile: 'dlm.dat',
  /** Bytes per record: "wIII cCCCCCCCCC tTOKEN", padded, newline. */
  recordBytes: 32,
  /** Records in the posix file; a lock covers 1..posixSlotsPerLockMax of them. */
  posixSlots: 64,
  posixSlotsPerLockMax: 4,
  /** dlm resources slot-0..slot-(dlmSlots-1), one record each. */
  dlmSlots: 16,
  /** With --cache, dlm owners per client, each in a loop of its own: they contend in the client too (client/cache.ts, C9). */
  cachedDlmOwners: 2,
  shortHoldMsMax: 20,
  /** A share of holds long enough to span a restart. */
  longHoldShare: 0.02,
  longHoldMs: 600,
  /** Violations each worker reports in full (all are counted). */
  violationsKeptMax: 20,
  /** Bounds of the command's options. */
  clientsMax: 256,
  durationMsMax: 24 * 60 * 60 * 1000,
  /** How long workers get to finish and report once told to stop. */
  stopTimeoutMs: 60_000,
  /** How long a restarted server gets to say it is listening. */
  startTimeoutMs: 30_000,
  /** `--cluster N`: nodes from 2 to this; their lease TTL (a killed node is restarted once its lease has expired). */
  clusterNodesMax: 7,
  clusterTtlSec: 2,
  /** A paused node stays stopped this long: past its TTL, so it fences itself and comes back as a new member. */
  pauseMs: 3_500,
  /** In a cluster, a lock request's timeout (see WorkerConfig.requestTimeoutMs). */
  clusterRequestTimeoutMs: 20_000,
});

export type TortureMode = 'posix' | 'dlm' | 'mixed';

export interface WorkerConfig {
  id: number;
  /** The server's URL, or every node's in a cluster. */
  url: string | string[];
  /** Directory of the shared files. */
  dir: string;
  mode: TortureMode;
  /** In a cluster: a request unanswered this long fails ETIMEDOUT (counted by code) rather than stopping its worker for good. */
  requestTimeoutMs?: number;
  /** Keep grants cached (--cache); the client then runs TORTURE.cachedDlmOwners dlm owners at once. */
  cache?: boolean;
}

export interface Violation {
  /** Byte offset of the record in the shared file. */
  at: number;
  expected: string;
  found: string;
  time: number;
}

export interface WorkerStats {
  id: number;
  ops: number;
  errors: Record<string, number>;
  /** The first violationsKeptMax, in full. */
  violations: Violation[];
  /** Locks the server refused to give back after a restart. */
  lost: number;
  reclaims: { ms: number; reclaimed: number; lost: number }[];
  /** Records found with a token not older than the one just granted, under a lock still held. */
  tokenRegressions: number;
  /** Writes the checker refused because the region already held a newer token (the writer's lock was fenced). */
  staleWritesRefused: number;
}

export type WorkerMessage = { type: 'stats' | 'final'; stats: WorkerStats };
