/**
 * The wait-for graph. Edges are derived from the lock tables (blockers.ts);
 * this module keeps a graphology copy of them for the full pass, snapshots
 * and the dashboard, and runs the bounded search from one waiter.
 *
 * The graphology graph is synced lazily: a lock operation only marks its
 * resource dirty (one Set insert, skipped when it is the resource marked
 * last: a hot resource is marked three times per handover), and `sync()` recomputes
 * the edges of the waiters of dirty resources. Everything that reads the
 * graph syncs first, so readers never see a stale edge.
 *
 * Nodes: owner ids (strings); edge keys `${waitId}>${ownerId}:${h|s}${blockerId}`.
 */

import { MultiDirectedGraph } from 'graphology';
import { blockersOf, waitsOn, type Blocker } from './blockers.js';
import type { DlmResource } from './dlm.js';
import type { Owner } from './owner.js';
import type { PosixResource } from './posix.js';
import type { Waiter } from './waiter.js';

export type AnyResource = DlmResource | PosixResource;

export interface NodeAttributes {
  owner: Owner;
}

export interface EdgeAttributes {
  wait: Waiter;
  blocker: Blocker;
}

/** One step of a cycle: `wait` (of the step's owner) is blocked by `blocker`. */
export interface Step {
  wait: Waiter;
  blocker: Blocker;
}

/** `spent`: edges the search followed (what a quota pays for it). */
export type SearchResult = ({ found: Step[] } | { found: null; exhausted: boolean }) & { spent: number };

export class WaitForGraph {
  readonly graph: MultiDirectedGraph<NodeAttributes, EdgeAttributes> = new MultiDirectedGraph<NodeAttributes, EdgeAttributes>();
  private readonly dirty = new Set<AnyResource>();
  /** The resource last added to `dirty` (so it is in it), or null. */
  private lastDirty: AnyResource | null = null;
  /** Per resource, per wait synced: that wait's edge keys in the graph. */
  private readonly synced = new Map<AnyResource, Map<Waiter, string[]>>();
  /** Search stamp: owners visited by the current search carry it. */
  private epoch = 0;

  constructor(private readonly participates: (w: Waiter) => boolean) {}

  touch(res: AnyResource): void {
    if (res === this.lastDirty) return;
    this.dirty.add(res);
    this.lastDirty = res;
  }

  /** Bring the graphology graph up to date with the lock tables. */
  sync(): void {
    for (const res of this.dirty) this.syncResource(res);
    this.dirty.clear();
    this.lastDirty = null;
  }

  private syncResource(res: AnyResource): void {
    const before = this.synced.get(res);
    const now = new Map<Waiter, string[]>();
    for (const w of waitsOn(res)) {
      if (!this.participates(w)) continue;
      const keys: string[] = [];
      for (const b of blockersOf(w)) {
        const key = `${w.id}>${b.to.id}:${b.hard ? 'h' : 's'}${b.id}`;
        keys.push(key);
        if (this.graph.hasEdge(key)) {
          this.graph.replaceEdgeAttributes(key, { wait: w, blocker: b });
          continue;
        }
        this.ensureNode(w.owner);
        this.ensureNode(b.to);
        this.graph.addEdgeWithKey(key, String(w.owner.id), String(b.to.id), { wait: w, blocker: b });
      }
      now.set(w, keys);
    }
    if (before !== undefined) {
      for (const [w, keys] of before) {
        const kept = new Set(now.get(w) ?? []);
        for (const key of keys) if (!kept.has(key) && this.graph.hasEdge(key)) this.dropEdge(key);
      }
    }
    if (now.size === 0) this.synced.delete(res);
    else this.synced.set(res, now);
  }

  private ensureNode(owner: Owner): void {
    const key = String(owner.id);
    if (!this.graph.hasNode(key)) this.graph.addNode(key, { owner });
  }

  private dropEdge(key: string): void {
    const [source, target] = this.graph.extremities(key);
    this.graph.dropEdge(key);
    for (const node of source === target ? [source] : [source, target]) {
      if (this.graph.degree(node) === 0) this.graph.dropNode(node);
    }
  }

  /**
   * Depth-first search from pending request `start` for a path back to its
   * owner, following live blockers. Iterative, visiting each owner once,
   * and bounded by `budget` edges: a search that runs out says so
   * (`exhausted`) and never reports a cycle it has not seen.
   */
  search(start: Waiter, budget: number): SearchResult {
    const origin = start.owner;
    const epoch = ++this.epoch;
    const stack: Array<{ owner: Owner; via: Step | null; parent: Frame | null }> = [];
    type Frame = (typeof stack)[number];
    let spent = 0;
    const first: Frame = { owner: origin, via: null, parent: null };
    for (const b of blockersOf(start)) stack.push({ owner: b.to, via: { wait: start, blocker: b }, parent: first });
    while (stack.length > 0) {
      const f = stack.pop()!;
      if (f.owner === origin) return { found: pathOf(f), spent };
      if (f.owner.searchEpoch === epoch) continue;
      f.owner.searchEpoch = epoch;
      for (let w = f.owner.waitHead; w !== null; w = w.ownerNext) {
        if (!this.participates(w)) continue;
        for (const b of blockersOf(w)) {
          if (++spent > budget) return { found: null, exhausted: true, spent };
          stack.push({ owner: b.to, via: { wait: w, blocker: b }, parent: f });
        }
      }
    }
    return { found: null, exhausted: false, spent };

    function pathOf(end: Frame): Step[] {
      const steps: Step[] = [];
      for (let f: Frame | null = end; f !== null && f.via !== null; f = f.parent) steps.push(f.via);
      return steps.reverse();
    }
  }

  /** Every edge, synced: for snapshots and the dashboard. */
  edges(): Array<{ key: string; wait: Waiter; blocker: Blocker }> {
    this.sync();
    const out: Array<{ key: string; wait: Waiter; blocker: Blocker }> = [];
    this.graph.forEachEdge((key, attrs) => out.push({ key, wait: attrs.wait, blocker: attrs.blocker }));
    return out;
  }

  get size(): { owners: number; edges: number } {
    return { owners: this.graph.order, edges: this.graph.size };
  }
}
