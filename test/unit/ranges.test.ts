/** The posix piece-list operations, exactly. */

import { describe, expect, it } from 'vitest';
import { applyRange, firstConflict, type PieceList } from '../../src/ranges.js';

const P = (start: number, end: number, write: boolean, token = 1): PieceList[number] => ({ start, end, write, token, stack: null, at: 0 });
const shape = (ps: PieceList) => ps.map((p) => [p.write ? 'W' : 'R', p.start, p.end]);

describe('applyRange', () => {
  it('splits a write in three around a read', () => {
    const r = applyRange([P(0, 100, true)], 40, 60, false, 2);
    expect(shape(r.pieces)).toEqual([['W', 0, 40], ['R', 40, 60], ['W', 60, 100]]);
    expect([r.loosened, r.changed]).toEqual([true, true]);
  });
  it('merges with both neighbours of the same type and keeps the newest token', () => {
    const r = applyRange([P(0, 10, false, 1), P(20, 30, false, 3)], 10, 20, false, 7);
    expect(shape(r.pieces)).toEqual([['R', 0, 30]]);
    expect(r.pieces[0]!.token).toBe(7);
    expect(r.loosened).toBe(false);
  });
  it('does not merge pieces of different types that touch', () => {
    expect(shape(applyRange([P(0, 10, true)], 10, 20, false, 2).pieces)).toEqual([['W', 0, 10], ['R', 10, 20]]);
  });
  it('re-applying a lock already held changes nothing', () => {
    const before = [P(0, 100, true)];
    const r = applyRange(before, 10, 20, true, 2);
    expect(r.pieces).toBe(before);
    expect([r.loosened, r.changed]).toEqual([false, false]);
  });
  it('an upgrade from read to write tightens (wakes nobody)', () => {
    const r = applyRange([P(0, 10, false)], 0, 10, true, 2);
    expect([r.loosened, r.changed]).toEqual([false, true]);
  });
  it('unlocking across several pieces trims the edges and drops the middle', () => {
    const r = applyRange([P(0, 10, true), P(15, 20, false), P(25, 40, true)], 5, 30, null, 0);
    expect(shape(r.pieces)).toEqual([['W', 0, 5], ['W', 30, 40]]);
    expect(r.loosened).toBe(true);
  });
  it('to-the-end pieces split and merge like any other', () => {
    const r = applyRange([P(100, Infinity, true)], 200, Infinity, false, 2);
    expect(shape(r.pieces)).toEqual([['W', 100, 200], ['R', 200, Infinity]]);
  });
});

describe('firstConflict', () => {
  const ps = [P(0, 10, false), P(10, 20, true), P(30, Infinity, false)];
  it('reads conflict only with writes; writes with anything', () => {
    expect(firstConflict(ps, 5, 15, false)).toBe(ps[1]);
    expect(firstConflict(ps, 0, 5, false)).toBeNull();
    expect(firstConflict(ps, 0, 5, true)).toBe(ps[0]);
    expect(firstConflict(ps, 25, 1e15, true)).toBe(ps[2]);
    expect(firstConflict(ps, 20, 30, true)).toBeNull();
  });
});
