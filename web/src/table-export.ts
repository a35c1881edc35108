/**
 * The lock table's rows as files: CSV (RFC 4180 quoting) or JSON, exactly
 * the rows shown — filtered and sorted as on screen, every one of them, not
 * only those scrolled into view. A cell that starts like a formula (= + - @)
 * gets a leading apostrophe in CSV, so a spreadsheet shows a resource name
 * and never runs it.
 */

import type { Row } from './model.js';

export const EXPORT_COLUMNS = ['domain', 'resource', 'owner', 'state', 'mode', 'requested', 'range', 'since', 'for_ms', 'lock_id', 'wait_id'] as const;

type ExportRow = Record<(typeof EXPORT_COLUMNS)[number], string | number | null>;

export function exportRow(r: Row, now: number): ExportRow {
  return {
    domain: r.domain, resource: r.resource, owner: r.owner, state: r.state, mode: r.mode, requested: r.requested,
    range: r.range === null ? null : `${r.range.start}-${r.range.end ?? 'eof'}`,
    since: r.since === null ? null : new Date(r.since).toISOString(),
    for_ms: r.since === null ? null : Math.max(0, now - r.since), lock_id: r.lockId, wait_id: r.waitId,
  };
}

function csvCell(v: string | number | null): string {
  if (v === null) return '';
  let s = String(v);
  if (typeof v === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(rows: readonly Row[], now: number): string {
  const lines = [EXPORT_COLUMNS.join(',')];
  for (const r of rows) {
    const e = exportRow(r, now);
    lines.push(EXPORT_COLUMNS.map((c) => csvCell(e[c])).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

export function toJson(rows: readonly Row[], now: number): string {
  return JSON.stringify(rows.map((r) => exportRow(r, now)), null, 1);
}

/** Hand a text to the browser as a download. */
export function saveText(text: string, name: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
