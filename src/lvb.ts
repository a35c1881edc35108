/**
 * The lock value block (Linux DLM rules, src/README.md grant rule 10): read
 * into the handle on a grant and an up-conversion, written on a
 * down-conversion or release from PW/EX, a sequence number bumped on each
 * write, marked invalid when a PW/EX holder is lost.
 */

import type { DlmLock } from './dlm-lock.js';
import type { DlmResource, LvbState } from './dlm-resource.js';
import { invalid } from './errors.js';

export function checkLvbWrite(lock: DlmLock, value: unknown, allowed: boolean, argument: string): Uint8Array | null {
  if (value === undefined) return null;
  const size = lock.res.table.policy.lvbBytes;
  if (size === 0) throw invalid(argument, `absent: domain ${lock.domain} has no value block (lvbBytes: 0)`);
  if (!(value instanceof Uint8Array) || value.length > size) throw invalid(argument, `a Uint8Array of at most ${size} bytes`, value);
  if (!allowed) throw invalid(argument, `written only when leaving PW or EX (the lock holds ${lock.mode})`);
  return value;
}

function lvbState(res: DlmResource): LvbState {
  return (res.lvb ??= { bytes: new Uint8Array(res.table.policy.lvbBytes), seq: 0, valid: true, written: false, restored: null });
}

export function writeLvb(res: DlmResource, value: Uint8Array): void {
  const s = lvbState(res);
  s.bytes.fill(0);
  s.bytes.set(value);
  s.seq++;
  s.valid = true;
  s.written = true;
}

/**
 * A reclaimed lock's copy of the value block, after a restart (the server
 * lost it). A PW/EX holder's copy is the value (at most one such holder
 * exists, and it may have changed it); failing that, a PR or CW holder's copy
 * is current too (no writer could write while it held), the highest
 * sequence number winning. A CR or NL holder's copy may be older than a
 * write made since it was granted, so it is not used: with nothing better
 * the value is marked invalid, as when a writer is lost.
 */
export function restoreLvb(res: DlmResource, mode: 'writer' | 'reader' | 'stale', value: Uint8Array | null, seq: number | null): void {
  const s = lvbState(res);
  if (value === null || mode === 'stale') {
    if (s.restored === null) s.valid = false;
    return;
  }
  if (s.restored === 'writer' || (mode === 'reader' && s.restored === 'reader' && (seq ?? 0) <= s.seq)) return;
  s.bytes.fill(0);
  s.bytes.set(value);
  // Without the copy's sequence number (an older client), a writer's copy counts as one more write.
  s.seq = seq ?? (mode === 'writer' ? s.seq + 1 : 0);
  s.valid = true;
  s.written = true;
  s.restored = mode;
}

export function readLvb(lock: DlmLock): void {
  const s = lvbState(lock.res);
  const x = lock.ensureExtra();
  x.lvb = s.bytes.slice();
  x.lvbSeq = s.seq;
  x.lvbValid = s.valid;
}
