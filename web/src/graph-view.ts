/**
 * The wait-for graph: owners as nodes, "waits for" as arrows labelled with
 * the resource and the modes. Two layouts: a force layout that keeps every
 * node where it was between updates (node objects are reused by owner id,
 * so d3 keeps their positions and velocities), and a layered one, root
 * blockers on top and each waiter a row below what it waits for, which is
 * how a chain of waits is read. Cycles are drawn red, root blockers ringed.
 */

import * as d3 from 'd3';
import type { EdgeSnapshot } from '../../server/protocol.js';
import { webLimits } from './limits.js';
import type { Model } from './model.js';

export interface GNode extends d3.SimulationNodeDatum {
  id: number;
  name: string;
  root: boolean;
  inCycle: boolean;
  layer: number;
}

interface GLink extends d3.SimulationLinkDatum<GNode> {
  key: string;
  edge: EdgeSnapshot;
  inCycle: boolean;
}

export class GraphView {
  layered = false;
  private readonly nodes = new Map<number, GNode>();
  private links: GLink[] = [];
  private readonly sim: d3.Simulation<GNode, GLink>;
  private readonly root: d3.Selection<SVGGElement, unknown, null, undefined>;
  private drawn = -1;

  constructor(private readonly svg: SVGSVGElement, private readonly onOwner: (id: number) => void) {
    const sel = d3.select(svg);
    sel.append('defs').html(
      '<marker id="arrow" viewBox="0 -4 8 8" refX="16" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,-4L8,0L0,4" fill="#8a94a6"/></marker>' +
        '<marker id="arrow-cycle" viewBox="0 -4 8 8" refX="16" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,-4L8,0L0,4" fill="#e5484d"/></marker>',
    );
    this.root = sel.append('g');
    sel.call(d3.zoom<SVGSVGElement, unknown>().scaleExtent([0.2, 4]).on('zoom', (e) => this.root.attr('transform', String(e.transform))));
    this.sim = d3.forceSimulation<GNode, GLink>()
      .force('link', d3.forceLink<GNode, GLink>().id((n) => n.id).distance(110))
      .force('charge', d3.forceManyBody().strength(-260))
      .force('x', d3.forceX(() => this.size().w / 2).strength(0.05))
      .force('y', d3.forceY<GNode>((n) => (this.layered ? this.layerY(n) : this.size().h / 2)).strength((): number => (this.layered ? 0.8 : 0.05)))
      .on('tick', () => this.tick());
  }

  toggleLayout(): boolean {
    this.layered = !this.layered;
    this.sim.alpha(0.8).restart();
    return this.layered;
  }

  render(m: Model): void {
    if (m.graphVersion === this.drawn) return;
    this.drawn = m.graphVersion;
    this.update(m);
    // The simulation resolves link ends to node objects first, so the first draw already has positions.
    this.sim.nodes([...this.nodes.values()]);
    (this.sim.force('link') as d3.ForceLink<GNode, GLink>).links(this.links);
    this.draw();
    this.sim.alpha(0.4).restart();
  }

  private update(m: Model): void {
    const cycleEdges = new Set<string>();
    const cycleOwners = new Set<string>();
    for (const c of m.cycles) {
      c.owners.forEach((o, i) => {
        cycleOwners.add(o);
        cycleEdges.add(`${o}\u0000${c.owners[(i + 1) % c.owners.length]}`);
      });
    }
    const degree = new Map<number, number>();
    for (const e of m.edges) for (const id of [e.from, e.to]) degree.set(id, (degree.get(id) ?? 0) + 1);
    // Past the bound, the owners with the most edges are the ones worth drawing.
    const keep = new Set([...degree.entries()].sort((a, b) => b[1] - a[1]).slice(0, webLimits.graphOwnersMax).map(([id]) => id));
    const waiting = new Set(m.edges.map((e) => e.from));
    for (const id of [...this.nodes.keys()]) if (!keep.has(id)) this.nodes.delete(id);
    for (const e of m.edges) {
      for (const [id, name] of [[e.from, e.fromName], [e.to, e.toName]] as const) {
        if (!keep.has(id)) continue;
        const n = this.nodes.get(id) ?? { id, name, root: false, inCycle: false, layer: 0, x: this.size().w / 2 + Math.random() * 40, y: this.size().h / 2 + Math.random() * 40 };
        n.root = !waiting.has(id);
        n.inCycle = cycleOwners.has(name);
        this.nodes.set(id, n);
      }
    }
    const seen = new Set<string>();
    this.links = [];
    for (const e of m.edges) {
      const key = `${e.from}>${e.to}>${e.domain}>${e.resource}`;
      if (!keep.has(e.from) || !keep.has(e.to) || seen.has(key)) continue;
      seen.add(key);
      this.links.push({ key, source: e.from, target: e.to, edge: e, inCycle: cycleEdges.has(`${e.fromName}\u0000${e.toName}`) });
    }
    this.assignLayers();
  }

  /** Root blockers in layer 0, each waiter one layer below the deepest owner it waits for (bounded: cycles have no bottom). */
  private assignLayers(): void {
    for (const n of this.nodes.values()) n.layer = 0;
    for (let i = 0; i < Math.min(this.nodes.size, 30); i++) {
      let changed = false;
      for (const l of this.links) {
        const from = this.nodes.get(l.edge.from);
        const to = this.nodes.get(l.edge.to);
        if (from !== undefined && to !== undefined && from.layer < to.layer + 1) {
          from.layer = to.layer + 1;
          changed = true;
        }
      }
      if (!changed) break;
    }
  }

  private layerY(n: GNode): number {
    return 40 + n.layer * 90;
  }

  private size(): { w: number; h: number } {
    return { w: this.svg.clientWidth || 800, h: this.svg.clientHeight || 420 };
  }

  private draw(): void {
    const link = this.root.selectAll<SVGGElement, GLink>('g.link').data(this.links, (l) => l.key);
    link.exit().remove();
    const linkIn = link.enter().append('g').attr('class', 'link');
    linkIn.append('line');
    linkIn.append('text');
    const links = linkIn.merge(link).classed('cycle', (l) => l.inCycle).classed('soft', (l) => l.edge.kind === 'soft');
    links.select('line').attr('marker-end', (l) => (l.inCycle ? 'url(#arrow-cycle)' : 'url(#arrow)'));
    links.select('text').text((l) => `${l.edge.domain}:${l.edge.resource} ${l.edge.wanted}→${l.edge.blockerMode}`);

    const node = this.root.selectAll<SVGGElement, GNode>('g.node').data([...this.nodes.values()], (n) => n.id);
    node.exit().remove();
    const nodeIn = node.enter().append('g').attr('class', 'node').on('click', (_e, n) => this.onOwner(n.id));
    nodeIn.append('circle').attr('r', 9);
    nodeIn.append('text').attr('dx', 12).attr('dy', 4);
    nodeIn.call(d3.drag<SVGGElement, GNode>()
      .on('start', (e, n) => { if (!e.active) this.sim.alphaTarget(0.2).restart(); n.fx = n.x; n.fy = n.y; })
      .on('drag', (e, n) => { n.fx = e.x; n.fy = e.y; })
      .on('end', (e, n) => { if (!e.active) this.sim.alphaTarget(0); n.fx = null; n.fy = null; }));
    const nodes = nodeIn.merge(node).classed('root', (n) => n.root).classed('cycle', (n) => n.inCycle).attr('data-owner', (n) => n.name);
    nodes.select('text').text((n) => (n.root ? `${n.name} (root blocker)` : n.name));
    this.tick();
  }

  private tick(): void {
    // Nodes stay inside the panel (labels run to the right of their node).
    const { w, h } = this.size();
    for (const n of this.nodes.values()) {
      n.x = Math.max(15, Math.min(w - 160, n.x ?? 0));
      n.y = Math.max(15, Math.min(h - 15, n.y ?? 0));
    }
    const pos = (n: GNode | number | string): GNode => n as GNode;
    this.root.selectAll<SVGGElement, GLink>('g.link').each(function (l) {
      const s = pos(l.source);
      const t = pos(l.target);
      const g = d3.select(this);
      g.select('line').attr('x1', s.x ?? 0).attr('y1', s.y ?? 0).attr('x2', t.x ?? 0).attr('y2', t.y ?? 0);
      g.select('text').attr('x', ((s.x ?? 0) + (t.x ?? 0)) / 2).attr('y', ((s.y ?? 0) + (t.y ?? 0)) / 2 - 4);
    });
    this.root.selectAll<SVGGElement, GNode>('g.node').attr('transform', (n) => `translate(${n.x ?? 0},${n.y ?? 0})`);
  }
}
