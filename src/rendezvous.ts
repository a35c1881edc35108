/**
 * Weighted rendezvous hashing: which member of a cluster masters a resource.
 *
 * Every member gets a score for the key, `weight / -ln(u)` with `u` a hash of
 * (key, member) spread uniformly over (0, 1); the highest score wins (ties,
 * which need equal 52-bit hashes, go to the smaller name). With that score a
 * member wins a share of keys proportional to its weight, and a member that
 * joins or leaves moves only the keys it wins or won: every other key keeps
 * the member whose score was already highest (Schindelhauer and Schomaker's
 * weighted form of Thaler and Ravishankar's highest-random-weight hashing).
 *
 * Pure and deterministic: a client and every node compute the same master
 * from the same membership view, in any order of the members. No I/O; the
 * client imports it too.
 */

import { assert } from './assert.js';

export interface WeightedMember {
  readonly name: string;
  /** Capacity, relative to the other members: > 0 and finite. */
  readonly weight: number;
}

const encoder = new TextEncoder();

/** FNV-1a over UTF-8 bytes, two lanes with different offsets: 64 bits of key identity. */
function hashString(s: string): [number, number] {
  const bytes = encoder.encode(s);
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < bytes.length; i++) {
    a = Math.imul(a ^ bytes[i]!, 0x01000193);
    b = Math.imul(b ^ bytes[i]!, 0x01000193);
  }
  return [a >>> 0, b >>> 0];
}

/** murmur3's finalizer: every input bit flips about half the output bits. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The key of a resource: domain and name, separated by a byte neither can make ambiguous. */
export function resourceKey(domain: string, resource: string): string {
  return `${domain}\u0000${resource}`;
}

/** u in (0, 1) from the key's and the member's hashes: 52 bits, never 0 or 1. */
function unitHash(key: [number, number], member: [number, number]): number {
  const hi = fmix32(key[0] ^ fmix32(member[0] + 0x9e3779b9)) >>> 6; // 26 bits
  const lo = fmix32(key[1] ^ fmix32(member[1] + 0x7f4a7c15)) >>> 6; // 26 bits
  return (hi * 67_108_864 + lo + 0.5) / 4_503_599_627_370_496;
}

/**
 * A membership view prepared for lookups: member hashes computed once.
 * Build one per view (generation) and ask it for every resource.
 */
export class Rendezvous {
  private readonly names: string[];
  private readonly weights: number[];
  private readonly hashes: [number, number][];

  constructor(members: readonly WeightedMember[]) {
    const sorted = [...members].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    for (let i = 0; i < sorted.length; i++) {
      const m = sorted[i]!;
      assert(Number.isFinite(m.weight) && m.weight > 0, `member ${m.name}: weight must be > 0 and finite`);
      assert(i === 0 || sorted[i - 1]!.name !== m.name, `member ${m.name} appears twice`);
    }
    this.names = sorted.map((m) => m.name);
    this.weights = sorted.map((m) => m.weight);
    this.hashes = sorted.map((m) => hashString(m.name));
  }

  get size(): number {
    return this.names.length;
  }

  /** The member that masters `key` (see resourceKey), or null with no members. */
  master(key: string): string | null {
    const kh = hashString(key);
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < this.names.length; i++) {
      const score = this.weights[i]! / -Math.log(unitHash(kh, this.hashes[i]!));
      // Members are sorted by name, so a strict > gives a tie to the smaller name.
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return best < 0 ? null : this.names[best]!;
  }
}
