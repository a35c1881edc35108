/**
 * `inspect` over a cluster dump: the dumping node's state at the top of the
 * archive, every other node's that answered under `nodes/<node>/` (rule K1
 * of server/cluster/dumps.ts). An owner or a resource is looked for on every
 * node, each node's part answered as for a one-node dump and labelled with
 * the node; the cycles are each node's own and the cycles across nodes,
 * found by joining the nodes' `waits.json` on cluster-wide owner names
 * (cluster-graph.ts, as the cluster's detector does).
 */

import type { CycleEntry, EdgeSnapshot, LockSnapshot, Snapshot } from '../src/index.js';
import { crossNodeCycles, graphOf } from './cluster-graph.js';
import { GraphView } from './graph-view.js';
import { cyclesAnswer, ownerAnswer, resourceAnswer, snapshotOf, type Answer } from './inspect.js';
import { dumpLimits } from './limits.js';
import type { Dump } from './read-archive.js';
import { cycleLines } from './summary.js';
import type { NodeWaits } from './shapes.js';
import { siteOf } from './format.js';

export interface NodePart {
  node: string;
  snapshot: Snapshot;
  view: GraphView;
}

/** Each node's state in the dump: the dumping node's first, then the others by name; one part for a one-node dump. */
export function nodeParts(dump: Dump): NodePart[] {
  const own = snapshotOf(dump);
  const parts: NodePart[] = [{ node: dump.manifest.node, snapshot: own, view: new GraphView(own) }];
  const others = new Set<string>();
  for (const path of dump.files.keys()) {
    const m = /^nodes\/([^/]+)\/waitfor\.json$/.exec(path);
    if (m !== null) others.add(m[1]!);
  }
  for (const node of [...others].sort()) {
    const snapshot = snapshotOf(dump, `nodes/${node}/`);
    parts.push({ node, snapshot, view: new GraphView(snapshot) });
  }
  return parts;
}

/** One answer per node merged: the nodes where it was found, each labelled. */
function merged(parts: NodePart[], ask: (p: NodePart) => Answer, key: Record<string, string>, none: string): Answer {
  const answers = parts.map((p) => ({ node: p.node, a: ask(p) }));
  const found = answers.filter((x) => x.a.found);
  const text = found.length === 0 ? [none] : found.flatMap((x) => [`on node ${x.node}:`, ...x.a.text.map((l) => `  ${l}`)]);
  return { found: found.length > 0, text, data: { ...key, nodes: Object.fromEntries(answers.map((x) => [x.node, x.a.data])) } };
}

export function clusterOwnerAnswer(parts: NodePart[], name: string, cwd: string): Answer {
  return merged(parts, (p) => ownerAnswer(p.view, name, cwd), { owner: name }, `No owner named ${JSON.stringify(name)} holds or waits for anything on any node in this dump.`);
}

export function clusterResourceAnswer(parts: NodePart[], key: string, cwd: string): Answer {
  return merged(parts, (p) => resourceAnswer(p.view, key, cwd), { resource: key }, `No resource ${JSON.stringify(key)} is locked or waited for on any node in this dump.`);
}

/** A cycle across nodes, its entries built from each node's snapshot (null where that node's part lacks the edge). */
export interface ClusterCycle {
  nodes: string[];
  owners: string[];
  entries: Array<CycleEntry & { node: string }>;
}

type Files = ReadonlyMap<string, Buffer | string>;

/** Every node's `nodes/<node>/waits.json` in a cluster dump. */
function nodeWaits(files: Files): NodeWaits[] {
  const waits: NodeWaits[] = [];
  for (const [path, data] of files) {
    if (/^nodes\/[^/]+\/waits\.json$/.test(path)) waits.push(JSON.parse(data.toString()) as NodeWaits);
  }
  return waits;
}

/**
 * The cycles across nodes in a cluster dump's waits, each edge described
 * from its node's snapshot (asked for only when there is a cycle: reading a
 * node's locks again is most of the cost).
 */
export function clusterCycles(files: Files, snapshotOf: (node: string) => Snapshot | undefined): ClusterCycle[] {
  const { arcs, owners } = graphOf(nodeWaits(files));
  return crossNodeCycles(arcs, dumpLimits.clusterCycleStepsMax).map((cycle) => ({
    nodes: [...new Set(cycle.map((a) => a.node))].sort(),
    owners: cycle.map((a) => owners.get(a.from)?.name ?? a.from),
    entries: cycle.map((a) => entryOf(snapshotOf(a.node), a.node, a.fromId, a.toId, owners.get(a.from)?.name ?? a.from, owners.get(a.to)?.name ?? a.to)),
  }));
}

/** Owners of node `me` (by their id there) that wait on other nodes, and on which. */
export function waitingElsewhere(files: Files, me: string): Map<number, string[]> {
  const waits = nodeWaits(files);
  const mine = waits.find((w) => w.node === me);
  const out = new Map<number, string[]>();
  if (mine === undefined) return out;
  const idOf = new Map(mine.owners.map(([id, key]) => [key, id]));
  for (const w of waits) {
    if (w.node === me) continue;
    const keyOf = new Map(w.owners.map(([id, key]) => [id, key]));
    for (const [, from] of w.edges) {
      const id = idOf.get(keyOf.get(from) ?? '');
      if (id === undefined) continue;
      const nodes = out.get(id) ?? [];
      if (!nodes.includes(w.node)) out.set(id, [...nodes, w.node].sort());
    }
  }
  return out;
}

/** The edge from → to on `node` as a cycle entry, from that node's snapshot. */
function entryOf(snap: Snapshot | undefined, node: string, from: number, to: number, fromName: string, toName: string): CycleEntry & { node: string } {
  const edge: EdgeSnapshot | undefined = snap?.edges.find((e) => e.from === from && e.to === to);
  const lockOf = (pred: (l: LockSnapshot, domain: string, resource: string) => boolean): LockSnapshot | undefined => {
    for (const d of snap?.domains ?? []) for (const r of d.resources) for (const q of [r.granted, r.converting, r.waiting]) for (const l of q) if (pred(l, d.name, r.name)) return l;
    return undefined;
  };
  const waiting = edge === undefined ? undefined : lockOf((l) => l.waitId === edge.waitId);
  const blocking = edge === undefined ? undefined
    : lockOf((l, domain, resource) => l.ownerId === to && domain === edge.domain && resource === edge.resource && (edge.kind === 'soft' || l.state !== 'waiting'));
  return {
    node, owner: fromName, domain: edge?.domain ?? '?', resource: edge?.resource ?? '?', held: waiting?.mode ?? null, wanted: edge?.wanted ?? '?', stack: waiting?.stack ?? null,
    blocker: { owner: toName, mode: edge?.blockerMode ?? '?', hard: edge?.kind !== 'soft', stack: blocking?.stack ?? null },
  };
}

export function clusterCyclesAnswer(dump: Dump, parts: NodePart[], cwd: string): Answer {
  const site = (stack: string | null): string => siteOf(stack, cwd) ?? 'an unknown place (no stack captured)';
  const across = clusterCycles(dump.files, (node) => parts.find((p) => p.node === node)?.snapshot);
  const text: string[] = [across.length === 0 ? 'No cycle across nodes at the time of the dump.' : `${across.length} ${across.length === 1 ? 'cycle' : 'cycles'} across nodes at the time of the dump:`];
  for (const c of across) {
    text.push(`* across nodes ${c.nodes.join(', ')}: ${c.owners.join(' -> ')} -> ${c.owners[0] ?? ''}`);
    text.push(...cycleLines(c.entries, site).map((l, i) => `    on ${c.entries[i]!.node}: ${l}`));
  }
  const each = parts.map((p) => ({ node: p.node, a: cyclesAnswer(p.snapshot, cwd) }));
  for (const x of each) text.push('', `on node ${x.node}:`, ...x.a.text.map((l) => `  ${l}`));
  return { found: true, text, data: { acrossNodes: across, nodes: Object.fromEntries(each.map((x) => [x.node, x.a.data])) } };
}
