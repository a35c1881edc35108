/**
 * The lock-file scan: every regular file of a directory joined with the
 * kernel's view of it (proc-table.ts), and a verdict for each (rules V1–V4
 * of README.md). The directory is read entry by entry (opendir), never
 * whole, and a caller that streams (`onFile`, the CLI) keeps nothing in
 * memory but the /proc table; `scanLockFiles` keeps at most
 * `entriesKeptMax` entries and counts the rest.
 *
 * Symbolic links are never followed (lstat), directories are entered only
 * with `recursive` and only on the directory's own filesystem, with an
 * explicit stack.
 */

import assert from 'node:assert/strict';
import { lstatSync, opendirSync, realpathSync, statSync, type Dir, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import { DumpError } from '../errors.js';
import { lockFileLimits } from '../limits.js';
import { devString } from '../os-locks.js';
import { Pacer, ProcessNames, fileKey, readProcTable, type KernelLock, type ProcTable } from './proc-table.js';
import type { LockFileEntry, LockFileLock, LockFileSummary, Mechanism, ProcessInfo, Verdict } from '../shapes.js';

export const VERDICTS: readonly Verdict[] = ['held', 'open', 'stale', 'young'];

export interface ScanOptions {
  /** Files not modified for this long (and neither held nor open) are `stale`. Default 1 hour. */
  staleAfterMs?: number;
  recursive?: boolean;
  /** Each entry, as it is found (the CLI prints it and keeps nothing). */
  onFile?: (entry: LockFileEntry) => void;
  /** Wall clock; tests and the bench may pin it. */
  now?: () => number;
  /** The /proc to read (a parameter for tests). */
  procRoot?: string;
  signal?: AbortSignal;
}

export interface LockFileScan {
  summary: LockFileSummary;
  /** At most `entriesKeptMax`, in directory order; the summary counts every file. */
  files: LockFileEntry[];
}

interface Checked {
  dir: string;
  staleAfterMs: number;
  recursive: boolean;
  now: () => number;
  procRoot: string;
}

export function checkScanOptions(dir: unknown, o: ScanOptions): Checked {
  if (typeof dir !== 'string' || dir === '') throw new DumpError('EINVAL', 'dir: a directory path');
  const staleAfterMs = o.staleAfterMs ?? lockFileLimits.staleAfterMsDefault;
  if (!Number.isSafeInteger(staleAfterMs) || staleAfterMs < 0) throw new DumpError('EINVAL', `staleAfterMs: an integer >= 0 (got ${String(o.staleAfterMs)})`);
  if (o.recursive !== undefined && typeof o.recursive !== 'boolean') throw new DumpError('EINVAL', 'recursive: a boolean');
  if (o.onFile !== undefined && typeof o.onFile !== 'function') throw new DumpError('EINVAL', 'onFile: a function');
  return { dir: realDir(resolve(dir)), staleAfterMs, recursive: o.recursive === true, now: o.now ?? Date.now, procRoot: o.procRoot ?? '/proc' };
}

/** The directory's real path (what /proc/<pid>/fd links show), or the path as given when it cannot be resolved (statDir says why). */
function realDir(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

/** The directory's own stat; ENOENT, EACCES or EINVAL (not a directory) at the boundary. */
export function statDir(dir: string): Stats {
  let st: Stats;
  try {
    st = statSync(dir);
  } catch (err) {
    throw dirError(dir, err);
  }
  if (!st.isDirectory()) throw new DumpError('EINVAL', `dir: a directory (${dir} is not one)`);
  return st;
}

function dirError(dir: string, err: unknown): DumpError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new DumpError('ENOENT', `no directory ${dir}`, { cause: err });
  if (code === 'EACCES' || code === 'EPERM') return new DumpError('EACCES', `cannot read directory ${dir}`, { cause: err });
  if (code === 'ENOTDIR') return new DumpError('EINVAL', `dir: a directory (${dir} is not one)`, { cause: err });
  return new DumpError('EIO', `reading ${dir}: ${(err as Error).message}`, { cause: err });
}

/** Scan `dir`: each file's holders, openers and verdict, and a summary. */
export async function scanLockFiles(dir: string, options: ScanOptions = {}): Promise<LockFileScan> {
  const o = checkScanOptions(dir, options);
  const files: LockFileEntry[] = [];
  const summary = await scanEach(o, (e) => {
    if (files.length < lockFileLimits.entriesKeptMax) files.push(e);
    options.onFile?.(e);
  }, options.signal);
  return { summary, files };
}

/** The scan proper, for scanLockFiles and clean: each entry to `emit`, the summary returned. */
export async function scanEach(o: Checked, emit: (e: LockFileEntry) => void, signal?: AbortSignal): Promise<LockFileSummary> {
  const started = performance.now();
  const root = statDir(o.dir);
  const dev = devString(BigInt(root.dev));
  const table = await readProcTable(o.procRoot, o.dir, signal);
  const time = o.now();
  const names = new ProcessNames(o.procRoot);
  const s: LockFileSummary = {
    dir: o.dir, time, staleAfterMs: o.staleAfterMs, recursive: o.recursive, files: 0, held: 0, open: 0, stale: 0, young: 0,
    vanished: 0, symlinks: 0, directories: 0, other: 0, dirsSkipped: 0, processes: table.processes,
    unreadableProcesses: table.unreadable, truncated: table.truncated, tookMs: 0,
  };
  const pacer = new Pacer(signal);
  const stack: string[] = [''];
  let dirsEntered = 0;
  while (stack.length > 0) {
    const rel = stack.pop()!;
    if (++dirsEntered > lockFileLimits.dirsMax) {
      s.truncated = true;
      break;
    }
    let handle: Dir;
    try {
      handle = opendirSync(join(o.dir, rel), { bufferSize: 1024 });
    } catch (err) {
      if (rel === '') throw dirError(o.dir, err);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') s.vanished++;
      else s.dirsSkipped++;
      continue;
    }
    try {
      for (let d = handle.readSync(); d !== null; d = handle.readSync()) {
        if (pacer.due()) await pacer.pause();
        const path = rel === '' ? d.name : `${rel}/${d.name}`;
        const st = lstatSync(join(o.dir, path), { throwIfNoEntry: false });
        if (st === undefined) {
          s.vanished++; // removed between readdir and lstat: skipped, counted
          continue;
        }
        if (st.isSymbolicLink()) s.symlinks++;
        else if (st.isDirectory()) {
          if (!o.recursive) s.directories++;
          else if (devString(BigInt(st.dev)) !== dev) s.dirsSkipped++;
          else stack.push(path);
        } else if (!st.isFile()) s.other++;
        else if (s.files >= lockFileLimits.filesMax) s.truncated = true;
        else {
          const entry = judge(path, st, table, names, time, o.staleAfterMs);
          s.files++;
          s[entry.verdict]++;
          emit(entry);
        }
      }
    } finally {
      handle.closeSync();
    }
  }
  assert.equal(s.held + s.open + s.stale + s.young, s.files, 'every file has exactly one verdict');
  s.tookMs = Math.round(performance.now() - started);
  return s;
}

/** Rules V1–V4: held, else open, else stale when old enough, else young. */
export function judge(path: string, st: Stats, table: ProcTable, names: ProcessNames, now: number, staleAfterMs: number): LockFileEntry {
  const key = fileKey(st.dev, st.ino);
  const ageMs = Math.max(0, now - st.mtimeMs);
  const kernel = table.locks.get(key);
  const pids = table.openers.get(key);
  if (kernel === undefined && pids === undefined) {
    // Most files of a big directory: nobody uses them, and nothing is allocated for their users.
    return { path, key, bytes: st.size, mtimeMs: st.mtimeMs, ageMs, verdict: ageMs >= staleAfterMs ? 'stale' : 'young', locks: [], openers: [] };
  }
  const locks = (kernel ?? []).map((l) => lockOf(l, table.ofdHolders.get(key), names));
  const holding = new Set<number>();
  for (const l of locks) if (!l.waiting) for (const h of l.holders) holding.add(h.pid);
  const openers = [...(pids ?? [])].filter((pid) => !holding.has(pid)).sort((a, b) => a - b).map((pid) => names.of(pid));
  const held = (kernel ?? []).some((l) => !l.waiting);
  const verdict: Verdict = held ? 'held' : openers.length > 0 ? 'open' : ageMs >= staleAfterMs ? 'stale' : 'young';
  return { path, key, bytes: st.size, mtimeMs: st.mtimeMs, ageMs, verdict, locks, openers };
}

function lockOf(l: KernelLock, ofd: ReadonlySet<number> | undefined, names: ProcessNames): LockFileLock {
  const pids = l.pid !== null ? [l.pid] : [...(ofd ?? [])].sort((a, b) => a - b);
  return { mechanism: l.mechanism, access: l.access, start: l.start, end: l.end, waiting: l.waiting, holders: pids.map((pid) => names.of(pid)) };
}
