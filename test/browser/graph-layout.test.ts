/**
 * The wait-for graph's layout, without a browser: for any graph (chains,
 * fans, cycles, several groups, long names) no two labels overlap and no
 * label covers a node, in both layouts; the layered one puts every waiter
 * below what it waits for (except where a cycle has to turn back) and
 * gives every node its label.
 */

import fc from 'fast-check';
import { expect, it } from 'vitest';
import { assignRows, forceLayout, GEOMETRY, layeredLayout, overlaps, type Box, type Layout, type LayoutLink, type LayoutNode, type Measure } from '../../web/src/graph-layout.js';

// A fixed advance per character: wider than the page's 10–11px system font, which is the harder case.
const measure: Measure = (text, kind) => text.length * (kind === 'node' ? 7 : 6);

function boxesOf(l: Layout): { labels: Box[]; circles: Box[] } {
  const r = GEOMETRY.nodeRadius;
  const labels = [...l.nodes.values()].map((n) => n.label).concat([...l.links.values()].map((x) => x.label)).filter((b): b is Box => b !== null);
  const circles = [...l.nodes.values()].map((n) => ({ x: n.x - r, y: n.y - r, w: 2 * r, h: 2 * r }));
  return { labels, circles };
}

function assertNoOverlap(l: Layout): void {
  const { labels, circles } = boxesOf(l);
  for (let i = 0; i < labels.length; i++) {
    for (let j = i + 1; j < labels.length; j++) expect(overlaps(labels[i]!, labels[j]!), `labels ${i} and ${j}`).toBe(false);
    for (const c of circles) expect(overlaps(labels[i]!, c)).toBe(false);
  }
}

const graphArb = fc.integer({ min: 1, max: 24 }).chain((n) => fc.record({
  names: fc.array(fc.string({ minLength: 1, maxLength: 28 }), { minLength: n, maxLength: n }),
  edges: fc.array(fc.tuple(fc.nat(n - 1), fc.nat(n - 1), fc.string({ minLength: 1, maxLength: 40 })), { maxLength: 3 * n }),
}));

function toGraph(g: { names: string[]; edges: Array<[number, number, string]> }): { nodes: LayoutNode[]; links: LayoutLink[] } {
  const links = g.edges.filter(([a, b]) => a !== b).map(([a, b, label], i) => ({ key: `l${i}`, from: `n${a}`, to: `n${b}`, label }));
  const used = new Set(links.flatMap((l) => [l.from, l.to]));
  const nodes = g.names.map((label, i) => ({ key: `n${i}`, label })).filter((n) => used.has(n.key) || links.length === 0);
  return { nodes, links };
}

it('layered: no label overlaps another or a node, every node label is drawn, for any graph', () => {
  fc.assert(fc.property(graphArb, fc.double({ min: 0.5, max: 4, noNaN: true }), (g, aspect) => {
    const { nodes, links } = toGraph(g);
    const l = layeredLayout(nodes, links, measure, aspect);
    assertNoOverlap(l);
    for (const n of nodes) expect(l.nodes.get(n.key)!.label).not.toBeNull();
  }), { numRuns: 150 });
});

it('force: no label overlaps another or a node, for any graph', () => {
  fc.assert(fc.property(graphArb, (g) => {
    const { nodes, links } = toGraph(g);
    assertNoOverlap(forceLayout(nodes, links, measure, new Map(), 120));
  }), { numRuns: 60 });
});

it('layered: a chain reads top-down, root blocker on top, and the edge labels fit without being left out', () => {
  const nodes = ['root', 'w1', 'w2', 'w3'].map((k) => ({ key: k, label: `${k} owner with a long name` }));
  const links = [['w1', 'root'], ['w2', 'w1'], ['w3', 'w1']].map(([from, to], i) => ({ key: `e${i}`, from: from!, to: to!, label: `lin:inode:${i} · wants EX, blocked by PR` }));
  const l = layeredLayout(nodes, links, measure, 2);
  const y = (k: string): number => l.nodes.get(k)!.y;
  expect(y('root')).toBeLessThan(y('w1'));
  expect(y('w1')).toBeLessThan(y('w2'));
  expect(y('w2')).toBe(y('w3'));
  expect(l.hiddenLabels).toBe(0);
  assertNoOverlap(l);
});

it('rows: a cycle is cut at one back edge, so each owner gets one row and the rest of the chain stays ordered', () => {
  // a → b → c → a, and d waits for a.
  const out = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
  const rows = assignRows(['a', 'b', 'c', 'd'], out);
  expect(rows).toEqual(new Map([['c', 0], ['b', 1], ['a', 2], ['d', 3]]));
});
