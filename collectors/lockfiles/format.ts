/** Lock-file scan results in words, for the CLI's table and a dump's reader; durations given and printed. */

import { DumpError } from '../errors.js';
import type { LockFileEntry, LockFileLock } from '../shapes.js';

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "30s", "10m", "1h", "2d" → ms; EINVAL naming the option otherwise. */
export function parseDuration(text: string, name: string): number {
  const m = /^(\d{1,9})(ms|s|m|h|d)$/.exec(text.trim());
  if (m === null) throw new DumpError('EINVAL', `${name}: a duration such as 30s, 10m, 1h or 2d (got ${JSON.stringify(text)})`);
  return Number(m[1]) * UNITS[m[2]!]!;
}

/** 3723000 → "1h 2m", 45000 → "45s", 120 → "120ms". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 === 0 ? '' : ` ${s % 60}s`}`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${Math.floor(s / 60) % 60 === 0 ? '' : ` ${Math.floor(s / 60) % 60}m`}`;
  return `${Math.floor(s / 86_400)}d${Math.floor(s / 3600) % 24 === 0 ? '' : ` ${Math.floor(s / 3600) % 24}h`}`;
}

/** "POSIX WRITE 0-EOF, POSIX READ 3-3 (waiting)": one per lock, ranges inclusive as the kernel prints them. */
export function describeLocks(locks: readonly LockFileLock[]): string {
  return locks.map((l) => `${l.mechanism} ${l.access} ${l.start}-${l.end ?? 'EOF'}${l.waiting ? ' (waiting)' : ''}`).join(', ');
}

/** "held by 1234 python3 x.py (root); open by 99 cat (alice)". */
export function describeUsers(e: LockFileEntry): string {
  const holders = new Map<number, string>();
  for (const l of e.locks) for (const h of l.holders) if (!l.waiting) holders.set(h.pid, `${h.pid} ${h.command} (${h.user})`);
  const parts: string[] = [];
  if (holders.size > 0) parts.push(`held by ${[...holders.values()].join(', ')}`);
  if (e.openers.length > 0) parts.push(`open by ${e.openers.map((p) => `${p.pid} ${p.command} (${p.user})`).join(', ')}`);
  return parts.join('; ');
}
