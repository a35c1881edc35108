/**
 * The manager's operations that walk its tables (cold paths: an operator's
 * break or cancel, a cluster node giving resources up, closing): functions
 * of the host (host.ts), kept out of manager.ts.
 */

import { DlmResource } from './dlm.js';
import { St, type DlmLock } from './dlm-lock.js';
import type { LockError } from './errors.js';
import type { EngineHost } from './host.js';
import type { Owner } from './owner.js';
import type { PosixResource } from './posix.js';
import type { LossReason } from './shapes.js';
import type { Waiter } from './waiter.js';
import { failMany } from './waits.js';

/** A granted (or converting) lock or a pending request by id: a scan of every live resource. */
export function findById(m: EngineHost, id: number): { lock: DlmLock } | { wait: Waiter } | null {
  for (const entry of m.domains.values()) {
    for (const res of entry.table.live()) {
      if (res instanceof DlmResource) {
        for (const q of [res.granted, res.converting, res.waiting]) {
          if (q === null) continue;
          for (const l of q) {
            if (l.id === id && l.st !== St.Waiting) return { lock: l };
            if (l.wait !== null && l.wait.id === id) return { wait: l.wait };
          }
        }
      } else {
        for (const w of res.waiters) if (w.id === id) return { wait: w };
      }
    }
  }
  return null;
}

/** LockManager.revokeResources: waits first on each resource (a holder revoked first would hand it to a waiter about to be revoked). */
export function revokeResources(m: EngineHost, which: (domain: string, resource: string) => boolean, reason: Exclude<LossReason, 'released'>): Set<string> {
  const clients = new Set<string>();
  const note = (o: Owner): void => {
    if (o.client !== null) clients.add(o.client);
  };
  for (const [domain, entry] of m.domains) {
    const chosen = [...entry.table.live()].filter((res) => which(domain, res.name));
    for (const res of chosen) {
      if (res instanceof DlmResource) {
        const locks = [res.waiting, res.converting, res.granted].flatMap((q) => (q === null ? [] : [...q]));
        for (const l of locks) {
          note(l.owner);
          m.dlm.revoke(l, reason);
        }
      } else {
        const p = res as PosixResource;
        const waits = [...p.waiters];
        for (const w of waits) note(w.owner);
        failMany(m, waits, (w) => m.waitError(w, 'EREVOKED', `request revoked (${reason})`, reason));
        for (const o of [...p.holders.keys()]) {
          note(o);
          m.posix.dropOwner(p, o, reason);
        }
      }
    }
  }
  return clients;
}

/** Every pending request fails with `errorFor`'s error, a resource at a time (closing the manager). */
export function failAllWaits(m: EngineHost, errorFor: (w: Waiter) => LockError): void {
  for (const entry of m.domains.values()) {
    for (const res of [...entry.table.live()]) {
      const waits: Waiter[] = [];
      if (res instanceof DlmResource) {
        for (const q of [res.converting, res.waiting]) if (q !== null) for (const l of q) waits.push(l.wait!);
      } else {
        for (const w of res.waiters) waits.push(w);
      }
      failMany(m, waits, errorFor);
    }
  }
}
