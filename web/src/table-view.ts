/**
 * The lock table: every lock and pending request, filtered by domain, node,
 * owner and state, searched by resource, sorted by any column (a header
 * click; again to reverse, a third time back to the default: pending
 * requests first, longest waiting first). Only the rows in view (plus a
 * few) are in the DOM, so 10,000 locks scroll as smoothly as 10; filtering
 * and sorting run again only when the data or a filter changed, not on
 * every scroll. Export writes every row shown, not only those in view.
 */

import { adminAction, isAdmin } from './api.js';
import { duration, range } from './format.js';
import { webLimits } from './limits.js';
import type { Model, Row } from './model.js';
import { saveText, toCsv, toJson } from './table-export.js';

export const SORT_KEYS = ['domain', 'resource', 'owner', 'state', 'mode', 'range', 'for'] as const;
export type SortKey = (typeof SORT_KEYS)[number];

export interface Filters {
  domain: string;
  node: string;
  owner: string;
  state: string;
  search: string;
  /** A column, `-column` for descending, or '' for the default order. */
  sort: string;
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const STATE_ORDER: Record<Row['state'], number> = { waiting: 0, converting: 1, granted: 2 };

/** Rows in the order a sort asks for; '' is the default (pending first, then the longest waiting or held). */
export function sortRows(rows: Row[], sort: string, now: number): Row[] {
  const age = (r: Row): number => (r.since === null ? 0 : now - r.since);
  const desc = sort.startsWith('-');
  const key = (desc ? sort.slice(1) : sort) as SortKey | '';
  const value: Record<SortKey, (r: Row) => string | number> = {
    domain: (r) => r.domain, resource: (r) => r.resource, owner: (r) => r.owner, state: (r) => STATE_ORDER[r.state],
    mode: (r) => r.mode ?? r.requested ?? '', range: (r) => r.range?.start ?? -1, for: age,
  };
  if (key === '' || !(SORT_KEYS as readonly string[]).includes(key)) {
    return rows.sort((a, b) => Number(b.state !== 'granted') - Number(a.state !== 'granted') || age(b) - age(a));
  }
  const get = value[key];
  const cmp = (a: Row, b: Row): number => {
    const [x, y] = [get(a), get(b)];
    return typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
  };
  // Ties keep a stable, readable order: by resource, then owner.
  return rows.sort((a, b) => (desc ? -cmp(a, b) : cmp(a, b)) || a.resource.localeCompare(b.resource) || a.owner.localeCompare(b.owner));
}

export class TableView {
  private filtered: Row[] = [];
  private computedFor = '';
  private readonly box = $<HTMLDivElement>('table');
  private readonly spacer = $<HTMLDivElement>('table-spacer');
  private knownDomains = '';
  private sort = '';
  /** Filters asked for (a shared link) before the options they name exist. */
  private wanted: Partial<Filters> = {};

  /** A past moment is shown: nothing in it can be acted on. */
  private past = false;

  constructor(private model: Model, private readonly now: () => number, private readonly onChange: () => void = () => {}) {
    for (const id of ['f-domain', 'f-node', 'f-state']) $(id).addEventListener('change', () => this.changed());
    for (const id of ['f-owner', 'f-search']) $(id).addEventListener('input', () => this.changed());
    this.box.addEventListener('scroll', () => this.paint());
    this.box.addEventListener('click', (e) => this.onClick(e));
    $('table-head').addEventListener('click', (e) => {
      const key = (e.target as HTMLElement).closest<HTMLElement>('[data-sort]')?.dataset.sort;
      if (key === undefined) return;
      this.sort = this.sort === key ? `-${key}` : this.sort === `-${key}` ? '' : key;
      this.changed();
    });
    $('export-csv').addEventListener('click', () => this.export('csv'));
    $('export-json').addEventListener('click', () => this.export('json'));
  }

  filters(): Filters {
    const v = (id: string): string => ($<HTMLInputElement>(id).value ?? '').trim();
    return { domain: v('f-domain'), node: v('f-node'), owner: v('f-owner'), state: v('f-state'), search: v('f-search'), sort: this.sort };
  }

  /** Show another model (a past moment, or live again). */
  show(model: Model, past: boolean): void {
    this.model = model;
    this.past = past;
    this.knownDomains = '';
    this.render(true);
  }

  /** Apply filters from a link; those naming a domain or node not known yet wait for the first snapshot. */
  setFilters(f: Partial<Filters>): void {
    if (f.owner !== undefined) $<HTMLInputElement>('f-owner').value = f.owner;
    if (f.search !== undefined) $<HTMLInputElement>('f-search').value = f.search;
    if (f.state !== undefined && ['', 'granted', 'converting', 'waiting'].includes(f.state)) $<HTMLSelectElement>('f-state').value = f.state;
    if (f.sort !== undefined) this.sort = f.sort;
    this.wanted = { ...(f.domain === undefined ? {} : { domain: f.domain }), ...(f.node === undefined ? {} : { node: f.node }) };
    this.knownDomains = '';
    this.render(true);
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
      for (const b of $('table-head').querySelectorAll<HTMLElement>('[data-sort]')) {
        const on = this.sort.replace(/^-/, '') === b.dataset.sort;
        b.setAttribute('aria-sort', on ? (this.sort.startsWith('-') ? 'descending' : 'ascending') : 'none');
      }
    }
    this.paint();
  }

  private changed(): void {
    this.render(true);
    this.onChange();
  }

  private compute(f: Filters): Row[] {
    const out: Row[] = [];
    const owner = f.owner.toLowerCase();
    for (const r of this.model.rows.values()) {
      if (f.domain !== '' && r.domain !== f.domain) continue;
      if (f.node !== '' && f.node !== (r.node ?? this.model.node)) continue;
      if (f.state !== '' && r.state !== f.state) continue;
      if (owner !== '' && !r.owner.toLowerCase().includes(owner)) continue;
      if (f.search !== '' && !r.resource.includes(f.search)) continue;
      out.push(r);
    }
    return sortRows(out, f.sort, this.now());
  }

  private export(kind: 'csv' | 'json'): void {
    this.render(true);
    const now = this.now();
    const name = `lockscope-locks-${this.model.node || 'node'}-${new Date(now).toISOString().replace(/[:.]/g, '-')}.${kind}`;
    if (kind === 'csv') saveText(toCsv(this.filtered, now), name, 'text/csv');
    else saveText(toJson(this.filtered, now), name, 'application/json');
  }

  private paint(): void {
    const h = webLimits.rowHeightPx;
    const from = Math.max(0, Math.floor(this.box.scrollTop / h) - webLimits.rowOverscan);
    const to = Math.min(this.filtered.length, Math.ceil((this.box.scrollTop + (this.box.clientHeight || 400)) / h) + webLimits.rowOverscan);
    const now = this.now();
    const admin = isAdmin() && !this.past;
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
    const cells = [r.domain, r.resource, r.owner, stateText(r), mode ?? '', range(r.range), duration(r.since === null ? null : now - r.since)];
    for (const c of cells) {
      const s = document.createElement('span');
      s.textContent = c;
      s.title = c;
      el.append(s);
    }
    const action = document.createElement('span');
    const waitId = r.state === 'granted' ? null : (r.waitId ?? this.waitIdOf(r));
    if (r.state === 'granted' && r.lockId !== null) action.append(button('break', admin, `break:${r.lockId}`));
    else if (r.state === 'granted' && r.kind === 'posix') action.append(button('break', admin, `pbreak:${r.ownerId}`));
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
    if (what === 'pbreak' && row !== undefined) {
      void adminAction(`Break every posix lock ${row.owner} holds on ${row.domain}:${row.resource}? Its program is not told (posix locks have no handle).`,
        '/api/posix/break', { domain: row.domain, resource: row.resource, owner: row.ownerId });
    }
  }

  private syncOptions(): void {
    const names = this.model.domains.map((d) => d.name).join('\u0000') + `\u0001${this.model.nodes.join('\u0000')}`;
    if (names === this.knownDomains) return;
    this.knownDomains = names;
    const fill = (id: 'f-domain' | 'f-node', all: string, values: string[]): void => {
      const sel = $<HTMLSelectElement>(id);
      const want = this.wanted[id === 'f-domain' ? 'domain' : 'node'];
      const cur = want !== undefined && values.includes(want) ? want : sel.value;
      sel.replaceChildren(new Option(all, ''), ...values.map((v) => new Option(v, v)));
      sel.value = values.includes(cur) ? cur : '';
      if (want !== undefined && values.includes(want)) {
        delete this.wanted[id === 'f-domain' ? 'domain' : 'node'];
        // As if chosen by hand: the domain filter then subscribes on the server.
        queueMicrotask(() => sel.dispatchEvent(new Event('change')));
      }
    };
    fill('f-domain', 'all domains', this.model.domains.map((d) => d.name));
    fill('f-node', 'all nodes', this.model.nodes);
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

/** A row's state, with a cached grant's use (idle: kept by its client for a local re-grant; nobody holds it). */
function stateText(r: Row): string {
  const c = r.cache;
  if (c === undefined || r.state !== 'granted') return r.state;
  const use = c.inUse === null ? 'cached' : c.inUse ? `cached, in use${c.user === null || c.user === r.owner ? '' : ` by ${c.user}`}` : 'cached, idle';
  return `${r.state} (${use}${c.confirmed ? ', called back' : ''})`;
}
