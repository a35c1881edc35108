/**
 * An owner's posix lock set on one resource: sorted, non-overlapping pieces,
 * adjacent pieces of the same type merged, as fcntl keeps a process's locks
 * on a file (src/README.md, "PieceList"). `end` is exclusive; Infinity
 * means "to the end, however far" (fcntl's len 0).
 *
 * Invariant of every PieceList: for consecutive pieces a, b:
 * a.end <= b.start, and a.end === b.start implies a.write !== b.write.
 */

export interface Piece {
  start: number;
  end: number;
  write: boolean;
  /** Fencing token of the grant that set this piece. */
  token: number;
  /** Request-site stack holder of that grant (stacks.ts), or null. */
  stack: object | null;
  /** When that grant happened (clock ms, whole). */
  at: number;
}

export type PieceList = Piece[];

/** Result of applying one setlk to a list. */
export interface ApplyResult {
  pieces: PieceList;
  /** Some region became unlocked or went from write to read: a waiter may now fit. */
  loosened: boolean;
  /** The list is different from before (re-applying the same lock changes nothing). */
  changed: boolean;
}

/** Index of the first piece whose end is after `start` (binary search). */
export function firstEndingAfter(pieces: PieceList, start: number): number {
  let lo = 0;
  let hi = pieces.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pieces[mid]!.end <= start) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The part [start, end) of piece p: a literal, not `{ ...p, end }` (V8's slow path, see payloads.ts). */
function piece(p: Piece, start: number, end: number): Piece {
  return { start, end, write: p.write, token: p.token, stack: p.stack, at: p.at };
}

/**
 * Set [start, end) to `write` (true/false), or unlock it (null), replacing
 * what the owner held there: pieces are split at the edges and neighbours of
 * the same type merged. Returns a new list; `pieces` is not modified.
 */
export function applyRange(
  pieces: PieceList, start: number, end: number, write: boolean | null, token: number, stack: object | null = null, at = 0,
): ApplyResult {
  const i = firstEndingAfter(pieces, start);
  let j = i;
  let loosened = false;
  let changed = false;
  const middle: Piece[] = [];
  for (; j < pieces.length && pieces[j]!.start < end; j++) {
    const p = pieces[j]!;
    if (write === null || (p.write && !write)) loosened = true;
    if (p.start < start) middle.push(piece(p, p.start, start));
    if (p.end > end) middle.push(piece(p, end, p.end));
  }
  const covered = coveredExactly(pieces, i, j, start, end, write);
  if (write !== null) {
    const pos = middle.length > 0 && middle[0]!.start < start ? 1 : 0;
    middle.splice(pos, 0, { start, end, write, token, stack, at });
  }
  changed = !covered;
  if (!changed) return { pieces, loosened: false, changed: false };
  const out = pieces.slice(0, i);
  // Merge across the left edge, the middle and the right edge.
  for (const p of middle) pushMerged(out, p);
  for (let k = j; k < pieces.length; k++) pushMerged(out, pieces[k]!);
  return { pieces: out, loosened, changed };
}

function pushMerged(out: Piece[], p: Piece): void {
  const last = out[out.length - 1];
  if (last !== undefined && last.end === p.start && last.write === p.write) {
    const newer = p.token > last.token ? p : last;
    out[out.length - 1] = { start: last.start, end: p.end, write: p.write, token: newer.token, stack: newer.stack, at: newer.at };
  } else {
    out.push(p);
  }
}

/** True when pieces[i..j) already hold exactly [start, end) as `write` (or nothing there, for an unlock). */
function coveredExactly(pieces: PieceList, i: number, j: number, start: number, end: number, write: boolean | null): boolean {
  if (write === null) return i === j;
  if (j - i !== 1) return false;
  const p = pieces[i]!;
  return p.write === write && p.start <= start && p.end >= end;
}

/** The first piece overlapping [start, end) that conflicts with a request of type `write`. */
export function firstConflict(pieces: PieceList, start: number, end: number, write: boolean): Piece | null {
  for (let k = firstEndingAfter(pieces, start); k < pieces.length; k++) {
    const p = pieces[k]!;
    if (p.start >= end) break;
    if (write || p.write) return p;
  }
  return null;
}
