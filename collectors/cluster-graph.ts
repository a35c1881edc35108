/**
 * The cluster's wait-for graph joined from every node's edges: owners are
 * named cluster-wide (a remote client's owner by its client and its number
 * there, server/cluster/waits.ts), so one application owner waiting on one
 * node and holding on another is one vertex. Pure, so that the cluster's
 * deadlock detector (server/cluster/detector.ts), hang reports across nodes
 * and `inspect` over a cluster dump (each node's `nodes/<node>/waits.json`)
 * find the same cycles.
 */

import { cyclicComponents } from '../src/scc.js';
import type { NodeWaits } from './shapes.js';

/** One edge of the gathered graph: `from` waits (on `node`) for `to`. */
export interface Arc {
  from: string;
  to: string;
  /** The two owners' ids on `node`. */
  fromId: number;
  toId: number;
  node: string;
  generation: string;
  key: string;
  /** Milliseconds the wait had lasted when gathered. */
  age: number;
}

/** What the detector and hang reports know of an owner from the gathered edges (summed over nodes). */
export interface OwnerInfo {
  name: string;
  priority: number;
  locks: number;
  age: number;
}

/** The gathered edges between cluster-wide owner keys, and what each owner weighs. */
export function graphOf(gathered: NodeWaits[], edgesMax = Number.MAX_SAFE_INTEGER): { arcs: Arc[]; owners: Map<string, OwnerInfo> } {
  const arcs: Arc[] = [];
  const owners = new Map<string, OwnerInfo>();
  for (const g of gathered) {
    const keyOf = new Map<number, string>();
    for (const [id, key, name, priority, locks, age] of g.owners) {
      keyOf.set(id, key);
      const known = owners.get(key);
      if (known === undefined) owners.set(key, { name, priority, locks, age });
      else {
        known.locks += locks;
        known.age = Math.max(known.age, age);
      }
    }
    for (const [key, from, to, age] of g.edges.slice(0, edgesMax)) {
      const f = keyOf.get(from);
      const t = keyOf.get(to);
      if (f !== undefined && t !== undefined) arcs.push({ from: f, to: t, fromId: from, toId: to, node: g.node, generation: g.generation, key, age });
    }
  }
  return { arcs, owners };
}

/**
 * One cycle per strongly connected component that spans more than one node:
 * for an edge leaving a node's part of the graph, the shortest way back. A
 * component whose every cycle lies on one node is left to that node.
 */
export function crossNodeCycles(arcs: Arc[], stepsMax: number): Arc[][] {
  const out = new Map<string, Arc[]>();
  for (const a of arcs) out.set(a.from, [...(out.get(a.from) ?? []), a]);
  const neighbors = (v: string): string[] => (out.get(v) ?? []).map((a) => a.to);
  const cycles: Arc[][] = [];
  for (const comp of cyclicComponents(out.keys(), neighbors)) {
    const inComp = new Set(comp);
    const within = (v: string): Arc[] => (out.get(v) ?? []).filter((a) => inComp.has(a.to));
    const edges = comp.flatMap(within);
    if (new Set(edges.map((a) => a.node)).size < 2) continue;
    let tries = 0;
    for (const first of edges) {
      if (++tries > 64) break;
      const path = shortestPath(first.to, first.from, within);
      if (path === null) continue;
      const cycle = [first, ...path];
      if (cycle.length <= stepsMax && new Set(cycle.map((a) => a.node)).size >= 2) {
        cycles.push(cycle);
        break;
      }
    }
  }
  return cycles;
}

function shortestPath(from: string, to: string, within: (v: string) => Arc[]): Arc[] | null {
  if (from === to) return [];
  const via = new Map<string, Arc>();
  const queue = [from];
  const seen = new Set([from]);
  for (let i = 0; i < queue.length; i++) {
    for (const a of within(queue[i]!)) {
      if (seen.has(a.to)) continue;
      seen.add(a.to);
      via.set(a.to, a);
      if (a.to === to) {
        const path: Arc[] = [];
        for (let v = to; v !== from; v = via.get(v)!.from) path.push(via.get(v)!);
        return path.reverse();
      }
      queue.push(a.to);
    }
  }
  return null;
}
