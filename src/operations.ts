/**
 * The manager's operations on locks and waits named from outside a lock
 * operation (cold paths): finding one by id, an operator's break or cancel,
 * a cached grant handed to another owner, a cluster node giving resources
 * up, closing. Functions of the host (host.ts), kept out of manager.ts,
 * whose public methods (LockManager.breakLock, ...) call them.
 *
 * Preconditions: each is one synchronous step on the manager's thread,
 * checked before it changes anything (ENOENT for an id that names nothing,
 * EINVAL for a lock that is not granted); waits on the same resources fail
 * before their holders lose anything (revokeResources, failMany).
 */

import { DlmResource } from './dlm.js';
import { St, type DlmLock } from './dlm-lock.js';
import { invalid, LockError } from './errors.js';
import type { EngineHost } from './host.js';
import type { Owner } from './owner.js';
import type { PosixResource } from './posix.js';
import type { LossReason } from './shapes.js';
import { checkInteger, checkName } from './validate.js';
import type { Waiter } from './waiter.js';
import { failMany, failWait } from './waits.js';

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

/** LockManager.handOver (K6): `lock`, granted, passes to `to` in place; `to`'s limits are checked first. */
export function handOver(m: EngineHost, lock: DlmLock, to: Owner): void {
  if (lock.st !== St.Granted) throw invalid('lock', 'a granted lock (not waiting or converting)', lock.state);
  if (to.manager !== m) throw invalid('owner', 'an owner of this manager');
  const from = lock.owner;
  if (from === to) return;
  m.checkLockCount(to, 1, lock.domain, lock.resource);
  from.removeDlmLock(lock);
  (lock as { owner: Owner }).owner = to;
  to.addDlmLock(lock);
  if (lock.res.queued > 0) m.resourceChanged(lock.res);
  if (lock.extra?.cache) m.lockCacheUse(lock);
}

/** LockManager.breakLock: the granted lock `id` is revoked with `reason`; ENOENT if there is none. */
export function breakLock(m: EngineHost, id: number, reason: Exclude<LossReason, 'released'>): void {
  const found = findById(m, id);
  if (found === null || !('lock' in found)) throw new LockError('ENOENT', `no granted lock with id ${id}`, { node: m.node });
  m.dlm.revoke(found.lock, reason);
}

/** LockManager.breakPosix: every piece owner `ownerId` holds on the resource is dropped; ENOENT if it holds none there. */
export function breakPosix(m: EngineHost, domain: string, resource: string, ownerId: number, reason: Exclude<LossReason, 'released'>): void {
  const res = m.posixTable(domain).get(checkName(resource, 'resource', m.limits.nameBytesMax));
  const id = checkInteger(ownerId, 'ownerId', 1, Number.MAX_SAFE_INTEGER);
  const owner = res === undefined ? undefined : [...res.holders.keys()].find((o) => o.id === id);
  if (res === undefined || owner === undefined) throw new LockError('ENOENT', `owner ${id} holds no posix lock on ${domain}:${resource}`, { node: m.node });
  m.posix.dropOwner(res, owner, reason);
}

/** LockManager.cancelWait: the pending request `id` fails with ECANCELED; ENOENT if there is none. */
export function cancelWait(m: EngineHost, id: number): void {
  const found = findById(m, id);
  if (found === null || !('wait' in found)) throw new LockError('ENOENT', `no pending request with id ${id}`, { node: m.node });
  const w = found.wait;
  failWait(m, w, m.waitError(w, 'ECANCELED', 'cancelled by an operator'));
}

/** LockManager.pendingOwner: the owner of pending request `waitId`, or null. */
export function pendingOwner(m: EngineHost, waitId: number): Owner | null {
  const found = findById(m, waitId);
  return found !== null && 'wait' in found ? found.wait.owner : null;
}
