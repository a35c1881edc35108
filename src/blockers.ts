/**
 * Who a pending request waits for: the edges of the wait-for graph, derived
 * from the lock tables (the one source of truth) whenever they are needed.
 *
 * - hard edge: an owner holding a granted (or converting) lock whose mode
 *   conflicts with the request over an overlapping range;
 * - soft edge: a request queued ahead that this one must let go first under
 *   the grant rules (FIFO includes compatible requests ahead; a new request
 *   waits for every queued conversion). Hard edges are grant rule 1 (the
 *   same `conflicts` test); soft edges restate rules 2–4 (src/README.md)
 *   for one waiter, so a change to those rules must be made here too.
 *
 * A cached grant (src/README.md, "Cached grants", K1) is a hard edge only
 * once its holder confirmed, answering a blocking callback, that a local
 * user holds it: an idle cached grant is given up on that callback without
 * needing any lock, so it cannot close a cycle, and counting it would name
 * false victims. A converting one is always an edge (a local user waits).
 *
 * In a dlm domain without ranges only the head of a queue has hard edges;
 * a request behind others has one soft edge, to the request directly ahead.
 * It cannot be granted before that one, and everything that one waits for
 * it waits for too, so no cycle is lost: a cycle through its own conflict
 * with a holder shows up, at the latest, when it reaches the head (and every
 * change of head is re-checked). This keeps a handover on a queue of
 * 200,000 waiters O(1) instead of rewriting 200,000 edges.
 */

import { DlmWait, overlaps, type DlmResource } from './dlm.js';
import { DlmLock, St } from './dlm-lock.js';
import { conflicts } from './dlm-resource.js';
import { modeName } from './modes.js';
import type { Owner } from './owner.js';
import { PosixResource, PosixWait } from './posix.js';
import { firstConflict } from './ranges.js';
import type { Waiter } from './waiter.js';

export interface Blocker {
  to: Owner;
  hard: boolean;
  /** The blocker's granted mode (hard edge) or requested mode (soft edge). */
  mode: string;
  /** The blocking lock's or request's id (0 for a posix piece). */
  id: number;
  /** Where the blocking lock or request was made. */
  stack: object | null;
}

/** Append the blockers of pending request `w` to `out`. Returns `out`. */
export function blockersOf(w: Waiter, out: Blocker[] = []): Blocker[] {
  if (w.settled) return out;
  if (w instanceof DlmWait) dlmBlockers(w.lock, out);
  else if (w instanceof PosixWait) posixBlockers(w, out);
  return out;
}

function dlmBlockers(l: DlmLock, out: Blocker[]): void {
  const res = l.res;
  if (!res.table.policy.ranges) {
    // The owner's own requests ahead are not edges (an owner does not wait for
    // itself through queue order): it waits for what the first other request
    // ahead waits for, or, with none, for what the head of the queue waits for.
    const ahead = otherAhead(l.prev, l.owner);
    if (ahead !== null) {
      out.push(soft(ahead));
      return;
    }
    const conv = l.st === St.Waiting ? otherAhead(res.converting?.tail ?? null, l.owner) : null;
    if (conv !== null) {
      out.push(soft(conv));
      return;
    }
    holders(l, out);
    return;
  }
  holders(l, out);
  let p = l.prev;
  while (p !== null && (p.owner === l.owner || !overlaps(p.range, l.range))) p = p.prev;
  if (p === null && l.st === St.Waiting) {
    p = res.converting?.tail ?? null;
    while (p !== null && (p.owner === l.owner || !overlaps(p.range, l.range))) p = p.prev;
  }
  if (p !== null) out.push(soft(p));
}

/** The nearest queued request at or before `p` that belongs to another owner. */
function otherAhead(p: DlmLock | null, owner: Owner): DlmLock | null {
  while (p !== null && p.owner === owner) p = p.prev;
  return p;
}

function holders(l: DlmLock, out: Blocker[]): void {
  const res = l.res;
  for (const q of [res.granted, res.converting]) {
    if (q === null) continue;
    for (let g = q.head; g !== null; g = g.next) {
      if (g !== l && conflicts(g, l.rqMode, l.range) && !(g.extra?.cache?.confirmed === false && g.st === St.Granted)) {
        out.push({ to: g.owner, hard: true, mode: modeName(g.grMode), id: g.id, stack: g.stack });
      }
    }
  }
}

function soft(ahead: DlmLock): Blocker {
  return { to: ahead.owner, hard: false, mode: modeName(ahead.rqMode), id: ahead.wait?.id ?? ahead.id, stack: ahead.wait?.stack ?? ahead.stack };
}

function posixBlockers(w: PosixWait, out: Blocker[]): void {
  for (const [owner, pieces] of w.res.holders) {
    if (owner === w.owner) continue;
    const p = firstConflict(pieces, w.start, w.end, w.write);
    if (p !== null) out.push({ to: owner, hard: true, mode: p.write ? 'write' : 'read', id: 0, stack: p.stack });
  }
}

/** The pending requests of a resource (dlm: conversions, then new requests; posix: waiters). */
export function* waitsOn(res: DlmResource | PosixResource): IterableIterator<Waiter> {
  if (res instanceof PosixResource) {
    yield* res.waiters;
    return;
  }
  for (const q of [res.converting, res.waiting]) {
    if (q === null) continue;
    for (const l of q) if (l.wait !== null) yield l.wait;
  }
}
