/**
 * The demo's settings in one place: its domains (short soft timeouts so a
 * hang shows up within seconds, not the production 30 s), how busy it is,
 * and how often each incident is staged.
 */

import type { DomainConfig } from '../../src/index.js';

export const DEMO = Object.freeze({
  nodes: 3,
  lookupTasksPerNode: 4,
  /** Share of lookups that convert PR → EX to update. */
  updateShare: 0.1,
  /** Inodes the lookups pick from, files the data and advisory tasks pick from. */
  inodes: 120,
  files: 40,
  /** Directory inodes each node keeps cached in PR. */
  cachedPerNode: 40,
  lvbBytes: 32,
  /** A steady-traffic request that waits this long gives up (ETIMEDOUT) and the task moves on. */
  requestTimeoutMs: 20_000,
  /** The staged deadlock's requests give up after this (the detector normally ends it in milliseconds). */
  incidentTimeoutMs: 5_000,
  softTimeoutMs: 3_000,
  persistentAfterMs: 6_000,
  /** A disconnected client's session (and locks) expire after this. */
  leaseMs: 8_000,
  /** Automatic hang-dumps at most this often (production: 10 minutes). */
  dumpRateLimitMs: 20_000,
  dumpsKept: 20,
  /** Incidents: first after `…FirstMs`, then every `…EveryMs`. */
  deadlockFirstMs: 4_000,
  deadlockEveryMs: 15_000,
  slowHolderFirstMs: 2_000,
  slowHolderEveryMs: 25_000,
  disconnectFirstMs: 6_000,
  disconnectEveryMs: 30_000,
});

export const DEMO_DOMAINS: DomainConfig[] = [
  { name: 'lin', kind: 'dlm', softTimeoutMs: DEMO.softTimeoutMs, persistentAfterMs: DEMO.persistentAfterMs },
  { name: 'data', kind: 'dlm', ranges: true, lvbBytes: DEMO.lvbBytes, softTimeoutMs: DEMO.softTimeoutMs * 3 },
  { name: 'advlock', kind: 'posix', softTimeoutMs: DEMO.softTimeoutMs * 3 },
];
