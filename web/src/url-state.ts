/**
 * The view in the page's address, so a link shows a colleague the same
 * thing: the table's filters and sort in the query string (`domain`,
 * `node`, `owner`, `state`, `q`, `sort`). The token never goes here (it is
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

export function viewQuery(f: Filters): string {
  const p = new URLSearchParams();
  for (const [field, param] of KEYS) if (f[field] !== '') p.set(param, f[field]);
  const s = p.toString();
  return s === '' ? '' : `?${s}`;
}

/** Replace (not push) the address: a filter typed letter by letter is not a page of history each. */
export function writeView(f: Filters): void {
  const q = viewQuery(f);
  if (q !== location.search) history.replaceState(null, '', `${location.pathname}${q}`);
}
