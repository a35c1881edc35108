/**
 * The lock-file panel: the application lock directory the server was
 * configured with (GET /api/lockfiles), so an operator sees which service
 * holds which lock file, how (POSIX, flock, OFD; which bytes) and for how
 * long, next to lockscope's own locks. File locks raise no event, so the
 * panel asks again every `lockFilesPollMs` while the page is visible. It
 * stays hidden on a server without a lock directory.
 */

import type { LockFileRow, LockFilesAnswer } from '../../server/protocol.js';
import { getJson } from './api.js';
import { duration, esc } from './format.js';
import { webLimits } from './limits.js';

/** Add the panel to `parent` and keep it current. */
export function mountLockFilesPanel(parent: HTMLElement): void {
  const section = document.createElement('section');
  section.className = 'panel full';
  section.id = 'lockfiles-panel';
  section.hidden = true;
  section.innerHTML = '<h2>Lock files <span id="lockfiles-dir"></span></h2><p id="lockfiles-summary"></p><div id="lockfiles" class="scroll"></div>';
  parent.append(section);
  const refresh = async (): Promise<void> => {
    if (document.visibilityState !== 'visible') return;
    try {
      renderLockFiles(section, await getJson<LockFilesAnswer>('/api/lockfiles'), Date.now());
    } catch {
      // No access yet (no token) or the server is away: the next turn asks again.
    }
  };
  void refresh();
  setInterval(() => void refresh(), webLimits.lockFilesPollMs);
}

export function renderLockFiles(section: HTMLElement, a: LockFilesAnswer, now: number): void {
  section.hidden = !a.configured;
  if (!a.configured) return;
  const summary = section.querySelector('#lockfiles-summary') as HTMLElement;
  const table = section.querySelector('#lockfiles') as HTMLElement;
  if ('error' in a) {
    (section.querySelector('#lockfiles-dir') as HTMLElement).textContent = a.dir;
    summary.textContent = `${a.error.code}: ${a.error.message}`;
    table.innerHTML = '';
    return;
  }
  const s = a.summary;
  (section.querySelector('#lockfiles-dir') as HTMLElement).textContent = s.dir;
  summary.textContent = `${s.files} files: ${s.held} held, ${s.open} open, ${s.stale} stale, ${s.young} young` +
    `${a.omitted > 0 ? ` (${a.omitted} not listed)` : ''}${s.unreadableProcesses > 0 ? ` · ${s.unreadableProcesses} processes not readable` : ''}`;
  table.innerHTML = `<table><tr><th>file</th><th>verdict</th><th>held by</th><th>locks</th><th>held for</th><th>open by</th><th>age</th></tr>${a.files.map((f) => row(f, now)).join('')}</table>`;
}

function row(f: LockFileRow, now: number): string {
  const holders = new Map<number, string>();
  for (const l of f.locks) if (!l.waiting) for (const h of l.holders) holders.set(h.pid, `${h.pid} ${h.command} (${h.user})`);
  const locks = f.locks.map((l) => `${l.mechanism} ${l.access} ${l.start}–${l.end ?? '∞'}${l.waiting ? ' waiting' : ''}`).join(', ');
  return `<tr class="lockfile ${f.verdict}" data-path="${esc(f.path)}"><td>${esc(f.path)}</td><td>${f.verdict}</td><td>${esc([...holders.values()].join(', '))}</td>` +
    `<td>${esc(locks)}</td><td>${f.heldSeenSince === null ? '' : `≥ ${duration(now - f.heldSeenSince)}`}</td>` +
    `<td>${esc(f.openers.map((p) => `${p.pid} ${p.command}`).join(', '))}</td><td>${duration(f.ageMs)}</td></tr>`;
}
