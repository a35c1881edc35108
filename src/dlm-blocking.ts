/**
 * Blocking notifications for dlm locks (grant rule 11, the VMS/Linux
 * "blocking AST"; K1 and K3 for cached grants, src/README.md "Cached
 * grants"): a holder whose granted mode blocks a queued request is told the
 * mode that waits, once per highest mode since its last grant, in a
 * microtask, never inside a lock operation.
 *
 * Preconditions: called after the queues changed (a request queued, a grant
 * pass left requests queued), with `requester` on its queue or about to be
 * refused; only locks with `extra` can have a callback, so a plain lock
 * costs a null test here.
 */

import type { Range } from './api.js';
import { St, type DlmLock } from './dlm-lock.js';
import { conflicts, type DlmResource } from './dlm-resource.js';
import type { EngineHost } from './host.js';
import { modeName } from './modes.js';

/** Tell holders that `mode` waits for them (the blocking AST), once per highest mode. */
export function notifyBlocking(m: EngineHost, res: DlmResource, requester: DlmLock, mode: number, range: Range | null): void {
  // Runs for every request that queues and after every handover: no array of the two queues.
  notifyFrom(m, res.granted.head, requester, mode, range);
  notifyFrom(m, res.converting?.head ?? null, requester, mode, range);
}

function notifyFrom(m: EngineHost, l: DlmLock | null, requester: DlmLock, mode: number, range: Range | null): void {
  for (; l !== null; l = l.next) {
    if (l.extra !== null && l !== requester && conflicts(l, mode, range)) bast(m, l, mode);
  }
}

/** After a grant pass that left requests queued: the holders that block the first of them are told. */
export function notifyHeads(m: EngineHost, res: DlmResource): void {
  const head = res.converting?.head ?? res.waiting?.head ?? null;
  if (head !== null) notifyBlocking(m, res, head, head.rqMode, head.range);
}

/** K3: blocking callbacks to the cached grants that conflict with `mode` (a request that will not wait). */
export function notifyCached(m: EngineHost, res: DlmResource, requester: DlmLock, mode: number, range: Range | null): void {
  for (const q of [res.granted, res.converting]) {
    for (let l = q?.head ?? null; l !== null; l = l.next) {
      if (l.extra?.cache && l !== requester && conflicts(l, mode, range)) bast(m, l, mode);
    }
  }
}

/** Call `l`'s onBlocking with `mode`, unless it was told this mode or a higher one since its last grant. */
export function bast(m: EngineHost, l: DlmLock, mode: number): void {
  const x = l.extra;
  if (x === null || x.onBlocking === null || x.highBast >= mode) return;
  x.highBast = mode;
  const cb = x.onBlocking;
  const name = modeName(mode);
  // Asynchronous, like an AST: user code never runs inside a lock operation.
  queueMicrotask(() => {
    if (l.st === St.Granted || l.st === St.Converting) m.callUser(cb, name);
  });
}

/**
 * K1: the holder of cached grant `lock` says it is in use (its answer to a
 * blocking callback): from now on waits on it are edges of the wait-for
 * graph, so the waits on its resource are checked again. False when the lock
 * is not a cached grant or no longer held.
 */
export function confirmCached(m: EngineHost, lock: DlmLock): boolean {
  const c = lock.extra?.cache;
  if (c === undefined || c === null || (lock.st !== St.Granted && lock.st !== St.Converting)) return false;
  if (c.confirmed) return true;
  c.confirmed = true;
  if (lock.res.queued > 0) m.resourceChanged(lock.res);
  m.lockCacheUse(lock);
  return true;
}
