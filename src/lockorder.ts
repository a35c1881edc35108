/**
 * Lock-order checking, after Linux lockdep: when an owner holding a lock of
 * class A requests one of class B, the order A→B is recorded. A request that
 * closes a cycle in the order graph is a potential deadlock, reported (once
 * per pair of classes) with the stacks of both orders before it ever
 * deadlocks. Unlike lockdep it never switches itself off; the order graph is
 * bounded (`limits.lockOrderEdgesMax`) and stops learning when full.
 *
 * A class is the domain plus a resource pattern: by default runs of digits
 * become '#' ("lin:inode:#"), so all inodes share a class. Nesting two locks
 * of the same class is not reported (locking two inodes is common and is
 * ordered by the application, as lockdep's nesting annotations would say).
 */

import type { Owner } from './owner.js';
import { captureStack, formatStack, type RequestSite } from './stacks.js';
import type { OrderInversion, OrderStep } from './shapes.js';

export type Classifier = (domain: string, resource: string) => string;

export interface LockOrderOptions {
  classify?: Classifier;
}

export const defaultClassifier: Classifier = (domain, resource) => `${domain}:${resource.replace(/\d+/g, '#')}`;

interface OrderEdge {
  owner: string;
  /** Where the class-A lock was taken, and where B was then requested. */
  heldStack: object | null;
  requestedStack: object | null;
  heldResource: string;
  requestedResource: string;
}

/** Held locks looked at per request: the most recent ones (lockdep keeps 48). */
const HELD_SCAN_MAX = 32;
/** Classes visited when looking for a path back: the search stays cheap. */
const PATH_SEARCH_MAX = 10_000;
/** Memoized classes: a regex per held lock per request would cost more than the lock. */
const CLASS_CACHE_MAX = 16_384;

export class LockOrder {
  private readonly edges = new Map<string, Map<string, OrderEdge>>();
  private edgeCount = 0;
  private readonly reported = new Set<string>();
  readonly inversions: OrderInversion[] = [];
  /** Orders not recorded because the graph was full. */
  dropped = 0;
  private readonly classes = new Map<string, string>();

  constructor(
    readonly classify: Classifier,
    private readonly edgesMax: number,
    private readonly historyMax: number,
    private readonly now: () => number,
    private readonly report: (inv: OrderInversion) => void,
  ) {}

  private classOf(domain: string, resource: string): string {
    const key = `${domain}\u0000${resource}`;
    let c = this.classes.get(key);
    if (c === undefined) {
      if (this.classes.size >= CLASS_CACHE_MAX) this.classes.clear();
      c = this.classify(domain, resource);
      this.classes.set(key, c);
    }
    return c;
  }

  /** `owner` requests (domain, resource); `site` is where, for a stack if a new order is learnt. */
  onRequest(owner: Owner, domain: string, resource: string, site: RequestSite): void {
    if (owner.lockCount === 0) return;
    const to = this.classOf(domain, resource);
    let scanned = 0;
    for (const l of owner.dlmLocks()) {
      if (++scanned > HELD_SCAN_MAX) break;
      this.order(owner, this.classOf(l.domain, l.resource), to, l.resource, resource, l.stack, site);
    }
    for (const res of owner.posixResources ?? []) {
      if (++scanned > HELD_SCAN_MAX) break;
      const piece = res.holders.get(owner)?.[0];
      this.order(owner, this.classOf(res.table.policy.name, res.name), to, res.name, resource, piece?.stack ?? null, site);
    }
  }

  private order(owner: Owner, from: string, to: string, heldResource: string, requestedResource: string, heldStack: object | null, site: RequestSite): void {
    if (from === to) return;
    let out = this.edges.get(from);
    if (out?.has(to)) return;
    if (this.edgeCount >= this.edgesMax) {
      this.dropped++;
      return;
    }
    const edge: OrderEdge = { owner: owner.name, heldStack, requestedStack: captureStack(site), heldResource, requestedResource };
    if (out === undefined) this.edges.set(from, (out = new Map()));
    out.set(to, edge);
    this.edgeCount++;
    const pair = from < to ? `${from}\u0000${to}` : `${to}\u0000${from}`;
    if (this.reported.has(pair)) return;
    const back = this.path(to, from);
    if (back === null) return;
    this.reported.add(pair);
    const inv: OrderInversion = { classes: [from, to], now: step(from, to, edge), earlier: back, time: this.now() };
    this.inversions.push(inv);
    if (this.inversions.length > this.historyMax) this.inversions.shift();
    this.report(inv);
  }

  /** A path of recorded orders from class `a` to class `b`, breadth first, or null. */
  private path(a: string, b: string): OrderStep[] | null {
    const parent = new Map<string, string>([[a, '']]);
    let frontier = [a];
    while (frontier.length > 0 && parent.size < PATH_SEARCH_MAX) {
      const next: string[] = [];
      for (const c of frontier) {
        for (const d of this.edges.get(c)?.keys() ?? []) {
          if (parent.has(d)) continue;
          parent.set(d, c);
          if (d === b) return this.unwind(parent, a, b);
          next.push(d);
        }
      }
      frontier = next;
    }
    return null;
  }

  private unwind(parent: Map<string, string>, a: string, b: string): OrderStep[] {
    const steps: OrderStep[] = [];
    for (let d = b; d !== a; d = parent.get(d)!) {
      const c = parent.get(d)!;
      steps.push(step(c, d, this.edges.get(c)!.get(d)!));
    }
    return steps.reverse();
  }

  get size(): number {
    return this.edgeCount;
  }
}

function step(from: string, to: string, e: OrderEdge): OrderStep {
  return {
    from, to, owner: e.owner, heldResource: e.heldResource, requestedResource: e.requestedResource,
    heldStack: formatStack(e.heldStack), requestedStack: formatStack(e.requestedStack),
  };
}
