/**
 * The list panels: deadlock history (each cycle and its victim), hangs in
 * progress and ended (transient / persistent, with their dumps), the
 * hang-dump list, and the grace state with the sessions. Each redraws only
 * when its own part of the model changed.
 */

import type { DumpRecord, Hang } from '../../server/protocol.js';
import { download, isAdmin } from './api.js';
import { bytes, clock, duration, esc } from './format.js';
import type { Model } from './model.js';

const drawn = new Map<string, string>();

/** Replace an element's markup only when it differs (keeps scroll position and open <details>). */
function put(el: HTMLElement, html: string): void {
  if (drawn.get(el.id) === html) return;
  drawn.set(el.id, html);
  el.innerHTML = html;
}

export function renderDeadlocks(el: HTMLElement, m: Model): void {
  if (m.deadlocks.length === 0) return put(el, '<p class="empty">No deadlock yet.</p>');
  put(el, [...m.deadlocks].reverse().map((d) => {
    // A deadlock across nodes (found by the cluster's detector) says so, and each wait says on which node it was.
    const on = (node: string | undefined): string => (d.nodes === undefined || node === undefined ? '' : ` <span class="node">on ${esc(node)}</span>`);
    const steps = d.cycle.map((c) =>
      `<li${c.owner === d.victim ? ' class="victim"' : ''}><b>${esc(c.owner)}</b> ${c.held === null ? '' : `holds ${esc(c.held)}, `}wants ${esc(c.wanted)} on ${esc(c.domain)}:${esc(c.resource)}${c.blocker === undefined ? '' : ` ← ${esc(c.blocker.owner)} (${esc(c.blocker.mode)})`}${on(c.node)}${stack(c.stack)}</li>`).join('');
    const across = d.nodes === undefined ? '' : ` · <span class="tag across">across nodes ${d.nodes.map(esc).join(', ')}</span>`;
    return `<div class="deadlock${d.nodes === undefined ? '' : ' across'}" data-seq="${d.seq}"><div>#${d.seq} ${clock(d.time)} · ${esc(d.kind)}${across} · victim <b class="victim">${esc(d.victim ?? 'none')}</b> (${esc(d.policy)})</div><ol>${steps}</ol></div>`;
  }).join(''));
}

function stack(s: string | null): string {
  return s === null ? '' : `<details><summary>stack</summary><pre>${esc(s)}</pre></details>`;
}

export function renderHangs(el: HTMLElement, m: Model, now: number): void {
  const dumpsOf = new Map<number, DumpRecord[]>();
  for (const d of m.dumps) if (d.hang !== null) dumpsOf.set(d.hang.id, [...(dumpsOf.get(d.hang.id) ?? []), d]);
  const one = (h: Hang, live: boolean): string => {
    const cls = hangClass(h, live);
    const was = !live && h.classification === 'persistent' ? ' (it had been persistent)' : '';
    const how = live ? `waiting ${duration(now - h.since)}` : `${esc(h.outcome ?? '')} after ${duration(h.waitedMs ?? null)}${was}`;
    // In a cluster a root blocker may hold on another node: where, and whether its client is still connected there.
    const where = (b: Hang['rootBlockers'][number]): string => (b.node === undefined ? ''
      : ` on ${esc(b.node)}${b.client == null ? '' : `, client ${esc(b.client)} ${b.connected === true ? 'connected' : 'not connected'}`}`);
    const roots = h.rootBlockers.map((b) => `${esc(b.owner)}${where(b)} (${b.holds.map((x) => `${esc(x.mode)} ${esc(x.domain)}:${esc(x.resource)}`).join(', ')})`).join('; ');
    const dumps = (dumpsOf.get(h.id) ?? []).map((d) => dumpLink(d)).join(' ');
    return `<div class="hang ${cls}"><span class="tag">${cls}</span> <b>${esc(h.owner)}</b> wants ${esc(h.wanted)} on ${esc(h.domain)}:${esc(h.resource)} · ${how}` +
      `<div class="sub">root blocker: ${roots || 'none'} ${dumps}</div></div>`;
  };
  const live = [...m.hangs.values()].map((h) => one(h, true));
  const ended = [...m.hangHistory].reverse().map((h) => one(h, false));
  put(el, live.length + ended.length === 0 ? '<p class="empty">No hang yet.</p>' : live.join('') + ended.join(''));
}

/**
 * "persistent" means still blocked (README, "Reading a hang-dump"): a wait
 * that ended is transient whatever it was called while it lasted (the core
 * keeps the `persistent` mark on the ended hang, and the dump index keeps it
 * on a dump whose wait later ended).
 */
export function hangClass(h: Pick<Hang, 'classification'>, live: boolean): 'persistent' | 'hanging' | 'transient' {
  if (!live) return 'transient';
  return h.classification === 'persistent' ? 'persistent' : 'hanging';
}

export function dumpClass(d: Pick<DumpRecord, 'classification' | 'outcome' | 'waitedMs'>): string {
  if (d.classification === null) return '—';
  return d.outcome !== undefined || d.waitedMs !== undefined ? 'transient' : d.classification;
}

function dumpLink(d: DumpRecord): string {
  return `<a href="#" class="dump-link" data-id="${esc(d.id)}" data-file="${esc(d.file)}">${esc(d.file)}</a>`;
}

export function renderDumps(el: HTMLElement, m: Model): void {
  if (m.dumps.length === 0) return put(el, '<p class="empty">No hang-dump yet.</p>');
  put(el, `<table class="dumps"><tr><th>time</th><th>trigger</th><th>hang</th><th>classification</th><th>size</th><th></th></tr>${[...m.dumps].reverse().map((d) =>
    `<tr><td>${clock(d.time)}</td><td>${esc(d.trigger)}</td><td>${d.hang === null ? '' : `${esc(d.hang.owner)} on ${esc(d.hang.domain)}:${esc(d.hang.resource)}`}</td>` +
    `<td class="${esc(dumpClass(d))}">${esc(dumpClass(d))}${d.waitedMs === undefined ? '' : ` (${duration(d.waitedMs)})`}</td><td>${bytes(d.bytes)}</td><td class="file">${dumpLink(d)}</td></tr>`).join('')}</table>`);
}

/** Dump links anywhere on the page download through fetch (the sign-in cookie goes with it), see api.ts download(). */
export function wireDumpLinks(root: HTMLElement): void {
  root.addEventListener('click', (e) => {
    const a = (e.target as HTMLElement).closest<HTMLAnchorElement>('a.dump-link');
    if (a === null) return;
    e.preventDefault();
    void download(`/api/dumps/${encodeURIComponent(a.dataset.id ?? '')}`, a.dataset.file ?? 'dump.tar.gz');
  });
}

export function renderGrace(el: HTMLElement, sessionsEl: HTMLElement, m: Model, now: number): void {
  const g = m.grace;
  const grace = g === null ? '' : g.active
    ? `<b class="grace-on">In grace</b> on ${esc(m.node)}: ${duration((g.deadline ?? now) - now)} left · reclaimed ${g.completed.length} of ${g.expected.length} clients (${g.reclaims} locks)`
    : `Node <b>${esc(m.node)}</b>: not in grace${g.ended === null ? '' : ` (last grace ended: ${esc(g.ended)})`}`;
  put(el, `<p>${grace}</p>`);
  const rows = m.sessions.map((s) =>
    `<tr class="${esc(s.state)}"><td>${esc(s.client)}</td><td>${esc(s.host)}${s.pid === null ? '' : `:${s.pid}`}</td><td>${esc(s.role)}</td><td>${esc(s.state)}</td>` +
    `<td>${s.owners}</td><td>${s.locks}</td><td>${s.pending}</td><td>${duration(now - s.createdAt)}</td></tr>`).join('');
  put(sessionsEl, m.sessions.length === 0 ? '<p class="empty">No client session.</p>'
    : `<table><tr><th>client</th><th>host</th><th>role</th><th>lease</th><th>owners</th><th>locks</th><th>pending</th><th>age</th></tr>${rows}</table>`);
}

export function setAdminControls(): void {
  const b = document.getElementById('dump-now') as HTMLButtonElement;
  b.disabled = !isAdmin();
  b.title = isAdmin() ? '' : 'admin token required';
}
