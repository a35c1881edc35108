/**
 * Event payloads: plain JSON-ready objects built from a lock or a pending
 * request (shapes.ts has their types). Built only when someone listens.
 */

import type { DlmLock } from './dlm-lock.js';
import { modeName } from './modes.js';
import type { Owner } from './owner.js';
import type { PosixResource } from './posix.js';
import type { Waiter } from './waiter.js';
import type { CacheUseEvent, ConvertedEvent, DemotedEvent, FailedEvent, GrantedEvent, LossReason, ReleasedEvent, ReportedRange, WaitingEvent } from './shapes.js';

export function reportRange(start: number, end: number): ReportedRange {
  return { start, end: end === Infinity ? null : end };
}

// Each payload is one object literal. `{ ...base, more }` reads better, but V8 (Node 20) builds an object
// spread followed by more properties on a slow path: measured, ~2 µs per event against ~20 ns for the
// literal. With a listener on \`granted\` and \`released\` (the server always has one, for its metrics), a
// lock + release cost 5.5 µs that way; built as literals, 0.6–1.2 µs (0.45 µs with no listener).

function lockRange(lock: DlmLock): ReportedRange | null {
  return lock.range === null ? null : reportRange(lock.range.start, lock.range.end);
}

export function grantedPayload(node: string, lock: DlmLock, waitedMs: number): GrantedEvent {
  return {
    node, domain: lock.domain, resource: lock.resource, owner: lock.owner.name, ownerId: lock.owner.id,
    id: lock.id, mode: lock.mode, range: lockRange(lock), token: String(lock.tokenN), waitedMs, ...(lock.extra?.cache ? { cached: true as const } : {}),
  };
}

export function cacheUsePayload(node: string, lock: DlmLock): CacheUseEvent {
  const c = lock.extra!.cache!;
  return {
    node, domain: lock.domain, resource: lock.resource, owner: lock.owner.name, ownerId: lock.owner.id,
    id: lock.id, mode: lock.mode, range: lockRange(lock), confirmed: c.confirmed, inUse: c.use?.inUse ?? null, user: c.use?.user ?? null, site: c.use?.site ?? null,
  };
}

export function convertedPayload(node: string, lock: DlmLock, from: number, waitedMs: number): ConvertedEvent {
  return {
    node, domain: lock.domain, resource: lock.resource, owner: lock.owner.name, ownerId: lock.owner.id,
    id: lock.id, mode: lock.mode, range: lockRange(lock), from: modeName(from), token: String(lock.tokenN), waitedMs,
  };
}

export function demotedPayload(node: string, lock: DlmLock, from: number): DemotedEvent {
  return {
    node, domain: lock.domain, resource: lock.resource, owner: lock.owner.name, ownerId: lock.owner.id,
    id: lock.id, mode: 'NL', range: lockRange(lock), from: modeName(from), requested: modeName(lock.rqMode),
  };
}

export function releasedPayload(node: string, lock: DlmLock, reason: LossReason, heldMs: number): ReleasedEvent {
  return {
    node, domain: lock.domain, resource: lock.resource, owner: lock.owner.name, ownerId: lock.owner.id,
    id: lock.id, mode: lock.mode, range: lockRange(lock), reason, heldMs,
  };
}

/** A posix setlk applied: the range set (a piece may have merged with its neighbours), under the grant's token. */
export function posixGrantedPayload(
  node: string, owner: Owner, res: PosixResource, start: number, end: number, write: boolean, token: number, id: number,
): GrantedEvent {
  return {
    node, domain: res.table.policy.name, resource: res.name, owner: owner.name, ownerId: owner.id,
    id, mode: write ? 'write' : 'read', range: reportRange(start, end), token: String(token), waitedMs: 0,
  };
}

/** A posix range unlocked (or dropped with its owner): a posix piece has no single hold to time, so heldMs is 0. */
export function posixReleasedPayload(
  node: string, owner: Owner, res: PosixResource, start: number, end: number, reason: LossReason, id: number,
): ReleasedEvent {
  return {
    node, domain: res.table.policy.name, resource: res.name, owner: owner.name, ownerId: owner.id,
    id, mode: 'unlock', range: reportRange(start, end), reason, heldMs: 0,
  };
}

/** A pending request's range as reported: its lock's (dlm) or its own (posix). */
function waitRange(w: Waiter): ReportedRange | null {
  const lock = (w as Partial<{ lock: DlmLock }>).lock;
  if (lock !== undefined) return lockRange(lock);
  const posix = w as Partial<{ start: number; end: number }>;
  return posix.start === undefined ? null : reportRange(posix.start, posix.end!);
}

/** A conversion is reported under its lock's id, like the `converted` that ends it. */
function waitLockId(w: Waiter): number {
  return (w as Partial<{ lock: DlmLock }>).lock?.id ?? w.id;
}

export function waitingPayload(node: string, w: Waiter): WaitingEvent {
  return {
    node, domain: w.domain, resource: w.resource, owner: w.owner.name, ownerId: w.owner.id,
    id: waitLockId(w), mode: w.wanted, range: waitRange(w), waitId: w.id, held: heldMode(w),
  };
}

export function failedPayload(node: string, w: Waiter, code: string): FailedEvent {
  return {
    node, domain: w.domain, resource: w.resource, owner: w.owner.name, ownerId: w.owner.id,
    id: waitLockId(w), mode: w.wanted, range: waitRange(w), waitId: w.id, code,
  };
}

export function heldMode(w: Waiter): string | null {
  const lock = (w as Partial<{ lock: DlmLock; conversion: boolean }>).lock;
  return lock !== undefined && lock.grMode >= 0 ? modeName(lock.grMode) : null;
}
