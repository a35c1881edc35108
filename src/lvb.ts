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
  return (res.lvb ??= { bytes: new Uint8Array(res.table.policy.lvbBytes), seq: 0, valid: true, written: false });
}

export function writeLvb(res: DlmResource, value: Uint8Array): void {
  const s = lvbState(res);
  s.bytes.fill(0);
  s.bytes.set(value);
  s.seq++;
  s.valid = true;
  s.written = true;
}

export function readLvb(lock: DlmLock): void {
  const s = lvbState(lock.res);
  const x = lock.ensureExtra();
  x.lvb = s.bytes.slice();
  x.lvbSeq = s.seq;
  x.lvbValid = s.valid;
}
