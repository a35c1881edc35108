/**
 * The session table as the server builds it, and what a session's life
 * changes outside it: each creation, resumption, disconnection, expiry and
 * end logged; an expired or ended session's budget and durable record given
 * back and, with its client's last session here, its cluster record
 * forgotten (cluster/README.md, B5); a remote lock taken away told to its
 * session (`lost`); and the session list that readers (the feed, the
 * history, `/api/sessions`) see.
 *
 * Preconditions: the manager, the metrics, the budget and, when there are
 * any, the recovery and the cluster binding exist (server.ts builds them
 * first).
 */

import type { LockManager } from '../src/index.js';
import type { Budget } from './budget.js';
import type { ClusterBinding } from './cluster/binding.js';
import type { AdjustableServerLimits } from './limits.js';
import type { Logger } from './log.js';
import type { ServerMetrics } from './metrics.js';
import type { SessionSummary } from './protocol.js';
import type { Recovery } from './recovery.js';
import { SessionTable, type Session } from './sessions.js';

export function sessionTable(
  lm: LockManager, leaseMs: number, log: Logger, metrics: ServerMetrics, recovery: Recovery | null, budget: Budget,
  cluster: ClusterBinding | null, bounds: AdjustableServerLimits,
): SessionTable {
  // B5: a client's cluster record goes only with its last session here: a client that connected again (a second
  // session under the same id, its first one ending later) still holds locks recorded under that id.
  const forgetClient = (id: string | null): void => {
    if (id !== null && !table.hasClient(id)) cluster?.forgetClient(id);
  };
  const table: SessionTable = new SessionTable(lm, leaseMs, {
    created: (s) => log('info', 'session-created', sessionFields(s)),
    resumed: (s) => log('info', 'session-resumed', sessionFields(s)),
    disconnected: (s) => log('info', 'session-disconnected', sessionFields(s)),
    expired: (s) => {
      metrics.expired.inc();
      log('warn', 'session-expired', sessionFields(s));
      budget.release(s);
      recovery?.forget(s);
      forgetClient(s.who.clientId);
    },
    ended: (s) => {
      log('info', 'session-ended', sessionFields(s));
      budget.release(s);
      recovery?.forget(s);
      forgetClient(s.who.clientId);
    },
  }, bounds);
  return table;
}

/** A remote lock taken away (not released by its client) is reported to its session. */
export function watchLosses(lm: LockManager, lockIndex: Map<number, Session>): void {
  lm.on('released', (e) => {
    if (e.id === 0) return;
    const s = lockIndex.get(e.id);
    if (s === undefined) return;
    lockIndex.delete(e.id);
    s.locks.delete(e.id);
    if (e.reason !== 'released') s.lost(e.id, e.reason);
  });
}

function sessionFields(s: Session): Record<string, unknown> {
  return { session: s.id, client: s.who.client, host: s.who.host, pid: s.who.pid, principal: s.principal.name, owners: s.owners.size };
}

/** The sessions as readers see them: no secret, no verifier, counts instead of contents. */
export function summaries(t: SessionTable): SessionSummary[] {
  return [...t.values()].map((s) => ({
    id: s.id, client: s.who.client, host: s.who.host, pid: s.who.pid, role: s.principal.role, state: s.state,
    owners: s.owners.size, locks: s.locks.size, pending: s.pending.size, createdAt: s.createdAt,
  }));
}
