/**
 * An owner's POSIX lock set on one resource, as the feed's events change it:
 * `granted` sets a range (replacing the owner's own locks inside it),
 * `released` unlocks a range (splitting what it cuts). The same rules as the
 * core's posix.ts, so the table shows exactly the pieces the server holds.
 */

export interface Piece {
  start: number;
  /** Exclusive; Infinity runs to the end of the file. */
  end: number;
  type: 'read' | 'write';
  since: number;
}

/** The pieces after setting [start, end) to `type`, or unlocking it (type null). Input and output sorted by start. */
export function applyRange(pieces: readonly Piece[], start: number, end: number, type: Piece['type'] | null, now: number): Piece[] {
  const out: Piece[] = [];
  for (const p of pieces) {
    if (p.end <= start || p.start >= end) {
      out.push(p);
      continue;
    }
    if (p.start < start) out.push({ ...p, end: start });
    if (p.end > end) out.push({ ...p, start: end });
  }
  if (type !== null) out.push({ start, end, type, since: now });
  out.sort((a, b) => a.start - b.start);
  // Adjacent pieces of one type are one lock, as fcntl reports them.
  const merged: Piece[] = [];
  for (const p of out) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.type === p.type && last.end === p.start) merged[merged.length - 1] = { ...last, end: p.end, since: Math.min(last.since, p.since) };
    else merged.push(p);
  }
  return merged;
}
