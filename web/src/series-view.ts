/**
 * Wait time per domain over the last minutes: p50 and p99 of the waits that
 * ended in a grant (from the `granted` and `converted` events' waitedMs), in
 * fixed buckets, one line pair per domain on a log scale (waits span
 * milliseconds to minutes).
 */

import * as d3 from 'd3';
import { esc } from './format.js';
import { webLimits } from './limits.js';
import type { Model, WaitSample } from './model.js';

interface Point {
  t: number;
  p50: number;
  p99: number;
}

export function buckets(samples: readonly WaitSample[], now: number): Point[] {
  const { seriesWindowMs: windowMs, seriesBucketMs: bucketMs } = webLimits;
  const start = now - windowMs;
  const groups = new Map<number, number[]>();
  for (const s of samples) {
    if (s.time < start) continue;
    const b = Math.floor(s.time / bucketMs) * bucketMs;
    const g = groups.get(b) ?? [];
    g.push(s.ms);
    groups.set(b, g);
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([t, ms]) => {
    ms.sort((a, b) => a - b);
    return { t, p50: d3.quantileSorted(ms, 0.5) ?? 0, p99: d3.quantileSorted(ms, 0.99) ?? 0 };
  });
}

/**
 * Ticks a log scale can space: 0, then powers of ten up to the top (d3's
 * own ticks on a symlog scale crowd 60, 80, 100 ms into a few pixels).
 */
export function yTicks(top: number): number[] {
  const out = [0];
  for (let v = 10; v <= top; v *= 10) out.push(v);
  if (out.length < 3) out.splice(1, 0, 1);
  return out;
}

function waitTick(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${ms / 1000} s`;
  return `${Math.round(ms / 60_000)} min`;
}

export function renderSeries(svg: SVGSVGElement, legend: HTMLElement, m: Model, now: number): void {
  const w = svg.clientWidth || 500;
  const h = svg.clientHeight || 200;
  const margin = { l: 52, r: 8, t: 8, b: 20 };
  const x = d3.scaleTime().domain([now - webLimits.seriesWindowMs, now]).range([margin.l, w - margin.r]);
  const series = [...m.waits.entries()].map(([domain, samples]) => ({ domain, points: buckets(samples, now) }));
  const top = Math.max(10, ...series.flatMap((s) => s.points.map((p) => p.p99)));
  // Log scale from 1 ms: a wait of 0 ms (granted at once) sits on the axis.
  const y = d3.scaleSymlog().constant(1).domain([0, top]).range([h - margin.b, margin.t]).nice();
  const color = d3.scaleOrdinal<string>().domain(m.domains.map((d) => d.name)).range(d3.schemeTableau10);
  const sel = d3.select(svg);
  sel.selectAll('*').remove();
  sel.append('g').attr('transform', `translate(0,${h - margin.b})`).call(d3.axisBottom(x).ticks(5));
  sel.append('g').attr('class', 'y-axis').attr('transform', `translate(${margin.l},0)`).call(d3.axisLeft(y).tickValues(yTicks(y.domain()[1]!)).tickFormat((v) => waitTick(Number(v))));
  for (const s of series) {
    for (const [q, dash] of [['p50', null], ['p99', '4 3']] as const) {
      const line = d3.line<Point>().x((p) => x(p.t)).y((p) => y(p[q]));
      sel.append('path').datum(s.points).attr('class', `series ${q}`).attr('data-domain', s.domain).attr('fill', 'none')
        .attr('stroke', color(s.domain)).attr('stroke-width', 1.5).attr('stroke-dasharray', dash).attr('d', line);
    }
  }
  legend.innerHTML = series.map((s) => {
    const last = s.points[s.points.length - 1];
    const stat = last === undefined ? 'no waits' : `p50 ${Math.round(last.p50)} ms · p99 ${Math.round(last.p99)} ms`;
    // Domain names come from the server's configuration and may hold any character: escaped like every name.
    return `<span><i style="background:${esc(color(s.domain))}"></i>${esc(s.domain)}: ${stat}</span>`;
  }).join('');
}
