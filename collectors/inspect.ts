/**
 * Questions answered from a dump alone (no running server): about one
 * owner, one resource, or the cycles. Each answer comes as text for a person
 * and as plain data for `--json`, built from the same view of the snapshot
 * the summary used (graph-view.ts), so they agree.
 */

import type { DomainSnapshot, LockSnapshot, Snapshot } from '../src/index.js';
import { DumpError } from './errors.js';
import { clockTime, duration, shortStack, siteOf } from './format.js';
import { GraphView } from './graph-view.js';
import { dumpLimits } from './limits.js';
import type { Dump } from './read-archive.js';
import { cycleLines, waitSentence } from './summary.js';

export interface Answer {
  found: boolean;
  text: string[];
  data: unknown;
}

/** The snapshot again, from locks/<domain>.json and waitfor.json (a cluster dump's other nodes: under `prefix` = nodes/<node>/). */
export function snapshotOf(dump: { files: ReadonlyMap<string, Buffer | string> }, prefix = ''): Snapshot {
  const waitfor = dump.files.get(`${prefix}waitfor.json`);
  if (waitfor === undefined) throw new DumpError('ECORRUPT', `the dump has no ${prefix}waitfor.json (its collector failed: see the manifest errors)`);
  const rest = JSON.parse(waitfor.toString()) as Omit<Snapshot, 'domains'>;
  const domains: DomainSnapshot[] = [];
  for (const [path, data] of dump.files) {
    if (path.startsWith(`${prefix}locks/`) && path.endsWith('.json') && !path.slice(prefix.length + 6).includes('/')) domains.push(JSON.parse(data.toString()) as DomainSnapshot);
  }
  return { ...rest, domains };
}

class Site {
  constructor(private readonly cwd: string) {}
  at = (stack: string | null): string => siteOf(stack, this.cwd) ?? 'an unknown place (no stack captured)';
  frames = (stack: string | null): string[] => shortStack(stack, this.cwd, dumpLimits.summaryStackLinesMax).map((f) => `      ${f}`);
}

export function ownerAnswer(view: GraphView, name: string, cwd: string): Answer {
  const s = new Site(cwd);
  const ids = view.snapshot.owners.filter((o) => o.name === name).map((o) => o.id);
  const text: string[] = [];
  const matches = ids.map((id) => {
    const o = view.snapshot.owners.find((x) => x.id === id)!;
    text.push(`owner ${name} (id ${id})${o.meta === null ? '' : ` ${JSON.stringify(o.meta)}`}`);
    const held = placed(view.snapshot).filter((p) => p.lock.ownerId === id && p.lock.state !== 'waiting');
    for (const h of held) {
      text.push(`  holds ${h.lock.mode} on ${h.domain}:${h.resource}${h.lock.grantedAt === null ? '' : ` since ${clockTime(h.lock.grantedAt)}`}, requested at ${s.at(h.lock.stack)}`, ...s.frames(h.lock.stack));
    }
    const waits = view.pending.filter((p) => p.lock.ownerId === id);
    for (const p of waits) text.push(`  ${waitSentence(p, view.snapshot.time, s.at)}`, ...s.frames(p.lock.stack));
    const blocks = view.in.get(id) ?? [];
    for (const e of blocks) text.push(`  blocks ${e.fromName}, which waits for ${e.wanted} on ${e.domain}:${e.resource}`);
    const inAll = view.blockedBy(id, 1_000_000).length;
    text.push(`  in all, ${inAll} ${inAll === 1 ? 'owner waits' : 'owners wait'} for it directly or through others.`);
    return {
      id, meta: o.meta,
      holds: held.map((h) => ({ domain: h.domain, resource: h.resource, ...h.lock, site: siteOf(h.lock.stack, cwd) })),
      waits: waits.map((p) => ({
        domain: p.domain, resource: p.resource, ...p.lock, site: siteOf(p.lock.stack, cwd), waitedMs: view.snapshot.time - (p.lock.requestedAt ?? view.snapshot.time),
        blockers: p.blockers.map((b) => ({ owner: b.edge.toName, ownerId: b.edge.to, kind: b.edge.kind, mode: b.edge.blockerMode, since: b.lock?.grantedAt ?? b.lock?.requestedAt ?? null, site: siteOf(b.lock?.stack, cwd) })),
      })),
      blocks: blocks.map((e) => ({ owner: e.fromName, ownerId: e.from, domain: e.domain, resource: e.resource, wanted: e.wanted })),
      blocksInAll: inAll,
    };
  });
  if (matches.length === 0) text.push(`No owner named ${JSON.stringify(name)} holds or waits for anything in this dump.`);
  return { found: matches.length > 0, text, data: { owner: name, matches } };
}

function placed(snap: Snapshot): Array<{ domain: string; resource: string; lock: LockSnapshot }> {
  const out: Array<{ domain: string; resource: string; lock: LockSnapshot }> = [];
  for (const d of snap.domains) for (const r of d.resources) for (const q of [r.granted, r.converting, r.waiting]) for (const lock of q) out.push({ domain: d.name, resource: r.name, lock });
  return out;
}

/** KEY is a resource name in any domain, or `domain:resource`. */
export function resourceAnswer(view: GraphView, key: string, cwd: string): Answer {
  const s = new Site(cwd);
  const now = view.snapshot.time;
  const text: string[] = [];
  const matches = [];
  for (const d of view.snapshot.domains) {
    for (const r of d.resources) {
      if (r.name !== key && `${d.name}:${r.name}` !== key) continue;
      text.push(`${d.name}:${r.name} (${d.kind})`);
      const line = (l: LockSnapshot, i: number): string[] => {
        const what = l.state === 'granted'
          ? `${l.owner} holds ${l.mode}${l.grantedAt === null ? '' : ` since ${clockTime(l.grantedAt)} (${duration(now - l.grantedAt)})`}`
          : `${l.owner} waits for ${l.requested}${l.mode === null ? '' : ` (holds ${l.mode})`} since ${clockTime(l.requestedAt)} (${duration(now - (l.requestedAt ?? now))})`;
        return [`    ${i + 1}. ${what}, requested at ${s.at(l.stack)}`, ...s.frames(l.stack)];
      };
      for (const [title, q] of [['granted', r.granted], ['converting', r.converting], ['waiting', r.waiting]] as const) {
        text.push(`  ${title}: ${q.length === 0 ? 'none' : ''}`, ...q.flatMap(line));
      }
      matches.push({ domain: d.name, ...r });
    }
  }
  if (matches.length === 0) text.push(`No resource ${JSON.stringify(key)} is locked or waited for in this dump.`);
  return { found: matches.length > 0, text, data: { resource: key, matches } };
}

export function cyclesAnswer(snap: Snapshot, cwd: string): Answer {
  const s = new Site(cwd);
  const text: string[] = [];
  text.push(snap.cycles.length === 0 ? 'No cycle in the wait-for graph at the time of the dump.' : `${snap.cycles.length} cycles in the wait-for graph at the time of the dump:`);
  for (const c of snap.cycles) text.push(`* ${c.owners.join(' -> ')} -> ${c.owners[0] ?? ''}`, ...cycleLines(c.entries, s.at).map((l) => `    ${l}`));
  text.push(snap.deadlocks.length === 0 ? 'No deadlock was broken before the dump.' : `${snap.deadlocks.length} deadlocks broken before the dump:`);
  for (const d of snap.deadlocks) {
    text.push(`* deadlock #${d.seq} at ${clockTime(d.time)} (${d.kind}): victim ${d.victim ?? 'none'}, ${d.policy}`, ...cycleLines(d.cycle, s.at).map((l) => `    ${l}`));
  }
  return { found: true, text, data: { cycles: snap.cycles, deadlocks: snap.deadlocks } };
}
