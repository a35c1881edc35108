/**
 * A reference model of posix locks: per resource and owner, one cell per
 * byte of a 64-byte file plus one cell standing for [64, ∞). Requests start
 * below 64 and end at or below 64, or run to the end (len 0), so everything
 * from 64 on is always locked the same way and one cell is enough for it.
 */

import fc from 'fast-check';
import type { PosixRequest, ResourceSnapshot } from '../../src/index.js';

export const FILE_BYTES = 64;
const CELLS = FILE_BYTES + 1;

export type Cell = 0 | 'read' | 'write';

/** A piece as the snapshot reports it: end exclusive, null when it runs to the end. */
export interface Run {
  owner: string;
  type: 'read' | 'write';
  start: number;
  end: number | null;
}

/** Requests starting in the first `span` bytes of the small file: mostly short ranges, sometimes "to the end". */
export function requestArb(types: ReadonlyArray<PosixRequest['type']>, span = FILE_BYTES): fc.Arbitrary<PosixRequest> {
  return fc
    .record({
      type: fc.constantFrom(...types),
      start: fc.nat(span - 1),
      len: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: Math.min(16, span) }) }, { weight: 1, arbitrary: fc.constant(0) }),
    })
    .map((r) => ({ ...r, len: r.len === 0 ? 0 : Math.min(r.len, FILE_BYTES - r.start) }));
}

/** Cells [first, last) that a request (or a reported range) covers. */
export function cellsOf(start: number, end: number | null): [number, number] {
  return [start, end === null ? CELLS : end];
}

export function requestCells(r: { start: number; len: number }): [number, number] {
  return cellsOf(r.start, r.len === 0 ? null : r.start + r.len);
}

export class PosixModel {
  /** resource → owner → cells. */
  private readonly files = new Map<string, Map<string, Cell[]>>();

  cells(resource: string, owner: string): Cell[] {
    let byOwner = this.files.get(resource);
    if (byOwner === undefined) this.files.set(resource, (byOwner = new Map()));
    let cells = byOwner.get(owner);
    if (cells === undefined) byOwner.set(owner, (cells = new Array<Cell>(CELLS).fill(0)));
    return cells;
  }

  /** Set [first, last) of the owner's cells to `type` (0 to unlock). */
  set(resource: string, owner: string, [first, last]: [number, number], type: Cell): void {
    this.cells(resource, owner).fill(type, first, last);
  }

  dropOwner(owner: string): void {
    for (const byOwner of this.files.values()) byOwner.delete(owner);
  }

  /** Another owner holding a cell in [first, last) that conflicts with `type`. */
  conflicts(resource: string, owner: string, [first, last]: [number, number], type: 'read' | 'write'): boolean {
    for (const [other, cells] of this.files.get(resource) ?? []) {
      if (other === owner) continue;
      for (let i = first; i < last; i++) if (cells[i] === 'write' || (cells[i] === 'read' && type === 'write')) return true;
    }
    return false;
  }

  /** Every owner's pieces on `resource`: maximal runs of one type, owners in name order, pieces by start. */
  runs(resource: string): Run[] {
    const out: Run[] = [];
    const byOwner = [...(this.files.get(resource) ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [owner, cells] of byOwner) {
      for (let i = 0; i < CELLS; ) {
        const t = cells[i]!;
        let j = i + 1;
        while (j < CELLS && cells[j] === t) j++;
        if (t !== 0) out.push({ owner, type: t, start: i, end: j === CELLS ? null : j });
        i = j;
      }
    }
    return out;
  }
}

/** The snapshot's pieces of one resource, grouped by owner name (order within an owner kept as reported). */
export function snapshotRuns(rs: ResourceSnapshot[], resource: string): Run[] {
  const granted = rs.find((r) => r.name === resource)?.granted ?? [];
  const runs = granted.map((l): Run => ({ owner: l.owner, type: l.mode as Run['type'], start: l.range!.start, end: l.range!.end }));
  return runs.sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0)); // stable: keeps each owner's order
}
