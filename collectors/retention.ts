/**
 * Retention: keep at most `count` archives and `bytes` bytes of them in a
 * dump directory, removing the oldest first. The newest dump is always kept,
 * even if it alone is over the byte budget: a dump nobody can read helps no one.
 */

import type { DumpRecord } from './shapes.js';

export interface Retention {
  count: number;
  bytes: number;
}

/** The records to remove from `records` (oldest first in, oldest first out). */
export function expired(records: readonly DumpRecord[], retention: Retention): DumpRecord[] {
  const sorted = [...records].sort((a, b) => a.time - b.time);
  let count = sorted.length;
  let bytes = sorted.reduce((n, r) => n + r.bytes, 0);
  const out: DumpRecord[] = [];
  for (const r of sorted.slice(0, -1)) {
    if (count <= retention.count && bytes <= retention.bytes) break;
    out.push(r);
    count--;
    bytes -= r.bytes;
  }
  return out;
}
