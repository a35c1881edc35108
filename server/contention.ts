/**
 * Who was blocked, where, and by whom, summed over time: the history's
 * "top contended resources" and "top blockers". At each flush the wait-for
 * edges seen at the previous one are charged for the time between (an edge
 * that lasted 3 s adds 3 s of waiting to its resource and to its blocker),
 * so a wait with no event in between still counts. One tally per history
 * segment, so a time range sums whole segments (rule H5 in server/README.md).
 */

import type { EdgeSnapshot } from '../src/index.js';
import type { TopEntry, TopLists } from './protocol.js';

/** One segment's tally; past `keysMax` keys a list takes no new key (serverLimits.contentionKeysMax). */
export class Tally {
  readonly resources = new Map<string, TopEntry>();
  readonly blockers = new Map<string, TopEntry>();
  private readonly seenWaits = new Set<number>();

  constructor(private readonly keysMax: number) {}

  charge(edges: readonly EdgeSnapshot[], ms: number): void {
    for (const e of edges) {
      const fresh = !this.seenWaits.has(e.waitId);
      if (fresh && this.seenWaits.size < this.keysMax * 4) this.seenWaits.add(e.waitId);
      add(this.resources, `${e.domain}:${e.resource}`, ms, fresh, this.keysMax);
      const b = add(this.blockers, e.toName, ms, fresh, this.keysMax);
      if (b !== null) b.ownerId = e.to;
    }
  }
}

function add(map: Map<string, TopEntry>, key: string, ms: number, fresh: boolean, max: number): TopEntry | null {
  let entry = map.get(key);
  if (entry === undefined) {
    if (map.size >= max) return null;
    entry = { key, waitMs: 0, waits: 0 };
    map.set(key, entry);
  }
  entry.waitMs += ms;
  if (fresh) entry.waits++;
  return entry;
}

/** The top `n` of each list over several tallies. */
export function topOf(tallies: readonly Tally[], n: number): Pick<TopLists, 'resources' | 'blockers'> {
  const sum = (pick: (t: Tally) => Map<string, TopEntry>): TopEntry[] => {
    const out = new Map<string, TopEntry>();
    for (const t of tallies) {
      for (const e of pick(t).values()) {
        const o = out.get(e.key) ?? { key: e.key, waitMs: 0, waits: 0 };
        o.waitMs += e.waitMs;
        o.waits += e.waits;
        if (e.ownerId !== undefined) o.ownerId = e.ownerId;
        out.set(e.key, o);
      }
    }
    return [...out.values()].sort((a, b) => b.waitMs - a.waitMs || b.waits - a.waits).slice(0, n).map((e) => ({ ...e, waitMs: Math.round(e.waitMs) }));
  };
  return { resources: sum((t) => t.resources), blockers: sum((t) => t.blockers) };
}
