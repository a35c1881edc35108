/**
 * The top contended resources and the top blockers over the kept window
 * (live) or up to the moment shown (paused), from the server's history
 * (`/api/history/top`), and where each blocker runs: its client session's
 * state (live, disconnected — its lease running —, or gone) and its node.
 */

import type { SessionSummary, TopEntry, TopLists } from '../../server/protocol.js';
import { getJson } from './api.js';
import { clock, duration, esc } from './format.js';
import type { Model } from './model.js';

/** The session an owner belongs to (remote owners carry client, host and pid in their meta); null for an in-process owner. */
export function sessionOf(m: Model, ownerId: number): SessionSummary | 'gone' | null {
  const meta = m.owners.get(ownerId)?.meta;
  if (meta === null || meta === undefined || typeof meta.client !== 'string') return null;
  const found = m.sessions.find((s) => s.client === meta.client && s.host === meta.host && (s.pid === null || s.pid === meta.clientPid));
  return found ?? 'gone';
}

/** "session live · node n1", "session disconnected (lease running) · node n1", "in-process · node n1". */
export function whereText(m: Model, ownerId: number | undefined): string {
  const s = ownerId === undefined ? null : sessionOf(m, ownerId);
  const state = s === null ? 'in-process' : s === 'gone' ? 'session gone' : s.state === 'disconnected' ? 'session disconnected (lease running)' : `session ${s.state}`;
  return `${state} · node ${m.node}`;
}

export function whereClass(m: Model, ownerId: number | undefined): string {
  const s = ownerId === undefined ? null : sessionOf(m, ownerId);
  return s === null ? 'local' : s === 'gone' ? 'gone' : s.state;
}

export async function fetchTop(from: number | null, to: number | null): Promise<TopLists | null> {
  const q = new URLSearchParams({ n: '8' });
  if (from !== null) q.set('from', String(Math.round(from)));
  if (to !== null) q.set('to', String(Math.round(to)));
  try {
    return await getJson<TopLists>(`/api/history/top?${q}`);
  } catch {
    return null;
  }
}

let drawn = '';

/** Redrawn with every view (sessions change between fetches), the markup replaced only when it differs. */
export function renderTop(el: HTMLElement, top: TopLists | null, m: Model): void {
  const html = topHtml(top, m);
  if (html === drawn) return;
  drawn = html;
  el.innerHTML = html;
}

function topHtml(top: TopLists | null, m: Model): string {
  if (top === null) return '<p class="empty">No history kept on this server.</p>';
  const list = (entries: TopEntry[], blockers: boolean): string => entries.length === 0 ? '<p class="empty">Nobody waited.</p>'
    : `<ol>${entries.map((e) => `<li><b>${esc(e.key)}</b> ${duration(e.waitMs)} waited · ${e.waits} wait${e.waits === 1 ? '' : 's'}` +
      (blockers ? ` <span class="where ${whereClass(m, e.ownerId)}">${esc(whereText(m, e.ownerId))}</span>` : '') + '</li>').join('')}</ol>`;
  return `<p class="sub">${clock(top.from)} – ${clock(top.to)}</p><div class="top-lists"><div><h3>Resources waited on</h3>${list(top.resources, false)}</div>` +
    `<div><h3>Owners that made others wait</h3>${list(top.blockers, true)}</div></div>`;
}
