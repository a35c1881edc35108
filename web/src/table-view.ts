/**
 * The lock table: every lock and pending request, filtered by domain, node,
 * owner and state, searched by resource, sorted by how long it has waited
 * or been held. Only the rows in view (plus a few) are in the DOM, so
 * 10,000 locks scroll as smoothly as 10; filtering and sorting run again
 * only when the data or a filter changed, not on every scroll.
 */

import { adminAction, isAdmin } from './api.js';
import { duration, range } from './format.js';
import { webLimits } from './limits.js';
import type { Model, Row } from './model.js';

export interface Filters {
  domain: string;
  node: string;
  owner: string;
  state: string;
  search: string;
  sort: 'wait' | 'hold' | 'resource';
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

export class TableView {
  private filtered: Row[] = [];
  private computedFor = '';
  private readonly box = $<HTMLDivElement>('table');
  private readonly spacer = $<HTMLDivElement>('table-spacer');
  private knownDomains = '';

  constructor(private readonly model: Model, private readonly now: () => number) {
    for (const id of ['f-domain', 'f-node', 'f-state', 'f-sort']) $(id).addEventListener('change', () => this.render(true));
    for (const id of ['f-owner', 'f-search']) $(id).addEventListener('input', () => this.render(true));
    this.box.addEventListener('scroll', () => this.paint());
    this.box.addEventListener('click', (e) => this.onClick(e));
  }

  filters(): Filters {
    const v = (id: string): string => ($<HTMLInputElement>(id).value ?? '').trim();
    return { domain: v('f-domain'), node: v('f-node'), owner: v('f-owner'), state: v('f-state'), search: v('f-search'), sort: v('f-sort') as Filters['sort'] };
  }

  /** Recompute the rows shown when the model or a filter changed, then paint the visible slice. */
  render(force = false): void {
    this.syncOptions();
    const f = this.filters();
    const key = `${this.model.version}|${JSON.stringify(f)}`;
    if (force || key !== this.computedFor) {
      this.computedFor = key;
      this.filtered = this.compute(f);
      this.spacer.style.height = `${this.filtered.length * webLimits.rowHeightPx}px`;
      $('table-count').textContent = `${this.filtered.length} of ${this.model.rows.size}`;
    }
    this.paint();
  }

  private compute(f: Filters): Row[] {
    const now = this.now();
    const out: Row[] = [];
    const owner = f.owner.toLowerCase();
    for (const r of this.model.rows.values()) {
      if (f.domain !== '' && r.domain !== f.domain) continue;
      if (f.node !== '' && f.node !== this.model.node) continue;
      if (f.state !== '' && r.state !== f.state) continue;
      if (owner !== '' && !r.owner.toLowerCase().includes(owner)) continue;
      if (f.search !== '' && !r.resource.includes(f.search)) continue;
      out.push(r);
    }
    const age = (r: Row): number => (r.since === null ? 0 : now - r.since);
    if (f.sort === 'resource') out.sort((a, b) => a.domain.localeCompare(b.domain) || a.resource.localeCompare(b.resource));
    else {
      // Wait sort: pending rows first, longest waiting first; hold sort: held rows first, longest held first.
      const first = f.sort === 'wait' ? (r: Row) => r.state !== 'granted' : (r: Row) => r.state === 'granted';
      out.sort((a, b) => Number(first(b)) - Number(first(a)) || age(b) - age(a));
    }
    return out;
  }

  private paint(): void {
    const h = webLimits.rowHeightPx;
    const from = Math.max(0, Math.floor(this.box.scrollTop / h) - webLimits.rowOverscan);
    const to = Math.min(this.filtered.length, Math.ceil((this.box.scrollTop + (this.box.clientHeight || 400)) / h) + webLimits.rowOverscan);
    const now = this.now();
    const admin = isAdmin();
    const frag = document.createDocumentFragment();
    for (let i = from; i < to; i++) frag.append(this.rowEl(this.filtered[i]!, i * h, now, admin));
    this.spacer.replaceChildren(frag);
  }

  private rowEl(r: Row, top: number, now: number, admin: boolean): HTMLElement {
    const el = document.createElement('div');
    el.className = `row ${r.state}`;
    el.style.top = `${top}px`;
    el.dataset.key = r.key;
    const mode = r.state === 'granted' ? r.mode : r.mode === null ? `→ ${r.requested}` : `${r.mode} → ${r.requested}`;
    const cells = [r.domain, r.resource, r.owner, r.state, mode ?? '', range(r.range), duration(r.since === null ? null : now - r.since)];
    for (const c of cells) {
      const s = document.createElement('span');
      s.textContent = c;
      s.title = c;
      el.append(s);
    }
    const action = document.createElement('span');
    const waitId = r.state === 'granted' ? null : (r.waitId ?? this.waitIdOf(r));
    if (r.state === 'granted' && r.lockId !== null) action.append(button('break', admin, `break:${r.lockId}`));
    else if (waitId !== null) action.append(button('cancel', admin, `cancel:${waitId}`));
    el.append(action);
    return el;
  }

  /** A conversion seen first in the snapshot has no wait id on its row; its wait-for edge has it. */
  private waitIdOf(r: Row): number | null {
    return this.model.edges.find((e) => e.from === r.ownerId && e.domain === r.domain && e.resource === r.resource)?.waitId ?? null;
  }

  private onClick(e: Event): void {
    const b = (e.target as HTMLElement).closest('button');
    if (b === null || b.disabled) return;
    const [what, id] = (b.dataset.action ?? '').split(':');
    const row = this.model.rows.get((b.closest('.row') as HTMLElement).dataset.key ?? '');
    const where = row === undefined ? '' : ` (${row.owner} on ${row.domain}:${row.resource})`;
    if (what === 'break') void adminAction(`Break lock ${id}${where}? Its owner loses it (EREVOKED).`, `/api/locks/${id}/break`);
    if (what === 'cancel') void adminAction(`Cancel wait ${id}${where}? The request fails (ECANCELED).`, `/api/waits/${id}/cancel`);
  }

  private syncOptions(): void {
    const names = this.model.domains.map((d) => d.name).join('\u0000') + `\u0001${this.model.node}`;
    if (names === this.knownDomains) return;
    this.knownDomains = names;
    const fill = (id: string, all: string, values: string[]): void => {
      const sel = $<HTMLSelectElement>(id);
      const cur = sel.value;
      sel.replaceChildren(new Option(all, ''), ...values.map((v) => new Option(v, v)));
      sel.value = values.includes(cur) ? cur : '';
    };
    fill('f-domain', 'all domains', this.model.domains.map((d) => d.name));
    fill('f-node', 'all nodes', this.model.node === '' ? [] : [this.model.node]);
  }
}

function button(text: string, enabled: boolean, action: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.disabled = !enabled;
  b.dataset.action = action;
  if (!enabled) b.title = 'admin token required';
  return b;
}
