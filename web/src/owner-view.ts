/**
 * One owner, when its node in the graph is clicked: who it is (client,
 * host, pid), what it holds, what it waits for and for whom, and the stack
 * where each of those requests was made. Stacks are not in the events, so
 * they are read from the snapshot at the moment of the click.
 */

import type { Snapshot } from '../../server/protocol.js';
import { getJson } from './api.js';
import { duration, esc, range } from './format.js';
import type { Model } from './model.js';
import { whereClass, whereText } from './top-view.js';

export async function showOwner(el: HTMLElement, m: Model, id: number, now: number): Promise<void> {
  const o = m.owners.get(id);
  const name = o?.name ?? `owner ${id}`;
  const rows = [...m.rows.values()].filter((r) => r.ownerId === id);
  const waits = m.edges.filter((e) => e.from === id);
  const blocks = m.edges.filter((e) => e.to === id);
  const meta = o?.meta === null || o?.meta === undefined ? '' : Object.entries(o.meta).map(([k, v]) => `${esc(k)}: ${esc(v)}`).join(' · ');
  el.hidden = false;
  el.innerHTML = `<button type="button" class="close">×</button><h3>${esc(name)}</h3><p><span class="where ${whereClass(m, id)}">${esc(whereText(m, id))}</span></p><p class="sub">${meta}</p>` +
    `<h4>Locks (${rows.length})</h4><ul>${rows.map((r) => `<li>${esc(r.state)} ${esc(r.mode ?? '')}${r.requested === null ? '' : ` → ${esc(r.requested)}`} ${esc(r.domain)}:${esc(r.resource)} ${range(r.range)} · ${duration(r.since === null ? null : now - r.since)}</li>`).join('')}</ul>` +
    `<h4>Waits for</h4><ul>${waits.map((e) => `<li>${esc(e.toName)}: wants ${esc(e.wanted)} on ${esc(e.domain)}:${esc(e.resource)} (held ${esc(e.blockerMode)}, ${e.kind})</li>`).join('') || '<li>nobody</li>'}</ul>` +
    `<h4>Blocks</h4><ul>${blocks.map((e) => `<li>${esc(e.fromName)} (${esc(e.wanted)} on ${esc(e.resource)})</li>`).join('') || '<li>nobody</li>'}</ul>` +
    `<h4>Request-site stacks</h4><div class="stacks">loading…</div>`;
  el.querySelector('.close')?.addEventListener('click', () => { el.hidden = true; });
  const stacksEl = el.querySelector('.stacks') as HTMLElement;
  try {
    const snap = await getJson<Snapshot>('/api/snapshot');
    const out: string[] = [];
    for (const d of snap.domains) {
      for (const r of d.resources) {
        for (const l of [...r.granted, ...r.converting, ...r.waiting]) {
          if (l.ownerId === id && l.stack !== null) out.push(`<div><b>${esc(l.state)} ${esc(l.requested ?? l.mode)} ${esc(d.name)}:${esc(r.name)}</b><pre>${esc(l.stack)}</pre></div>`);
        }
      }
    }
    stacksEl.innerHTML = out.join('') || 'no stack captured for these requests';
  } catch (err) {
    stacksEl.textContent = String(err);
  }
}
