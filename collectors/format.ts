/**
 * Small formatting helpers shared by the summary, stacks.txt and `inspect`:
 * request sites from stacks, durations and times in words, safe archive paths.
 */

import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const FRAME_LOCATION = /\(?((?:file:\/\/)?[^\s()]+?):(\d+):(\d+)\)?$/;

/** "test/worker.ts:88" for the first frame of `stack`, relative to `cwd` when under it; null when unknown. */
export function siteOf(stack: string | null | undefined, cwd: string): string | null {
  if (stack === null || stack === undefined || stack === '') return null;
  const first = stack.split('\n', 1)[0]!;
  const m = FRAME_LOCATION.exec(first.trim());
  if (m === null) return first.replace(/^at\s+/, '');
  return `${relativeFile(m[1]!, cwd)}:${m[2]}`;
}

/** A stack with each frame's path made relative to `cwd`, at most `maxLines` frames. */
export function shortStack(stack: string | null | undefined, cwd: string, maxLines: number): string[] {
  if (stack === null || stack === undefined || stack === '') return [];
  const lines = stack.split('\n');
  const shown = lines.slice(0, maxLines).map((l) => relativeLine(l.trim(), cwd));
  if (lines.length > maxLines) shown.push(`... ${lines.length - maxLines} more frames`);
  return shown;
}

/**
 * Frames repeat: a big dump has 100,000 stacks taken at a handful of call
 * sites, and parsing a file URL per frame was a third of its time. Results
 * are kept per (cwd, line), bounded.
 */
const LINE_CACHE_MAX = 50_000;
const lineCache = new Map<string, string>();

function relativeLine(line: string, cwd: string): string {
  const key = `${cwd}\u0000${line}`;
  const hit = lineCache.get(key);
  if (hit !== undefined) return hit;
  const m = FRAME_LOCATION.exec(line);
  const out = m === null ? line : line.replace(m[1]!, relativeFile(m[1]!, cwd));
  if (lineCache.size >= LINE_CACHE_MAX) lineCache.clear();
  lineCache.set(key, out);
  return out;
}

function relativeFile(file: string, cwd: string): string {
  let path = file;
  if (path.startsWith('file://')) {
    try {
      path = fileURLToPath(path);
    } catch {
      return file;
    }
  }
  const prefix = cwd.endsWith(sep) ? cwd : cwd + sep;
  return path.startsWith(prefix) ? path.slice(prefix.length).split(sep).join('/') : path;
}

/** "93 s", "1.5 s", "250 ms", "2 min 5 s", "3 h 2 min". */
export function duration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const min = Math.floor(s / 60);
  if (min < 120) return `${min} min ${s % 60} s`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

/** "14:02:11" (UTC): the summary's header gives the date and says UTC once. */
export function clockTime(wallMs: number | null): string {
  if (wallMs === null) return 'an unknown time';
  // Arithmetic, not Date: stacks.txt formats one time per lock, 100,000 of them in a big dump.
  const s = Math.floor(wallMs / 1000) % 86_400;
  const two = (n: number): string => (n < 10 ? `0${n}` : String(n));
  return `${two(Math.floor(s / 3600))}:${two(Math.floor(s / 60) % 60)}:${two(s % 60)}`;
}

export function isoTime(wallMs: number): string {
  return new Date(wallMs).toISOString().replace('.000Z', 'Z');
}

/** A name as one archive path segment: no separators, no dot-dot, never empty. */
export function pathSegment(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return safe === '' ? '_' : safe.slice(0, 120);
}

/** Distinct path segments for distinct names (two names that sanitize alike get ~2, ~3). */
export function segmentNamer(): (name: string) => string {
  const used = new Map<string, number>();
  return (name) => {
    const base = pathSegment(name);
    const n = (used.get(base) ?? 0) + 1;
    used.set(base, n);
    return n === 1 ? base : `${base}~${n}`;
  };
}
