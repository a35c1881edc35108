/**
 * `waitfor.json` (the wait-for graph with its cycles, the deadlock history
 * and the hangs, as data) and `waitfor.dot` (the same graph for Graphviz:
 * cycles in red, root blockers as bold boxes). Names in the .dot are
 * escaped (rule E3): a name cannot add a label line or end its string.
 */

import type { EdgeSnapshot, Snapshot } from '../src/index.js';
import { dotString as quote, safeJson } from './escape.js';
import { dumpLimits } from './limits.js';
import type { Collector } from './types.js';

export const waitForCollector: Collector = {
  name: 'waitfor',
  deadlineMs: dumpLimits.collectorDeadlineMs,
  maxBytes: dumpLimits.waitforBytesMax,
  async collect({ snapshot }) {
    return [
      { path: 'waitfor.json', data: graphJson(snapshot) },
      { path: 'waitfor.dot', data: graphDot(snapshot) },
    ];
  },
};

function* graphJson(s: Snapshot): Generator<string> {
  const { edges, domains: _domains, ...rest } = s;
  yield `${safeJson(JSON.stringify(rest)).slice(0, -1)},"edges":[\n`;
  for (let i = 0; i < edges.length; i += 256) {
    const part = edges.slice(i, i + 256).map((e) => JSON.stringify(e));
    yield safeJson(part.join(',\n')) + (i + 256 < edges.length ? ',\n' : '\n');
  }
  yield ']}\n';
}

/** Owner names on a current cycle, and its edges as "from\0to" pairs. */
export function cycleMarks(s: Snapshot): { owners: Set<string>; pairs: Set<string> } {
  const owners = new Set<string>();
  const pairs = new Set<string>();
  for (const c of s.cycles) {
    for (const e of c.entries) {
      owners.add(e.owner);
      if (e.blocker !== undefined) pairs.add(`${e.owner}\u0000${e.blocker.owner}`);
    }
  }
  return { owners, pairs };
}

/** Owners that block someone and wait for nothing. */
export function rootOwnerIds(edges: readonly EdgeSnapshot[]): Set<number> {
  const waiting = new Set<number>();
  for (const e of edges) waiting.add(e.from);
  const roots = new Set<number>();
  for (const e of edges) if (!waiting.has(e.to)) roots.add(e.to);
  return roots;
}

function* graphDot(s: Snapshot): Generator<string> {
  const marks = cycleMarks(s);
  const roots = rootOwnerIds(s.edges);
  yield `digraph waitfor {\n  label=${quote(`wait-for graph of ${s.node} at ${new Date(s.time).toISOString()}; an edge points from a waiter to its blocker`)};\n`;
  yield '  node [shape=ellipse, fontname="monospace"];\n';
  const names = new Map<number, string>();
  for (const e of s.edges) {
    names.set(e.from, e.fromName);
    names.set(e.to, e.toName);
  }
  const nodes: string[] = [];
  for (const [id, name] of names) {
    const attrs = [`label=${quote(name)}`];
    if (roots.has(id)) attrs.push('shape=box', 'style=bold');
    if (marks.owners.has(name)) attrs.push('color=red', 'fontcolor=red');
    nodes.push(`  o${id} [${attrs.join(', ')}];\n`);
  }
  yield nodes.join('');
  for (let i = 0; i < s.edges.length; i += 256) {
    yield s.edges.slice(i, i + 256).map((e) => {
      const attrs = [`label=${quote(`${e.wanted} on ${e.domain}:${e.resource} (${e.kind}, ${e.blockerMode})`)}`];
      if (e.kind === 'soft') attrs.push('style=dashed');
      if (marks.pairs.has(`${e.fromName}\u0000${e.toName}`)) attrs.push('color=red', 'fontcolor=red', 'penwidth=2');
      return `  o${e.from} -> o${e.to} [${attrs.join(', ')}];\n`;
    }).join('');
  }
  yield '}\n';
}
