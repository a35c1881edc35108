import { describe, expect, it } from 'vitest';
import { Rendezvous, resourceKey } from '../../src/rendezvous.js';

const KEYS = Array.from({ length: 40_000 }, (_, i) => resourceKey(i % 3 === 0 ? 'lin' : 'data', `inode:${i}`));

function masters(r: Rendezvous): string[] {
  return KEYS.map((k) => r.master(k)!);
}

function shares(assigned: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const a of assigned) m.set(a, (m.get(a) ?? 0) + 1);
  for (const [k, v] of m) m.set(k, v / assigned.length);
  return m;
}

describe('weighted rendezvous hashing', () => {
  it('gives the same master whatever the order the members are listed in', () => {
    const a = new Rendezvous([{ name: 'n1', weight: 1 }, { name: 'n2', weight: 2 }, { name: 'n3', weight: 1 }]);
    const b = new Rendezvous([{ name: 'n3', weight: 1 }, { name: 'n1', weight: 1 }, { name: 'n2', weight: 2 }]);
    expect(masters(a)).toEqual(masters(b));
  });

  it('gives each member a share of the keys proportional to its weight', () => {
    const r = new Rendezvous([{ name: 'n1', weight: 1 }, { name: 'n2', weight: 2 }, { name: 'n3', weight: 1 }]);
    const s = shares(masters(r));
    // 40,000 keys: one standard deviation of a 25% share is 0.2 points; 1.5 points is far outside chance.
    expect(Math.abs(s.get('n1')! - 0.25)).toBeLessThan(0.015);
    expect(Math.abs(s.get('n2')! - 0.5)).toBeLessThan(0.015);
    expect(Math.abs(s.get('n3')! - 0.25)).toBeLessThan(0.015);
  });

  it('spreads equal members evenly over many members', () => {
    const members = Array.from({ length: 8 }, (_, i) => ({ name: `node-${i}`, weight: 1 }));
    const s = shares(masters(new Rendezvous(members)));
    expect(s.size).toBe(8);
    for (const v of s.values()) expect(Math.abs(v - 0.125)).toBeLessThan(0.012);
  });

  it('moves only the leaving member\'s keys when a member leaves', () => {
    const before = masters(new Rendezvous([{ name: 'n1', weight: 1 }, { name: 'n2', weight: 3 }, { name: 'n3', weight: 1 }]));
    const after = masters(new Rendezvous([{ name: 'n1', weight: 1 }, { name: 'n3', weight: 1 }]));
    let moved = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (before[i] !== 'n2') expect(after[i]).toBe(before[i]);
      else moved++;
    }
    expect(moved / KEYS.length).toBeGreaterThan(0.55);
    // n2's keys split between the survivors by weight (1:1).
    const s = shares(after.filter((_, i) => before[i] === 'n2'));
    expect(Math.abs(s.get('n1')! - 0.5)).toBeLessThan(0.02);
  });

  it('moves keys only to a joining member, about its share', () => {
    const before = masters(new Rendezvous([{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }]));
    const after = masters(new Rendezvous([{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }, { name: 'c', weight: 2 }]));
    let moved = 0;
    for (let i = 0; i < KEYS.length; i++) {
      if (after[i] !== before[i]) {
        expect(after[i]).toBe('c');
        moved++;
      }
    }
    expect(Math.abs(moved / KEYS.length - 0.5)).toBeLessThan(0.015);
  });

  it('keeps domains apart: the same name in two domains is two keys', () => {
    const r = new Rendezvous(Array.from({ length: 16 }, (_, i) => ({ name: `m${i}`, weight: 1 })));
    let differ = 0;
    for (let i = 0; i < 1000; i++) if (r.master(resourceKey('lin', `x${i}`)) !== r.master(resourceKey('data', `x${i}`))) differ++;
    expect(differ).toBeGreaterThan(800);
  });

  it('has no master without members, and refuses a weight that is not positive', () => {
    expect(new Rendezvous([]).master('k')).toBeNull();
    expect(() => new Rendezvous([{ name: 'a', weight: 0 }])).toThrow();
    expect(() => new Rendezvous([{ name: 'a', weight: Number.NaN }])).toThrow();
    expect(() => new Rendezvous([{ name: 'a', weight: 1 }, { name: 'a', weight: 2 }])).toThrow();
  });
});
