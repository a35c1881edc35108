/**
 * Who blocks whom: every root blocker (an owner others wait for, itself
 * waiting for nobody) first, with how many owners wait behind it, directly
 * or down a chain, and how long the oldest of those waits has lasted; under
 * it, the chain as an indented tree. Owners in a cycle have no root, so
 * cycles are listed after the roots.
 */

import type { EdgeSnapshot } from '../../server/protocol.js';
import { duration, esc } from './format.js';
import { webLimits } from './limits.js';
import type { Model } from './model.js';
import { whereClass, whereText } from './top-view.js';

interface Root {
  id: number;
  name: string;
  blocked: number;
  oldestMs: number;
}

export function renderTree(el: HTMLElement, m: Model, now: number): void {
  const waitersOf = new Map<number, EdgeSnapshot[]>();
  const waiting = new Set<number>();
  for (const e of m.edges) {
    waiting.add(e.from);
    const list = waitersOf.get(e.to) ?? [];
    list.push(e);
    waitersOf.set(e.to, list);
  }
  const since = waitStart(m);
  const roots: Root[] = [];
  for (const [id, list] of waitersOf) {
    if (waiting.has(id)) continue;
    const behind = reach(id, waitersOf);
    let oldest = 0;
    for (const e of m.edges) if (behind.has(e.from)) oldest = Math.max(oldest, now - (since.get(e.waitId) ?? now));
    roots.push({ id, name: list[0]!.toName, blocked: behind.size, oldestMs: oldest });
  }
  roots.sort((a, b) => b.blocked - a.blocked || b.oldestMs - a.oldestMs);
  if (roots.length === 0 && m.cycles.length === 0) {
    el.innerHTML = '<p class="empty">Nobody is waiting.</p>';
    return;
  }
  const html = roots.slice(0, webLimits.treeRootsMax).map((r) =>
    `<details class="root" open><summary><b class="blocker">${esc(r.name)}</b> <span class="where ${whereClass(m, r.id)}">${esc(whereText(m, r.id))}</span> blocks <b>${r.blocked}</b> owner${r.blocked === 1 ? '' : 's'} · oldest wait ${duration(r.oldestMs)}</summary>${subtree(r.id, waitersOf, since, now)}</details>`);
  for (const c of m.cycles) html.push(`<p class="cycle">cycle: ${c.owners.map(esc).join(' → ')} → ${esc(c.owners[0])}</p>`);
  el.innerHTML = html.join('');
}

/** Request times of pending waits, by wait id (the table's rows carry them). */
function waitStart(m: Model): Map<number, number> {
  const out = new Map<number, number>();
  for (const r of m.rows.values()) if (r.waitId !== null && r.since !== null) out.set(r.waitId, r.since);
  return out;
}

function reach(root: number, waitersOf: Map<number, EdgeSnapshot[]>): Set<number> {
  const seen = new Set<number>();
  const stack = [root];
  while (stack.length > 0) {
    for (const e of waitersOf.get(stack.pop()!) ?? []) {
      if (e.from === root || seen.has(e.from)) continue;
      seen.add(e.from);
      stack.push(e.from);
    }
  }
  return seen;
}

/** The chain below one root, iteratively (a user's data decides its depth), each owner once. */
function subtree(root: number, waitersOf: Map<number, EdgeSnapshot[]>, since: Map<number, number>, now: number): string {
  const out: string[] = [];
  const seen = new Set<number>([root]);
  const stack: Array<{ e: EdgeSnapshot; depth: number }> = (waitersOf.get(root) ?? []).map((e) => ({ e, depth: 1 })).reverse();
  while (stack.length > 0 && out.length < webLimits.treeChildrenMax) {
    const { e, depth } = stack.pop()!;
    if (seen.has(e.from)) continue;
    seen.add(e.from);
    const waited = since.has(e.waitId) ? ` · ${duration(now - since.get(e.waitId)!)}` : '';
    out.push(`<div class="waiter" style="padding-left:${depth * 14}px">↳ ${esc(e.fromName)} wants ${esc(e.wanted)} on ${esc(e.domain)}:${esc(e.resource)} (held ${esc(e.blockerMode)})${waited}</div>`);
    for (const next of [...(waitersOf.get(e.from) ?? [])].reverse()) stack.push({ e: next, depth: depth + 1 });
  }
  return out.join('');
}
