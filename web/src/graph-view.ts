/**
 * The wait-for graph: owners as nodes, "waits for" as arrows from the
 * waiter to the owner it waits for, labelled with the resource and what
 * each side has ("wants PR, blocked by EX"). Positions and labels come from
 * graph-layout.ts (layered by default, force on request); this file turns
 * the model into that layout's input and draws it. A deadlock found in the
 * last `deadlockLingerMs` stays drawn in red with its victim marked, even
 * after it was broken (rule G4 in web/README.md); with nothing to draw the
 * panel says so (rule G5).
 */

import * as d3 from 'd3';
import type { DeadlockRecord, EdgeSnapshot } from '../../server/protocol.js';
import { forceLayout, GEOMETRY, layeredLayout, type Layout, type LayoutLink, type LayoutNode, type Measure } from './graph-layout.js';
import { webLimits } from './limits.js';
import type { Model } from './model.js';

export interface VNode extends LayoutNode {
  name: string;
  ownerId: number | null;
  root: boolean;
  inCycle: boolean;
  victim: boolean;
}

export interface VLink extends LayoutLink {
  kind: 'hard' | 'soft';
  inCycle: boolean;
  /** Drawn from a deadlock record that lingers (rule G4), not from a live edge. */
  broken: boolean;
}

/** "wants PR, blocked by EX" for a holder; "queued behind EX" for a request ahead in the queue (a soft edge). */
export function edgeLabel(domain: string, resource: string, wanted: string, blockerMode: string, kind: 'hard' | 'soft'): string {
  return `${domain}:${resource} · wants ${wanted}, ${kind === 'hard' ? 'blocked by' : 'queued behind'} ${blockerMode}`;
}

/** The deadlocks still drawn at `now`, newest first. */
export function lingering(deadlocks: readonly DeadlockRecord[], now: number): DeadlockRecord[] {
  return deadlocks.filter((d) => now - d.time < webLimits.deadlockLingerMs && d.time <= now).reverse().slice(0, webLimits.deadlocksDrawnMax);
}

/** The graph's nodes and links: live edges (bounded), current cycles, and the deadlocks that linger. */
export function graphInput(m: Model, now: number): { nodes: VNode[]; links: VLink[] } {
  const degree = new Map<number, number>();
  for (const e of m.edges) for (const id of [e.from, e.to]) degree.set(id, (degree.get(id) ?? 0) + 1);
  // Past the bound, the owners with the most edges are the ones worth drawing.
  const keep = new Set([...degree.entries()].sort((a, b) => b[1] - a[1]).slice(0, webLimits.graphOwnersMax).map(([id]) => id));
  const cycleEdges = new Set<string>();
  const cycleOwners = new Set<string>();
  for (const c of m.cycles) c.owners.forEach((o, i) => { cycleOwners.add(o); cycleEdges.add(`${o}\u0000${c.owners[(i + 1) % c.owners.length]}`); });
  const nodes = new Map<string, VNode>();
  const byName = new Map<string, string>();
  const waiting = new Set(m.edges.map((e) => e.from));
  const node = (key: string, name: string, ownerId: number | null): VNode => {
    let n = nodes.get(key);
    if (n === undefined) {
      n = { key, name, label: name, ownerId, root: ownerId !== null && !waiting.has(ownerId), inCycle: cycleOwners.has(name), victim: false };
      nodes.set(key, n);
      if (!byName.has(name)) byName.set(name, key);
    }
    return n;
  };
  const links: VLink[] = [];
  const live = new Set<string>();
  for (const e of m.edges) {
    if (links.length >= webLimits.graphEdgesMax) break;
    if (!keep.has(e.from) || !keep.has(e.to)) continue;
    const key = `${e.from}>${e.to}>${e.domain}>${e.resource}`;
    if (live.has(key)) continue;
    live.add(key);
    const from = node(`o${e.from}`, e.fromName, e.from).key;
    const to = node(`o${e.to}`, e.toName, e.to).key;
    links.push({ key, from, to, label: edgeLabel(e.domain, e.resource, e.wanted, e.blockerMode, e.kind), kind: e.kind, inCycle: cycleEdges.has(`${e.fromName}\u0000${e.toName}`), broken: false });
  }
  for (const d of lingering(m.deadlocks, now)) addDeadlock(d, m.edges, links, (name) => nodes.get(byName.get(name) ?? '') ?? node(`n:${name}`, name, null));
  for (const n of nodes.values()) n.label = n.name + (n.victim ? ' · deadlock victim' : n.root ? ' · root blocker' : '');
  return { nodes: [...nodes.values()], links };
}

/** A deadlock's cycle as red links; a live edge it shares (the survivor still waits) is drawn once, in red. */
function addDeadlock(d: DeadlockRecord, edges: readonly EdgeSnapshot[], links: VLink[], nodeOf: (name: string) => VNode): void {
  d.cycle.forEach((c, i) => {
    // A conversion deadlock's entries name no blocker: each is blocked by the next one's held mode.
    const next = d.cycle[(i + 1) % d.cycle.length]!;
    const blocker = c.blocker?.owner ?? next.owner;
    const blockerMode = c.blocker?.mode ?? next.held ?? '?';
    const from = nodeOf(c.owner);
    const to = nodeOf(blocker);
    from.inCycle = true;
    to.inCycle = true;
    if (c.owner === d.victim) from.victim = true;
    const same = links.find((l) => l.from === from.key && l.to === to.key && l.label.startsWith(`${c.domain}:${c.resource} `));
    if (same !== undefined) return void (same.inCycle = true);
    const kind = c.blocker?.hard === false ? 'soft' : 'hard';
    links.push({ key: `dl${d.seq}:${i}`, from: from.key, to: to.key, label: edgeLabel(c.domain, c.resource, c.wanted, blockerMode, kind), kind, inCycle: true, broken: true });
  });
}

export class GraphView {
  layered = true;
  private readonly viewport: d3.Selection<SVGGElement, unknown, null, undefined>;
  private readonly zoom: d3.ZoomBehavior<SVGSVGElement, unknown>;
  private readonly measureCtx = document.createElement('canvas').getContext('2d');
  private autoFit = true;
  private drawnKey = '';
  private last: Layout | null = null;
  private nodes = new Map<string, VNode>();

  constructor(private readonly svg: SVGSVGElement, private readonly empty: HTMLElement, private readonly note: HTMLElement, private readonly onOwner: (id: number) => void) {
    const sel = d3.select(svg);
    const marker = (id: string, colour: string): string =>
      `<marker id="${id}" viewBox="0 -4 8 8" refX="8" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,-4L8,0L0,4" fill="${colour}"/></marker>`;
    sel.append('defs').html(marker('arrow', '#8a94a6') + marker('arrow-cycle', '#e5484d'));
    this.viewport = sel.append('g').attr('class', 'viewport');
    for (const layer of ['links', 'nodes', 'edge-labels']) this.viewport.append('g').attr('class', layer);
    this.zoom = d3.zoom<SVGSVGElement, unknown>().scaleExtent([0.1, 6]).on('zoom', (e: d3.D3ZoomEvent<SVGSVGElement, unknown>) => {
      // A person zoomed or panned: stop refitting under their hand until they ask for it again.
      if (e.sourceEvent !== null && e.sourceEvent !== undefined) this.autoFit = false;
      this.viewport.attr('transform', String(e.transform));
    });
    sel.call(this.zoom).on('dblclick.zoom', null);
  }

  toggleLayout(): boolean {
    this.layered = !this.layered;
    this.autoFit = true;
    this.drawnKey = '';
    return this.layered;
  }

  /** Fit everything drawn into the panel, and keep doing so as the graph changes. */
  fit(): void {
    this.autoFit = true;
    this.applyFit();
  }

  render(m: Model, now: number): void {
    const kept = lingering(m.deadlocks, now).map((d) => d.seq).join(',');
    const key = `${m.graphVersion}|${kept}|${this.layered}|${this.svg.clientWidth}x${this.svg.clientHeight}`;
    if (key === this.drawnKey) return;
    this.drawnKey = key;
    const { nodes, links } = graphInput(m, now);
    this.nodes = new Map(nodes.map((n) => [n.key, n]));
    this.empty.hidden = nodes.length > 0;
    if (nodes.length === 0) this.empty.textContent = emptyText(m);
    const measure = this.measure;
    const prev = new Map([...(this.last?.nodes ?? new Map())].map(([k, p]) => [k, { x: p.x, y: p.y }]));
    const ticks = nodes.every((n) => prev.has(n.key)) ? Math.ceil(webLimits.forceTicksMax / 5) : webLimits.forceTicksMax;
    this.last = this.layered ? layeredLayout(nodes, links, measure, this.aspect()) : forceLayout(nodes, links, measure, prev, ticks);
    this.note.textContent = this.last.hiddenLabels === 0 ? '' : `${this.last.hiddenLabels} edge label${this.last.hiddenLabels === 1 ? '' : 's'} left out for room: hover an arrow to read it`;
    this.draw(links, this.last);
    if (this.autoFit) this.applyFit();
  }

  private readonly measure: Measure = (text, kind) => {
    const ctx = this.measureCtx;
    if (ctx === null) return text.length * (kind === 'node' ? 7 : 6);
    ctx.font = kind === 'node' ? '11px system-ui, sans-serif' : '10px system-ui, sans-serif';
    return Math.ceil(ctx.measureText(text).width) + 2;
  };

  private aspect(): number {
    return (this.svg.clientWidth || 800) / (this.svg.clientHeight || 420);
  }

  private applyFit(): void {
    const b = this.last?.bounds;
    if (b === undefined || b.w === 0) return;
    const w = this.svg.clientWidth || 800;
    const h = this.svg.clientHeight || 420;
    const pad = 24;
    const k = Math.min((w - 2 * pad) / b.w, (h - 2 * pad) / b.h, webLimits.graphFitScaleMax);
    const t = d3.zoomIdentity.translate(w / 2 - k * (b.x + b.w / 2), h / 2 - k * (b.y + b.h / 2)).scale(k);
    d3.select(this.svg).call(this.zoom.transform, t);
  }

  private draw(links: readonly VLink[], layout: Layout): void {
    const r = GEOMETRY.nodeRadius;
    const linkSel = this.viewport.select<SVGGElement>('g.links').selectAll<SVGGElement, VLink>('g.link').data(links, (l) => l.key)
      .join((enter) => { const g = enter.append('g').attr('class', 'link'); g.append('line'); g.append('title'); return g; });
    linkSel.classed('cycle', (l) => l.inCycle).classed('soft', (l) => l.kind === 'soft').classed('broken', (l) => l.broken)
      .attr('data-from', (l) => this.nodes.get(l.from)?.name ?? '').attr('data-to', (l) => this.nodes.get(l.to)?.name ?? '');
    linkSel.select('title').text((l) => `${this.nodes.get(l.from)?.name} waits for ${this.nodes.get(l.to)?.name}: ${l.label}`);
    linkSel.select('line').attr('marker-end', (l) => (l.inCycle ? 'url(#arrow-cycle)' : 'url(#arrow)')).each(function (l) {
      const p = layout.links.get(l.key)!;
      const len = Math.hypot(p.x2 - p.x1, p.y2 - p.y1) || 1;
      const [ux, uy] = [(p.x2 - p.x1) / len, (p.y2 - p.y1) / len];
      // From the waiter's circle to the edge of the circle waited for, where the arrowhead ends.
      d3.select(this).attr('x1', p.x1 + ux * r).attr('y1', p.y1 + uy * r).attr('x2', p.x2 - ux * (r + 2)).attr('y2', p.y2 - uy * (r + 2));
    });

    const nodeSel = this.viewport.select<SVGGElement>('g.nodes').selectAll<SVGGElement, VNode>('g.node').data([...this.nodes.values()], (n) => n.key)
      .join((enter) => {
        const g = enter.append('g').attr('class', 'node').on('click', (_e, n) => { if (n.ownerId !== null) this.onOwner(n.ownerId); });
        g.append('circle').attr('r', r);
        g.append('title');
        g.append('text').attr('class', 'label');
        return g;
      });
    nodeSel.classed('root', (n) => n.root).classed('cycle', (n) => n.inCycle).classed('victim', (n) => n.victim).classed('gone', (n) => n.ownerId === null)
      .attr('data-owner', (n) => n.name)
      .attr('transform', (n) => { const p = layout.nodes.get(n.key)!; return `translate(${p.x},${p.y})`; });
    nodeSel.select('title').text((n) => n.label);
    nodeSel.select<SVGTextElement>('text.label').each(function (n) {
      const p = layout.nodes.get(n.key)!;
      const t = d3.select(this);
      if (p.label === null) return void t.attr('display', 'none');
      t.attr('display', null).attr('x', p.label.x - p.x).attr('y', p.label.y - p.y + p.label.h / 2).text(n.label);
    });

    const shown = links.filter((l) => layout.links.get(l.key)?.label !== null);
    this.viewport.select<SVGGElement>('g.edge-labels').selectAll<SVGTextElement, VLink>('text.elabel').data(shown, (l) => l.key)
      .join('text').attr('class', 'elabel').classed('cycle', (l) => l.inCycle)
      .each(function (l) {
        const b = layout.links.get(l.key)!.label!;
        d3.select(this).attr('x', b.x + b.w / 2).attr('y', b.y + b.h / 2).text(l.label);
      });
  }
}

function emptyText(m: Model): string {
  const held = [...m.rows.values()].filter((r) => r.state === 'granted').length;
  return `Nobody is waiting for anybody right now (${held} lock${held === 1 ? '' : 's'} held, none contended). ` +
    `Waits show here as arrows from the waiter to the owner it waits for; a deadlock stays drawn for ${Math.round(webLimits.deadlockLingerMs / 1000)} s after it is broken.`;
}
