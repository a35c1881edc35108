/**
 * Event payloads: plain JSON-ready objects built from a lock or a pending
 * request (lock-events.ts has their types). Built only when someone listens.
 */

import type { DlmLock } from './dlm-lock.js';
import type { LockEventBase, ReportedRange } from './lock-events.js';
import { modeName } from './modes.js';
import type { Waiter } from './waiter.js';

export function reportRange(start: number, end: number): ReportedRange {
  return { start, end: end === Infinity ? null : end };
}

export function lockBase(node: string, lock: DlmLock): LockEventBase {
  return {
    node, domain: lock.domain, resource: lock.resource, owner: lock.owner.name, ownerId: lock.owner.id,
    id: lock.id, mode: lock.mode, range: lock.range === null ? null : reportRange(lock.range.start, lock.range.end),
  };
}

export function waitBase(node: string, w: Waiter): LockEventBase {
  const posix = w as Partial<{ start: number; end: number }>;
  const lock = (w as Partial<{ lock: DlmLock }>).lock;
  const range = lock !== undefined ? lock.range : posix.start !== undefined ? { start: posix.start, end: posix.end! } : null;
  return {
    node, domain: w.domain, resource: w.resource, owner: w.owner.name, ownerId: w.owner.id,
    // A conversion is reported under its lock's id, like the `converted` that ends it.
    id: lock !== undefined ? lock.id : w.id, mode: w.wanted, range: range === null ? null : reportRange(range.start, range.end),
  };
}

export function heldMode(w: Waiter): string | null {
  const lock = (w as Partial<{ lock: DlmLock; conversion: boolean }>).lock;
  return lock !== undefined && lock.grMode >= 0 ? modeName(lock.grMode) : null;
}
