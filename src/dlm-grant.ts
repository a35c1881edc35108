/**
 * Granting dlm requests: grant rules 1–5 and 7 (src/README.md, "Grant
 * rules", numbered there) over one resource's three queues, and what a grant
 * or a conversion changes (token, value block, owner's list, events).
 *
 * Preconditions: `grant` takes a request not granted yet, either new (on no
 * queue) or queued on its resource's waiting queue; `applyConversion` a held
 * lock, granted in place or queued on the convert queue (asserted). Both
 * take their token first, so a refusal (no token left in a cluster) changes
 * nothing. `grantPending` runs after something on the resource left or
 * weakened, with the queues as the rules left them (FIFO, conversions
 * first); `dlmBlockers` (blockers.ts) restates rules 2–4 for the wait-for
 * graph and must change with them.
 */

import type { Range } from './api.js';
import { assert } from './assert.js';
import { notifyHeads } from './dlm-blocking.js';
import { St, type DlmLock } from './dlm-lock.js';
import { conflicts, overlaps, type DlmResource } from './dlm-resource.js';
import type { EngineHost } from './host.js';
import { CACHE_TOKEN_RUN, OFFSET_MAX } from './limits.js';
import type { LinkedList } from './list.js';
import { EX, isDownConversion, NL } from './modes.js';
import { readLvb } from './lvb.js';
import { settleWait } from './waits.js';

/** Grant a queued or brand-new request in `mode`. */
export function grant(m: EngineHost, lock: DlmLock, mode: number, now: number): void {
  // Preconditions (src/README.md, DlmLock invariants): a request not granted yet, on its waiting queue or on none (new).
  assert(lock.st === St.Waiting && lock.grMode === -1, 'grant: the lock is still a request');
  assert(lock.wait === null ? lock.list === null : lock.list === lock.res.waiting, 'grant: a queued request is on its waiting queue, a new one on none');
  assert(mode >= NL && mode <= EX, 'grant: a mode');
  // First, before anything changes: in a cluster with no token block left this throws ENOLCK (tokens.ts).
  const token = m.nextToken();
  const res = lock.res;
  const wait = lock.wait;
  if (wait !== null) {
    lock.wait = null;
    res.waiting!.remove(lock);
  }
  lock.grMode = mode;
  lock.rqMode = mode;
  lock.st = St.Granted;
  lock.tokenN = token;
  if (lock.extra?.cache) {
    // K5: granted while others wait, it would be called back at once: a plain lock instead.
    if (res.queued > 0) lock.extra.cache = null;
    else {
      lock.extra.cache.tokenLast = m.extendToken(CACHE_TOKEN_RUN);
      lock.extra.cache.confirmed = false;
    }
  }
  // Whole milliseconds: a Smi field, where a fractional double would be boxed per lock.
  lock.grantedAt = Math.floor(now);
  res.granted.push(lock);
  lock.owner.addDlmLock(lock);
  if (lock.extra !== null) {
    lock.extra.highBast = -1;
    if (res.table.policy.lvbBytes > 0) readLvb(lock);
  }
  if (wait !== null) settleWait(m, wait, lock);
  m.lockGranted(lock, wait);
}

/** Move a lock to `mode` in place (a granted or queued conversion). */
export function applyConversion(m: EngineHost, lock: DlmLock, mode: number, up: boolean): void {
  // Preconditions: a held lock, granted in place or queued on the convert queue; a down-conversion weakens it.
  assert(lock.st === St.Granted || lock.st === St.Converting, 'applyConversion: a held lock');
  assert(lock.wait === null ? lock.st === St.Granted && lock.list === lock.res.granted : lock.list === lock.res.converting, 'applyConversion: on the queue its state names');
  assert(up || isDownConversion(lock.grMode, mode), 'applyConversion: a conversion that is not up is down');
  const res = lock.res;
  const from = lock.grMode;
  // Before anything changes, as in grant().
  const token = up && mode !== from ? m.nextToken() : 0;
  const wait = lock.wait;
  if (wait !== null) {
    lock.wait = null;
    res.converting!.remove(lock);
    res.granted.push(lock);
  }
  lock.grMode = mode;
  lock.rqMode = mode;
  lock.st = St.Granted;
  if (lock.extra?.cache) lock.extra.cache.confirmed = false;
  if (up && mode !== from) {
    lock.tokenN = token;
    if (lock.extra?.cache) lock.extra.cache.tokenLast = m.extendToken(CACHE_TOKEN_RUN);
    if (lock.extra !== null && res.table.policy.lvbBytes > 0 && !isDownConversion(from, mode)) readLvb(lock);
  }
  if (lock.extra !== null) {
    lock.extra.highBast = -1;
    if (mode !== NL) lock.extra.demoted = false;
  }
  if (wait !== null) settleWait(m, wait, lock);
  m.lockConverted(lock, from, wait);
}

/** Something left or weakened: grant what can be granted now, then tidy up. */
export function afterChange(m: EngineHost, res: DlmResource): void {
  if (res.queued > 0) {
    grantPending(m, res);
    if (res.queued > 0) m.resourceChanged(res);
  }
  freeIfUnused(res);
}

/** A resource with no lock, no request and no written value block goes back to its table (idle). */
export function freeIfUnused(res: DlmResource): void {
  if (res.granted.size === 0 && res.queued === 0 && !(res.lvb?.written ?? false)) res.table.release(res);
}

/**
 * Grant rules 3 and 4: conversions first, in order; new requests only once
 * no conversion is queued; FIFO in each queue. Without ranges only the head
 * of a queue can be granted; with ranges, a queued request waits only for
 * earlier requests whose ranges overlap its own.
 */
export function grantPending(m: EngineHost, res: DlmResource): void {
  if (!res.table.policy.ranges) {
    const conv = res.converting;
    if (conv !== null) {
      for (let l = conv.head; l !== null; l = conv.head) {
        const mode = grantableMode(res, l);
        if (mode < 0) break;
        applyConversion(m, l, mode, true);
      }
    }
    const wq = res.waiting;
    if (wq !== null && (conv === null || conv.size === 0)) {
      // The clock is read once, and only if something is granted (a reading is 50–60 ns).
      let now: number | undefined;
      for (let l = wq.head; l !== null; l = wq.head) {
        const mode = grantableMode(res, l);
        if (mode < 0) break;
        grant(m, l, mode, (now ??= m.clock.now()));
      }
    }
  } else {
    grantPendingRanges(m, res, m.clock.now());
  }
  if (res.queued > 0) notifyHeads(m, res);
}

function grantPendingRanges(m: EngineHost, res: DlmResource, now: number): void {
  for (let progress = true; progress; ) {
    progress = false;
    const ahead: Range[] = [];
    for (const queue of [res.converting, res.waiting]) {
      if (queue === null) continue;
      for (const l of queue) {
        const blockedAhead = ahead.some((r) => overlaps(r, l.range));
        const mode = blockedAhead ? -1 : grantableMode(res, l);
        if (mode < 0) {
          ahead.push(l.range ?? { start: 0, end: OFFSET_MAX });
          continue;
        }
        if (l.st === St.Converting) applyConversion(m, l, mode, true);
        else grant(m, l, mode, now);
        progress = true;
      }
    }
  }
}

/** Rule 7: the requested mode if grantable (rule 1), else the alternative mode if that is, else -1. */
function grantableMode(res: DlmResource, l: DlmLock): number {
  if (blocker(res, l, l.rqMode, l.range) === null) return l.rqMode;
  const alt = l.extra?.alt ?? -1;
  if (alt >= 0 && blocker(res, l, alt, l.range) === null) return alt;
  return -1;
}

/** Rule 1: the first granted or converting lock (other than `self`) whose granted mode conflicts with `mode` over `range`. */
export function blocker(res: DlmResource, self: DlmLock, mode: number, range: Range | null): DlmLock | null {
  for (let l = res.granted.head; l !== null; l = l.next) {
    if (l !== self && conflicts(l, mode, range)) return l;
  }
  const conv = res.converting;
  if (conv !== null) {
    for (let l = conv.head; l !== null; l = l.next) {
      if (l !== self && conflicts(l, mode, range)) return l;
    }
  }
  return null;
}

/** Grant rule 2: a new request is granted at once only if no queued request (overlapping it) is ahead. */
export function queuesClear(res: DlmResource, range: Range | null): boolean {
  if (res.queued === 0) return true;
  if (!res.table.policy.ranges) return false;
  return convertQueueClear(res, range) && !anyOverlap(res.waiting, range);
}

/** No queued conversion (overlapping `range`) is ahead: what `quecvt` (rule 5) and rule 2 require. */
export function convertQueueClear(res: DlmResource, range: Range | null): boolean {
  if (res.converting === null || res.converting.size === 0) return true;
  return res.table.policy.ranges && !anyOverlap(res.converting, range);
}

function anyOverlap(queue: LinkedList<DlmLock> | null, range: Range | null): boolean {
  if (queue === null) return false;
  for (let l = queue.head; l !== null; l = l.next) if (overlaps(l.range, range)) return true;
  return false;
}
