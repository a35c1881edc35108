/**
 * Where the wait-for graph's nodes and labels go: no DOM, so it is tested in
 * Node as well as in the page. Two layouts (web/README.md, "The wait-for
 * graph", rules G1–G5):
 *
 * - layered (the default): each weakly connected group of owners is laid
 *   out on its own, root blockers in the top row and every waiter one row
 *   below the deepest owner it waits for (cycles are cut at a back edge of
 *   an iterative DFS first, so every owner has a row); rows are ordered by
 *   barycentre sweeps to uncross edges, and the groups are packed in shelves
 *   to the panel's proportions.
 * - force: d3's force simulation run to rest synchronously (no animation:
 *   a picture that moves cannot be read), started from the last positions.
 *
 * Then one label placer for both (rule G2): node labels right of their
 * node (else left, below, above), edge labels centred on their line at the
 * first free point along it; a label that fits nowhere is left out (its
 * text stays in the line's tooltip) rather than drawn over another. A
 * uniform grid keeps the overlap checks near O(labels).
 */

import { forceCollide, forceLink, forceManyBody, forceSimulation, forceX, forceY, type SimulationNodeDatum } from 'd3';

export interface LayoutNode {
  key: string;
  label: string;
}

export interface LayoutLink {
  key: string;
  /** The waiter's node key. */
  from: string;
  /** The key of the node it waits for. */
  to: string;
  label: string;
}

/** A box by its top-left corner. */
export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface PlacedNode {
  x: number;
  y: number;
  label: Box | null;
}

export interface PlacedLink {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  label: Box | null;
}

export interface Layout {
  nodes: Map<string, PlacedNode>;
  links: Map<string, PlacedLink>;
  /** Everything drawn, labels included (what fit-to-view fits). */
  bounds: Box;
  /** Edge labels that fit nowhere (their text is in the line's tooltip). */
  hiddenLabels: number;
}

/** Text width in px of a node or an edge label (the page measures with a canvas, tests with a fixed advance). */
export type Measure = (text: string, kind: 'node' | 'edge') => number;

/** Sizes in px; not limits (webLimits has those). */
export const GEOMETRY = Object.freeze({
  nodeRadius: 9,
  /** Between a node's circle and its label. */
  labelGap: 5,
  nodeLabelHeight: 14,
  edgeLabelHeight: 13,
  /** Kept free around every label, so neighbours never touch even when the page's font measures a little wider. */
  labelMargin: 3,
  /** Between two nodes of one row. */
  nodeGap: 28,
  /** Between two groups packed side by side or in shelves. */
  groupGap: 48,
  /** Height of a row of nodes, and the least room between two rows (edge labels go there). */
  rowHeight: 24,
  bandMin: 64,
  /** Where along its line an edge label is tried, from the waiter (0) to the owner it waits for (1). */
  labelSpots: [0.5, 0.4, 0.6, 0.3, 0.7, 0.45, 0.55, 0.35, 0.65, 0.25, 0.75, 0.2, 0.8],
  /** Lines between the same two owners are drawn this far apart (a cycle of two, several resources). */
  parallelOffset: 8,
});

type Pos = Map<string, { x: number; y: number }>;

/** The layered layout (rule G1). `aspect` is the panel's width over its height. */
export function layeredLayout(nodes: readonly LayoutNode[], links: readonly LayoutLink[], measure: Measure, aspect: number): Layout {
  const width = footprints(nodes, measure);
  const pos: Pos = new Map();
  const groups = components(nodes, links).map((keys) => layerGroup(keys, links, width, measure));
  packShelves(groups, pos, aspect);
  return placeLabels(nodes, links, pos, measure);
}

/** The force layout (rule G1), from `prev` positions where known. */
export function forceLayout(nodes: readonly LayoutNode[], links: readonly LayoutLink[], measure: Measure, prev: Pos, ticks: number): Layout {
  const width = footprints(nodes, measure);
  // Simulated points are footprint centres (the label runs right of the circle), so collisions see the label too.
  const shift = (k: string): number => width.get(k)! / 2 - GEOMETRY.nodeRadius;
  type SimNode = SimulationNodeDatum & { key: string };
  const sim: SimNode[] = nodes.map((n, i) => {
    const p = prev.get(n.key);
    return p === undefined ? { key: n.key, x: Math.cos(i) * 40 * Math.sqrt(i + 1), y: Math.sin(i) * 40 * Math.sqrt(i + 1) } : { key: n.key, x: p.x + shift(n.key), y: p.y };
  });
  const simLinks = links.map((l) => ({ source: l.from, target: l.to, w: measure(l.label, 'edge') }));
  forceSimulation<SimNode>(sim)
    .force('link', forceLink<SimNode, (typeof simLinks)[number]>(simLinks).id((n) => n.key).distance((l) => 60 + l.w / 2))
    .force('charge', forceManyBody().strength(-320))
    .force('collide', forceCollide<SimNode>((n) => width.get(n.key)! / 2 + GEOMETRY.nodeGap / 2))
    .force('x', forceX(0).strength(0.04))
    .force('y', forceY(0).strength(0.06))
    .stop()
    .tick(ticks);
  const pos: Pos = new Map(sim.map((n) => [n.key, { x: (n.x ?? 0) - shift(n.key), y: n.y ?? 0 }]));
  return placeLabels(nodes, links, pos, measure);
}

/** Width of a node with its label to the right. */
function footprints(nodes: readonly LayoutNode[], measure: Measure): Map<string, number> {
  return new Map(nodes.map((n) => [n.key, 2 * GEOMETRY.nodeRadius + GEOMETRY.labelGap + measure(n.label, 'node')]));
}

/** Weakly connected groups, by iterative search (user data decides their size). */
function components(nodes: readonly LayoutNode[], links: readonly LayoutLink[]): string[][] {
  const adj = new Map<string, string[]>(nodes.map((n) => [n.key, []]));
  for (const l of links) {
    adj.get(l.from)?.push(l.to);
    adj.get(l.to)?.push(l.from);
  }
  const seen = new Set<string>();
  const out: string[][] = [];
  for (const n of nodes) {
    if (seen.has(n.key)) continue;
    const group: string[] = [];
    const stack = [n.key];
    seen.add(n.key);
    while (stack.length > 0) {
      const k = stack.pop()!;
      group.push(k);
      for (const next of adj.get(k) ?? []) if (!seen.has(next)) { seen.add(next); stack.push(next); }
    }
    out.push(group);
  }
  // The biggest group first: it is where the trouble is.
  return out.sort((a, b) => b.length - a.length);
}

interface Group {
  w: number;
  h: number;
  /** Positions relative to the group's top-left corner. */
  local: Pos;
}

/** Row of each owner: 0 for those waiting for nobody, else one below the deepest owner waited for; back edges of a DFS left out. */
export function assignRows(keys: readonly string[], out: ReadonlyMap<string, readonly string[]>): Map<string, number> {
  const state = new Map<string, 1 | 2>();
  const row = new Map<string, number>();
  for (const start of keys) {
    if (state.has(start)) continue;
    state.set(start, 1);
    const stack: Array<{ k: string; i: number; below: number }> = [{ k: start, i: 0, below: -1 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const targets = out.get(top.k) ?? [];
      if (top.i < targets.length) {
        const t = targets[top.i++]!;
        const s = state.get(t);
        if (s === 1) continue; // a back edge closes a cycle: it does not decide rows
        if (s === 2) top.below = Math.max(top.below, row.get(t)!);
        else {
          state.set(t, 1);
          stack.push({ k: t, i: 0, below: -1 });
        }
        continue;
      }
      stack.pop();
      state.set(top.k, 2);
      row.set(top.k, top.below + 1);
      const parent = stack[stack.length - 1];
      if (parent !== undefined) parent.below = Math.max(parent.below, top.below + 1);
    }
  }
  return row;
}

function layerGroup(keys: readonly string[], links: readonly LayoutLink[], width: ReadonlyMap<string, number>, measure: Measure): Group {
  const inGroup = new Set(keys);
  const out = new Map<string, string[]>();
  const mine = links.filter((l) => inGroup.has(l.from) && inGroup.has(l.to) && l.from !== l.to);
  for (const l of mine) out.set(l.from, [...(out.get(l.from) ?? []), l.to]);
  const row = assignRows(keys, out);
  const rows: string[][] = [];
  for (const k of keys) (rows[row.get(k)!] ??= []).push(k);
  orderRows(rows, mine);
  const rowW = rows.map((r) => r.reduce((s, k) => s + width.get(k)!, 0) + GEOMETRY.nodeGap * Math.max(0, r.length - 1));
  const w = Math.max(...rowW);
  // The band above a row holds the labels of its owners' edges: tall enough for them to sit side by side in a few lines.
  const labelW = new Array<number>(rows.length).fill(0);
  for (const l of mine) labelW[row.get(l.from)!]! += measure(l.label, 'edge') + 2 * GEOMETRY.labelMargin;
  const local: Pos = new Map();
  let y = GEOMETRY.rowHeight / 2;
  rows.forEach((r, i) => {
    if (i > 0) {
      const lines = Math.ceil((labelW[i]! * 1.4) / Math.max(w, 1)) + 1;
      y += GEOMETRY.rowHeight + Math.max(GEOMETRY.bandMin, lines * (GEOMETRY.edgeLabelHeight + 2 * GEOMETRY.labelMargin) * 1.5);
    }
    let x = (w - rowW[i]!) / 2;
    for (const k of r) {
      local.set(k, { x: x + GEOMETRY.nodeRadius, y });
      x += width.get(k)! + GEOMETRY.nodeGap;
    }
  });
  return { w, h: y + GEOMETRY.rowHeight / 2, local };
}

/** Barycentre sweeps, down then up, a fixed number of times: fewer crossings, bounded work. */
function orderRows(rows: string[][], links: readonly LayoutLink[]): void {
  const nb = new Map<string, string[]>();
  for (const l of links) {
    nb.set(l.from, [...(nb.get(l.from) ?? []), l.to]);
    nb.set(l.to, [...(nb.get(l.to) ?? []), l.from]);
  }
  const index = new Map<string, number>();
  const reindex = (): void => rows.forEach((r) => r.forEach((k, i) => index.set(k, i)));
  reindex();
  for (let sweep = 0; sweep < 4; sweep++) {
    const order = sweep % 2 === 0 ? rows.map((_, i) => i) : rows.map((_, i) => rows.length - 1 - i);
    for (const i of order) {
      const r = rows[i];
      if (r === undefined || r.length < 2) continue;
      const bary = new Map(r.map((k) => {
        const ns = (nb.get(k) ?? []).filter((n) => index.has(n));
        return [k, ns.length === 0 ? index.get(k)! : ns.reduce((s, n) => s + index.get(n)!, 0) / ns.length];
      }));
      r.sort((a, b) => bary.get(a)! - bary.get(b)!);
      reindex();
    }
  }
}

/** Groups left to right in shelves about as wide as the panel's proportions ask. */
function packShelves(groups: Group[], pos: Pos, aspect: number): void {
  const area = groups.reduce((s, g) => s + (g.w + GEOMETRY.groupGap) * (g.h + GEOMETRY.groupGap), 0);
  const shelfW = Math.max(...groups.map((g) => g.w), Math.sqrt(area * Math.max(aspect, 0.2)));
  let x = 0;
  let y = 0;
  let shelfH = 0;
  for (const g of groups) {
    if (x > 0 && x + g.w > shelfW) {
      y += shelfH + GEOMETRY.groupGap;
      x = 0;
      shelfH = 0;
    }
    for (const [k, p] of g.local) pos.set(k, { x: p.x + x, y: p.y + y });
    x += g.w + GEOMETRY.groupGap;
    shelfH = Math.max(shelfH, g.h);
  }
}

/** Rule G2: circles first, then node labels, then edge labels; nothing placed over anything placed before it. */
function placeLabels(nodes: readonly LayoutNode[], links: readonly LayoutLink[], pos: Pos, measure: Measure): Layout {
  const { nodeRadius: r, labelGap, nodeLabelHeight: nh, edgeLabelHeight: eh } = GEOMETRY;
  const grid = new BoxGrid(120);
  for (const n of nodes) {
    const p = pos.get(n.key)!;
    grid.add({ x: p.x - r, y: p.y - r, w: 2 * r, h: 2 * r });
  }
  const placedNodes = new Map<string, PlacedNode>();
  for (const n of nodes) {
    const p = pos.get(n.key)!;
    const w = measure(n.label, 'node');
    const spots: Box[] = [
      { x: p.x + r + labelGap, y: p.y - nh / 2, w, h: nh },
      { x: p.x - r - labelGap - w, y: p.y - nh / 2, w, h: nh },
      { x: p.x - w / 2, y: p.y + r + 2, w, h: nh },
      { x: p.x - w / 2, y: p.y - r - 2 - nh, w, h: nh },
    ];
    placedNodes.set(n.key, { x: p.x, y: p.y, label: grid.claim(spots) });
  }
  const placedLinks = new Map<string, PlacedLink>();
  const offsets = parallelOffsets(links);
  let hidden = 0;
  for (const l of links) {
    const a = pos.get(l.from);
    const b = pos.get(l.to);
    if (a === undefined || b === undefined) continue;
    const len = Math.hypot(b.x - a.x, b.y - a.y) || 1;
    const off = offsets.get(l.key) ?? 0;
    const [ox, oy] = [(-(b.y - a.y) / len) * off, ((b.x - a.x) / len) * off];
    const line = { x1: a.x + ox, y1: a.y + oy, x2: b.x + ox, y2: b.y + oy };
    const w = measure(l.label, 'edge');
    const spots = GEOMETRY.labelSpots.map((t) => ({ x: line.x1 + (line.x2 - line.x1) * t - w / 2, y: line.y1 + (line.y2 - line.y1) * t - eh / 2, w, h: eh }));
    const label = grid.claim(spots);
    if (label === null) hidden++;
    placedLinks.set(l.key, { ...line, label });
  }
  return { nodes: placedNodes, links: placedLinks, bounds: grid.bounds(), hiddenLabels: hidden };
}

/** Lines between the same two owners (either way round) fanned out around the straight one. */
function parallelOffsets(links: readonly LayoutLink[]): Map<string, number> {
  const byPair = new Map<string, LayoutLink[]>();
  for (const l of links) {
    const pair = l.from < l.to ? `${l.from}\u0000${l.to}` : `${l.to}\u0000${l.from}`;
    byPair.set(pair, [...(byPair.get(pair) ?? []), l]);
  }
  const out = new Map<string, number>();
  for (const list of byPair.values()) {
    // Measured in one direction for the pair, so a cycle's two edges end up on opposite sides.
    list.forEach((l, i) => out.set(l.key, (i - (list.length - 1) / 2) * GEOMETRY.parallelOffset * (l.from < l.to ? 1 : -1)));
  }
  return out;
}

export function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/** Placed boxes in a uniform grid of cells, each box (with its margin) in every cell it touches. */
class BoxGrid {
  private readonly cells = new Map<string, Box[]>();
  private readonly all: Box[] = [];

  constructor(private readonly cell: number) {}

  add(b: Box): void {
    const m = GEOMETRY.labelMargin;
    const padded = { x: b.x - m, y: b.y - m, w: b.w + 2 * m, h: b.h + 2 * m };
    this.all.push(b);
    for (const key of this.keys(padded)) {
      const list = this.cells.get(key);
      if (list === undefined) this.cells.set(key, [padded]);
      else list.push(padded);
    }
  }

  /** The first spot that overlaps nothing placed, now placed too; null when every spot is taken. */
  claim(spots: readonly Box[]): Box | null {
    for (const s of spots) {
      if (this.keys(s).some((key) => (this.cells.get(key) ?? []).some((b) => overlaps(b, s)))) continue;
      this.add(s);
      return s;
    }
    return null;
  }

  bounds(): Box {
    if (this.all.length === 0) return { x: 0, y: 0, w: 0, h: 0 };
    const x = Math.min(...this.all.map((b) => b.x));
    const y = Math.min(...this.all.map((b) => b.y));
    return { x, y, w: Math.max(...this.all.map((b) => b.x + b.w)) - x, h: Math.max(...this.all.map((b) => b.y + b.h)) - y };
  }

  private keys(b: Box): string[] {
    const out: string[] = [];
    for (let i = Math.floor(b.x / this.cell); i <= Math.floor((b.x + b.w) / this.cell); i++) {
      for (let j = Math.floor(b.y / this.cell); j <= Math.floor((b.y + b.h) / this.cell); j++) out.push(`${i},${j}`);
    }
    return out;
  }
}
