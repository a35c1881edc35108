/**
 * The manager's events an operator wants in the log, one line each:
 * deadlocks, hangs (with the dump each started, if any; in a cluster, where
 * each root blocker holds), hangs resolved, lock-order inversions.
 *
 * Precondition: the dumper, when there is one, listens to the manager
 * before these listeners are added, so a `hang` line names the dump the
 * hang just started (server.ts).
 */

import type { Hang, LockManager } from '../src/index.js';
import type { Logger } from './log.js';

export function logManagerEvents(lm: LockManager, log: Logger, dumpOf: (hangId: number) => string | null): void {
  lm.on('deadlock', (d) => log('warn', 'deadlock', {
    kind: d.kind, victim: d.victim, policy: d.policy, ...(d.nodes === undefined ? {} : { nodes: d.nodes }),
    cycle: d.cycle.map((c) => ({ owner: c.owner, domain: c.domain, resource: c.resource, held: c.held, wanted: c.wanted })),
  }));
  const hang = (level: 'warn' | 'error', event: string) => (h: Hang): void => log(level, event, {
    owner: h.owner, domain: h.domain, resource: h.resource, wanted: h.wanted, since: h.since,
    rootBlockers: h.rootBlockers.map((b) => b.owner), classification: h.classification, dump: dumpOf(h.id),
    // In a cluster (C1–C3): where each root blocker holds, its client and whether it is connected; nodes that did not answer.
    ...(h.nodes === undefined ? {} : {
      rootBlockersAt: h.rootBlockers.map((b) => ({ node: b.node ?? null, client: b.client ?? null, connected: b.connected ?? null })),
      ...(h.nodes.missing.length === 0 ? {} : { missingNodes: h.nodes.missing }),
    }),
  });
  lm.on('hang', hang('warn', 'hang'));
  lm.on('hang-persistent', hang('error', 'hang-persistent'));
  lm.on('hang-resolved', (h) => log('info', 'hang-resolved', { owner: h.owner, domain: h.domain, resource: h.resource, outcome: h.outcome, waitedMs: h.waitedMs, dump: dumpOf(h.id) }));
  lm.on('order-inversion', (o) => log('warn', 'order-inversion', { classes: o.classes }));
}
