/**
 * `summary.txt`: what a person reads first. Root blockers first (who to
 * look at), then who waits for whom as an indented tree, the longest waits
 * in plain sentences, cycles and broken deadlocks, each with the place in
 * the caller's code where the lock was requested. Every line is escaped
 * (rule E1) when the text is made: names cannot forge lines or drive the terminal.
 */

import type { CycleEntry, DeadlockRecord, EdgeSnapshot, Hang, Snapshot } from '../src/index.js';
import { escapeLines } from './escape.js';
import { clockTime, duration, isoTime, shortStack, siteOf } from './format.js';
import { GraphView, type BlockedBy, type PendingWait } from './graph-view.js';
import { dumpLimits } from './limits.js';
import type { DumpTrigger } from './shapes.js';
import type { ClusterCycle } from './inspect-cluster.js';

export interface SummaryInput {
  id: string;
  trigger: DumpTrigger;
  snapshot: Snapshot;
  hang: Hang | null;
  deadlock: DeadlockRecord | null;
  cwd: string;
  /** A cluster dump: the other nodes that answered (their state is under nodes/<node>/) and those that did not. */
  cluster?: ClusterSummary | null;
}

export interface ClusterSummary {
  answered: string[];
  missing: string[];
  /** The cycles across nodes, from every node's wait-for edges. */
  across?: ClusterCycle[];
  /** This node's owners (by id) that wait on other nodes, and on which. */
  elsewhere?: ReadonlyMap<number, string[]>;
}

export function buildSummary(input: SummaryInput): string {
  const view = new GraphView(input.snapshot);
  const w = new Writer(input.cwd, input.snapshot.time);
  header(w, input);
  const elsewhere = input.cluster?.elsewhere ?? new Map<number, string[]>();
  rootBlockers(w, view, input.hang, elsewhere);
  waitTree(w, view, elsewhere);
  longestWaits(w, view);
  cycles(w, input.snapshot, input.cluster?.across ?? null);
  hangs(w, input.snapshot);
  cachedGrants(w, input.snapshot);
  w.line('');
  w.line('More: stacks.txt (every request-site stack, by owner), locks/<domain>.json, waitfor.json / waitfor.dot, nodes/, os/locks.txt.');
  if (input.cluster != null) w.line('Each other node\'s part: nodes/<node>/ (the same files, and waits.json); the cluster\'s view, grace record and detector: cluster.json.');
  return w.text();
}

const count = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

class Writer {
  private readonly lines: string[] = [];
  constructor(readonly cwd: string, readonly now: number) {}
  line(s: string): void {
    this.lines.push(s);
  }
  section(title: string): void {
    this.lines.push('', title, '-'.repeat(title.length));
  }
  site(stack: string | null): string {
    return siteOf(stack, this.cwd) ?? 'an unknown place (no stack captured)';
  }
  stack(stack: string | null, indent: string): void {
    for (const f of shortStack(stack, this.cwd, dumpLimits.summaryStackLinesMax)) this.lines.push(`${indent}${f}`);
  }
  text(): string {
    return escapeLines(this.lines) + '\n';
  }
}

function header(w: Writer, { id, trigger, snapshot: s, hang, deadlock, cluster }: SummaryInput): void {
  w.line(`lockscope hang-dump ${id}`);
  w.line(`node ${s.node}, taken ${isoTime(s.time)} (times below are UTC), trigger: ${trigger}`);
  const pending = s.domains.reduce((n, d) => n + d.resources.reduce((m, r) => m + r.converting.length + r.waiting.length, 0), 0);
  const held = s.domains.reduce((n, d) => n + d.resources.reduce((m, r) => m + r.granted.length, 0), 0);
  w.line(`${count(held, 'lock')} held, ${count(pending, 'request')} waiting, ${count(s.owners.length, 'owner')}, ${count(s.edges.length, 'wait-for edge')}, ${count(s.cycles.length, 'cycle')} now.`);
  if (cluster != null) {
    const missing = cluster.missing.length === 0 ? '' : `; did not answer in time: ${cluster.missing.join(', ')} (their part is missing)`;
    w.line(`Cluster dump: this node and ${cluster.answered.length === 0 ? 'no other node' : cluster.answered.join(', ')} (under nodes/<node>/)${missing}.`);
  }
  if (hang !== null) {
    w.line('');
    w.line(`Triggered by: owner ${hang.owner} waited ${duration(s.time - hang.since)} (soft timeout ${duration(hang.softTimeoutMs)}) for ${hang.wanted} on ${hang.domain}:${hang.resource}, requested at ${w.site(hang.stack)}.`);
    for (const r of hang.rootBlockers) {
      const client = r.client == null ? '' : `, client ${r.client} ${r.connected === true ? 'connected' : 'not connected'}`;
      for (const h of r.holds) {
        const where = h.node !== undefined && h.node !== s.node ? ` on node ${h.node}` : '';
        const since = h.since === null ? '' : ` since ${clockTime(h.since)}`;
        w.line(`  Its root blocker: ${r.owner}${where}${client}, which holds ${h.mode} on ${h.domain}:${h.resource}${since}, requested at ${w.site(h.stack)}.`);
      }
    }
    if (hang.nodes !== undefined && hang.nodes.missing.length > 0) {
      w.line(`  The chain could not be followed on ${hang.nodes.missing.join(', ')} (no answer in time): a root blocker there is not shown.`);
    }
  }
  if (deadlock !== null) {
    w.line('');
    w.line(`Triggered by deadlock #${deadlock.seq} at ${clockTime(deadlock.time)}: ${deadlock.cycle.map((c) => c.owner).join(' -> ')} -> ${deadlock.cycle[0]?.owner ?? ''}; victim ${deadlock.victim ?? 'none'} (${deadlock.policy}).`);
  }
}

function rootBlockers(w: Writer, view: GraphView, hang: Hang | null, elsewhere: ReadonlyMap<number, string[]>): void {
  w.section('Root blockers (they hold what others wait for, and wait for nothing)');
  const roots = view.roots();
  // The triggering hang's roots first: that is the question the dump was taken to answer.
  const first = new Set((hang?.rootBlockers ?? []).map((r) => r.ownerId));
  roots.sort((a, b) => Number(first.has(b)) - Number(first.has(a)));
  if (roots.length === 0) w.line(view.snapshot.edges.length === 0 ? 'None: nobody is blocked.' : 'None: every blocker waits too (see Cycles).');
  for (const id of roots.slice(0, dumpLimits.summaryRootsMax)) {
    const blocked = view.blockedBy(id, 100_000);
    const owner = view.snapshot.owners.find((o) => o.id === id);
    const meta = owner?.meta === null || owner?.meta === undefined ? '' : ` ${JSON.stringify(owner.meta)}`;
    w.line(`* ${view.name(id)}${meta} blocks ${count(view.in.get(id)?.length ?? 0, 'request')} directly and ${count(blocked.length, 'owner')} in all.`);
    const away = elsewhere.get(id);
    if (away !== undefined) w.line(`  It waits itself on node ${away.join(', ')} (nodes/${away[0]}/): on this node only, a root blocker.`);
    const seen = new Set<string>();
    for (const e of view.in.get(id) ?? []) {
      if (seen.has(`${e.domain}\u0000${e.resource}`)) continue;
      seen.add(`${e.domain}\u0000${e.resource}`);
      for (const l of view.locksOf(id, e.domain, e.resource).filter((x) => x.state !== 'waiting')) {
        const since = l.grantedAt === null ? '' : ` since ${clockTime(l.grantedAt)} (for ${duration(w.now - l.grantedAt)})`;
        w.line(`  holds ${l.mode} on ${e.domain}:${e.resource}${since}, requested at ${w.site(l.stack)}`);
        w.stack(l.stack, '      ');
      }
    }
  }
  if (roots.length > dumpLimits.summaryRootsMax) w.line(`... and ${roots.length - dumpLimits.summaryRootsMax} more root blockers (waitfor.json).`);
}

function waitTree(w: Writer, view: GraphView, elsewhere: ReadonlyMap<number, string[]>): void {
  w.section('Who waits for whom (each owner waits for the one it is indented under)');
  const max = dumpLimits.summaryTreeLinesMax;
  let lines = 0;
  const printed = new Set<number>();
  const stack: Array<{ id: number; depth: number; via: EdgeSnapshot | null }> = view.roots().reverse().map((id) => ({ id, depth: 0, via: null }));
  while (stack.length > 0 && lines < max) {
    const { id, depth, via } = stack.pop()!;
    const indent = '  '.repeat(depth + 1);
    const again = printed.has(id) ? ' (its waiters are shown above)' : '';
    if (via === null) w.line(`${indent}${view.name(id)} (${elsewhere.has(id) ? `waits on node ${elsewhere.get(id)!.join(', ')}` : 'root blocker'})`);
    else {
      const p = view.pendingOf(via.from, via.domain, via.resource);
      const waited = p?.lock.requestedAt == null ? '' : ` ${duration(w.now - p.lock.requestedAt)}`;
      w.line(`${indent}${view.name(id)} waits${waited} for ${via.wanted} on ${via.domain}:${via.resource}, requested at ${w.site(p?.lock.stack ?? null)}${again}`);
    }
    lines++;
    if (printed.has(id)) continue;
    printed.add(id);
    // Only as many children as there are lines left: a root with 10,000 waiters must stay cheap.
    const children = (view.in.get(id) ?? []).slice(0, max - lines + 1);
    for (let i = children.length - 1; i >= 0; i--) stack.push({ id: children[i]!.from, depth: depth + 1, via: children[i]! });
  }
  if (stack.length > 0) w.line(`  ... (tree cut at ${max} lines; waitfor.json has every edge)`);
  if (lines === 0) w.line('  Nobody waits.');
}

/** "owner job-17 has waited 93 s for EX on lin:inode:12, blocked by job-4, which holds it since 14:02:11, requested at src/worker.ts:88" */
export function waitSentence(p: PendingWait, now: number, site: (stack: string | null) => string): string {
  const l = p.lock;
  const conv = l.state === 'converting' ? ` (converting from ${l.mode})` : '';
  const start = `owner ${l.owner} has waited ${duration(now - (l.requestedAt ?? now))} for ${l.requested} on ${p.domain}:${p.resource}${conv}`;
  const by = p.blockers.map((b) => blockerClause(b, site));
  const blocked = by.length === 0 ? ', blocked by no owner the wait-for graph shows (its domain may not take part in deadlock detection)' : `, blocked by ${by.join(', and by ')}`;
  return `${start}${blocked}; this request was made at ${site(l.stack)}`;
}

function blockerClause(b: BlockedBy, site: (stack: string | null) => string): string {
  const l = b.lock;
  if (b.edge.kind === 'hard') {
    const since = l?.grantedAt === null || l === null ? '' : ` since ${clockTime(l.grantedAt)}`;
    return `${b.edge.toName}, which holds ${b.edge.blockerMode} on it${since}, requested at ${site(l?.stack ?? null)}`;
  }
  return `${b.edge.toName}, which is queued ahead of it for ${b.edge.blockerMode}${l === null ? '' : ` since ${clockTime(l.requestedAt)}`}, requested at ${site(l?.stack ?? null)}`;
}

function longestWaits(w: Writer, view: GraphView): void {
  w.section('Longest waits');
  const sorted = [...view.pending].sort((a, b) => (a.lock.requestedAt ?? 0) - (b.lock.requestedAt ?? 0));
  if (sorted.length === 0) w.line('No request is waiting.');
  sorted.slice(0, dumpLimits.summaryWaitsMax).forEach((p, i) => w.line(`${i + 1}. ${waitSentence(p, w.now, (s) => w.site(s))}.`));
  if (sorted.length > dumpLimits.summaryWaitsMax) w.line(`... and ${sorted.length - dumpLimits.summaryWaitsMax} more waits (locks/<domain>.json).`);
}

export function cycleLines(entries: readonly CycleEntry[], site: (stack: string | null) => string): string[] {
  return entries.map((c) => {
    const held = c.held === null ? '' : `holds ${c.held} on ${c.domain}:${c.resource} and `;
    const by = c.blocker === undefined ? '' : `, blocked by ${c.blocker.owner} (${c.blocker.hard ? 'holds' : 'queued for'} ${c.blocker.mode}, requested at ${site(c.blocker.stack)})`;
    return `${c.owner} ${held}wants ${c.wanted} on ${c.domain}:${c.resource}, requested at ${site(c.stack)}${by}`;
  });
}

function cycles(w: Writer, s: Snapshot, across: ClusterCycle[] | null): void {
  w.section('Cycles');
  if (across !== null) {
    w.line(across.length === 0 ? 'No cycle across nodes now.' : `Across nodes (every node's wait-for edges joined), ${count(across.length, 'cycle')}:`);
    for (const c of across.slice(0, dumpLimits.summaryCyclesMax)) {
      w.line(`* across nodes ${c.nodes.join(', ')}: ${c.owners.join(' -> ')} -> ${c.owners[0] ?? ''}`);
      cycleLines(c.entries, (x) => w.site(x)).forEach((line, i) => w.line(`    on ${c.entries[i]!.node}: ${line}`));
    }
  }
  if (s.cycles.length === 0) w.line(across === null ? 'No cycle in the wait-for graph now.' : 'No cycle on this node alone now.');
  for (const c of s.cycles.slice(0, dumpLimits.summaryCyclesMax)) {
    w.line(`* cycle through ${c.owners.join(' -> ')} -> ${c.owners[0] ?? ''}:`);
    for (const line of cycleLines(c.entries, (x) => w.site(x))) w.line(`    ${line}`);
  }
  const history = s.deadlocks.slice(-dumpLimits.summaryCyclesMax);
  w.line(s.deadlocks.length === 0 ? 'No deadlock was broken before this dump.' : `Deadlocks broken before this dump (${s.deadlocks.length}, latest last):`);
  for (const d of history) {
    w.line(`* deadlock #${d.seq} at ${clockTime(d.time)} (${d.kind}): victim ${d.victim ?? 'none'}, ${d.policy}`);
    for (const line of cycleLines(d.cycle, (x) => w.site(x))) w.line(`    ${line}`);
  }
}

/**
 * Cached grants (client/cache.ts): held on the server for a client that
 * may re-grant them locally; in use or idle as the client last reported
 * (each client's own report in clients/ says it as of the dump).
 */
function cachedGrants(w: Writer, s: Snapshot): void {
  const all: string[] = [];
  for (const d of s.domains) {
    for (const r of d.resources) {
      for (const l of r.granted) {
        const c = l.cache;
        if (c === undefined) continue;
        const use = c.inUse === null ? 'use not reported yet' : c.inUse ? `in use by ${c.user ?? l.owner}${c.site === null ? '' : `, re-granted at ${w.site(c.site)}`}` : 'idle';
        const back = c.confirmed ? '; called back, confirmed in use (waits on it are wait-for edges)' : '';
        all.push(`* ${d.name}:${r.name} ${l.mode} cached by ${l.owner}: ${use}${back}`);
      }
    }
  }
  if (all.length === 0) return;
  w.section('Cached grants (kept by clients for local re-grants)');
  for (const line of all.slice(0, dumpLimits.summaryCachedMax)) w.line(line);
  if (all.length > dumpLimits.summaryCachedMax) w.line(`... and ${all.length - dumpLimits.summaryCachedMax} more (locks/<domain>.json, "cache").`);
}

function hangs(w: Writer, s: Snapshot): void {
  w.section('Hangs (waits past their soft timeout)');
  if (s.hangs.length === 0) w.line('None in progress.');
  for (const h of s.hangs) {
    w.line(`* ${h.owner} waits for ${h.wanted} on ${h.domain}:${h.resource} since ${clockTime(h.since)} (${duration(s.time - h.since)}, ${h.classification}); root blockers: ${h.rootBlockers.map((r) => r.owner).join(', ') || 'none'}`);
  }
  if (s.hangHistory.length > 0) w.line(`${s.hangHistory.length} earlier hangs ended (waitfor.json, hangHistory).`);
}
