/**
 * The view in the page's address, so a link shows a colleague the same
 * thing: the table's filters and sort in the query string (`domain`,
 * `node`, `owner`, `state`, `q`, `sort`), and the moment shown when paused
 * (`at`, wall-clock ms; absent: live). The token never goes here (it is
 * read from the fragment and removed from the address at once).
 */

import type { Filters } from './table-view.js';

const KEYS: ReadonlyArray<[keyof Filters, string]> = [['domain', 'domain'], ['node', 'node'], ['owner', 'owner'], ['state', 'state'], ['search', 'q'], ['sort', 'sort']];

export function readView(search: string): Partial<Filters> {
  const p = new URLSearchParams(search);
  const out: Partial<Filters> = {};
  for (const [field, param] of KEYS) {
    const v = p.get(param);
    if (v !== null) out[field] = v;
  }
  return out;
}

export function readMoment(search: string): number | null {
  const at = new URLSearchParams(search).get('at');
  return at !== null && /^[0-9]{1,16}$/.test(at) ? Number(at) : null;
}

export function viewQuery(f: Filters, at: number | null = null): string {
  const p = new URLSearchParams();
  for (const [field, param] of KEYS) if (f[field] !== '') p.set(param, f[field]);
  if (at !== null) p.set('at', String(Math.round(at)));
  const s = p.toString();
  return s === '' ? '' : `?${s}`;
}

/** Replace (not push) the address: a filter typed letter by letter is not a page of history each. */
export function writeView(f: Filters, at: number | null): void {
  const q = viewQuery(f, at);
  if (q !== location.search) history.replaceState(null, '', `${location.pathname}${q}`);
}
