/**
 * `clean`: delete the stale files of a lock directory without splitting a
 * holder from its file. The protocol is README.md's rules C1–C6: check
 * (walk 1), move the file aside to a quarantine name in the same directory
 * (rename), check again (walk 2), then unlink the quarantined inode only if
 * no process has it open, or put it back (link, which never replaces) if
 * one does. Only names read from the directory itself are used, never a
 * path with a `/` in it, and no call follows a symbolic link (lstat,
 * rename, link and unlink all act on the link itself).
 */

import assert from 'node:assert/strict';
import { existsSync, linkSync, lstatSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { DumpError } from '../errors.js';
import { lockFileLimits } from '../limits.js';
import { fileKey, readKernelLocks, readProcTable, type ProcTable } from './proc-table.js';
import { checkScanOptions, scanEach } from './scan.js';

/** Names clean gives files it has moved aside; a later clean removes leftovers (of a crash) once unused. */
export const QUARANTINE_PREFIX = '.lockscope-quarantine.';

export type CleanAction = 'deleted' | 'would-delete' | 'kept';
export type KeptReason =
  /** Judged by the scan: not stale. */
  | 'held' | 'open' | 'young'
  /** Gone, replaced, written or turned into something else between the scan and the check (rule C2). */
  | 'vanished' | 'changed'
  /** Opened between walk 1 and the rename, seen by walk 2, and put back under its name (rule C4). */
  | 'reopened'
  /** As `reopened`, but a new file already took the name: two processes may hold "the same" lock (rule C5). */
  | 'split-suspected';

export interface CleanOutcome {
  path: string;
  action: CleanAction;
  reason?: KeptReason;
  /** Processes that had it open or locked, when that is why it was kept. */
  pids?: number[];
  /** Measured ms from the start of walk 1 to the rename: the window rule C6 states. */
  windowMs?: number;
}

export interface CleanReport {
  dir: string;
  dryRun: boolean;
  olderThanMs: number;
  deleted: number;
  kept: Record<KeptReason, number>;
  /** Largest measured windows of this run (ms): walk 1 start → rename, rename → walk 2 end. */
  maxWindowMs: number;
  maxRecheckMs: number;
  unreadableProcesses: number;
  tookMs: number;
}

export interface CleanOptions {
  /** Files not modified for this long (and unused) are deleted. Required: there is no safe default age. */
  olderThanMs: number;
  dryRun?: boolean;
  /** Clean even when some processes' open files cannot be read (rule S3): their openers are then unknown. */
  allowUnreadable?: boolean;
  onFile?: (outcome: CleanOutcome) => void;
  now?: () => number;
  procRoot?: string;
  signal?: AbortSignal;
}

/** The pid of the clean that moved a file aside, from its quarantine name; null for any other name. */
function quarantineOwner(name: string): number | null {
  const m = /^\.lockscope-quarantine\.(\d+)\./.exec(name);
  return m === null ? null : Number(m[1]);
}

interface Candidate {
  name: string;
  key: string;
  mtimeMs: number;
}

interface Moved {
  candidate: Candidate;
  /** The name it has now, and whether it had one before this run (a leftover quarantine file has not). */
  quarantine: string;
  restorable: boolean;
}

/** Delete the stale files of `dir` (not its subdirectories). */
export async function cleanLockFiles(dir: string, options: CleanOptions): Promise<CleanReport> {
  if (options === null || typeof options !== 'object' || options.olderThanMs === undefined) throw new DumpError('EINVAL', 'olderThanMs: required (how old an unused file must be to be deleted)');
  const o = checkScanOptions(dir, { staleAfterMs: options.olderThanMs, now: options.now, procRoot: options.procRoot });
  const started = performance.now();
  const report: CleanReport = {
    dir: o.dir, dryRun: options.dryRun === true, olderThanMs: o.staleAfterMs, deleted: 0,
    kept: { held: 0, open: 0, young: 0, vanished: 0, changed: 0, reopened: 0, 'split-suspected': 0 },
    maxWindowMs: 0, maxRecheckMs: 0, unreadableProcesses: 0, tookMs: 0,
  };
  const tell = (out: CleanOutcome): void => {
    if (out.action === 'kept') report.kept[out.reason!]++;
    else report.deleted++; // with dryRun, the files that would go
    options.onFile?.(out);
  };
  const candidates: Candidate[] = [];
  const summary = await scanEach(o, (e) => {
    const cleaner = quarantineOwner(e.path);
    if (cleaner !== null && cleaner !== process.pid && existsSync(join(o.procRoot, String(cleaner)))) {
      // Another clean, still running, has it aside: only that one may delete it or put it back (rule C5).
      tell({ path: e.path, action: 'kept', reason: 'open', pids: [cleaner] });
    } else if (cleaner !== null && (e.verdict === 'stale' || e.verdict === 'young')) candidates.push({ name: e.path, key: e.key, mtimeMs: e.mtimeMs });
    else if (e.verdict === 'stale') candidates.push({ name: e.path, key: e.key, mtimeMs: e.mtimeMs });
    else tell({ path: e.path, action: 'kept', reason: e.verdict, pids: [...e.locks.flatMap((l) => l.holders), ...e.openers].map((p) => p.pid) });
  }, options.signal);
  report.unreadableProcesses = summary.unreadableProcesses;
  if (summary.unreadableProcesses > 0 && options.allowUnreadable !== true) {
    throw new DumpError('EACCES', `the open files of ${summary.unreadableProcesses} processes cannot be read, so files they use would look unused: run as root or as the only user of ${o.dir}, or allow it explicitly`);
  }
  for (let i = 0; i < candidates.length; i += lockFileLimits.cleanBatchMax) {
    await cleanBatch(o.dir, candidates.slice(i, i + lockFileLimits.cleanBatchMax), report, options, o.procRoot, tell);
  }
  report.tookMs = Math.round(performance.now() - started);
  return report;
}

/** Rules C1–C5 for one batch: walk 1, re-check and rename each, walk 2, unlink or put back each. */
async function cleanBatch(dir: string, batch: Candidate[], report: CleanReport, options: CleanOptions, procRoot: string,
  tell: (o: CleanOutcome) => void): Promise<void> {
  const walk1 = performance.now();
  const before = await readProcTable(procRoot, dir, options.signal);
  const moved: Array<Moved & { renamedAt: number }> = [];
  for (const c of batch) {
    const leftover = c.name.startsWith(QUARANTINE_PREFIX);
    // Rule C2: /proc/locks again right before the rename (0.3 ms): a process that opened the file during walk 1,
    // after its descriptors were read, has usually locked it by now.
    before.locks = readKernelLocks(procRoot).locks;
    const why = recheck(dir, c, before, leftover ? null : options.olderThanMs, options.now ?? Date.now);
    if (why !== null) {
      tell({ path: c.name, action: 'kept', ...why });
      continue;
    }
    if (options.dryRun === true) {
      tell({ path: c.name, action: 'would-delete' });
      continue;
    }
    const quarantine = leftover ? c.name : `${QUARANTINE_PREFIX}${process.pid}.${c.key.replace(/:/g, '-')}`;
    if (!leftover) {
      try {
        renameSync(join(dir, c.name), join(dir, quarantine));
      } catch {
        tell({ path: c.name, action: 'kept', reason: 'vanished' });
        continue;
      }
    }
    const renamedAt = performance.now();
    report.maxWindowMs = Math.max(report.maxWindowMs, renamedAt - walk1);
    moved.push({ candidate: c, quarantine, restorable: !leftover, renamedAt });
  }
  if (moved.length === 0) return;
  const after = await readProcTable(procRoot, dir, options.signal);
  const walk2End = performance.now();
  for (const m of moved) {
    report.maxRecheckMs = Math.max(report.maxRecheckMs, walk2End - m.renamedAt);
    tell({ ...settle(dir, m, after), windowMs: Math.round((m.renamedAt - walk1) * 1000) / 1000 });
  }
}

/** Rule C2: still the same unused, old, regular file the scan saw? null when it may go. */
function recheck(dir: string, c: Candidate, table: ProcTable, olderThanMs: number | null, now: () => number): { reason: KeptReason; pids?: number[] } | null {
  let st;
  try {
    st = lstatSync(join(dir, c.name));
  } catch {
    return { reason: 'vanished' };
  }
  if (!st.isFile() || fileKey(st.dev, st.ino) !== c.key || st.mtimeMs !== c.mtimeMs) return { reason: 'changed' };
  if (olderThanMs !== null && now() - st.mtimeMs < olderThanMs) return { reason: 'young' };
  return users(c.key, table);
}

/** Holders and openers of an inode in a table, as a reason to keep it; null when it has none. */
function users(key: string, table: ProcTable): { reason: KeptReason; pids: number[] } | null {
  const locks = table.locks.get(key) ?? [];
  if (locks.length > 0) return { reason: 'held', pids: locks.map((l) => l.pid ?? -1) };
  const openers = table.openers.get(key);
  if (openers !== undefined && openers.size > 0) return { reason: 'open', pids: [...openers] };
  return null;
}

/** Rules C3–C5 for one quarantined file, after walk 2. */
function settle(dir: string, m: Moved, after: ProcTable): CleanOutcome {
  const name = m.candidate.name;
  const q = join(dir, m.quarantine);
  let st;
  try {
    st = lstatSync(q);
  } catch {
    return { path: name, action: 'kept', reason: 'vanished' };
  }
  const key = st.isFile() ? fileKey(st.dev, st.ino) : null;
  const inUse = key === null ? null : users(key, after);
  if (key === m.candidate.key && inUse === null) {
    // C3: nobody had it open at walk 2, and nobody can open it any more by its old name.
    unlinkSync(q);
    return { path: name, action: 'deleted' };
  }
  if (!m.restorable) return { path: name, action: 'kept', reason: 'open', pids: inUse?.pids ?? [] };
  try {
    // C4: link() fails rather than replace a file that took the name meanwhile; rename() would replace it.
    linkSync(q, join(dir, name));
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'EEXIST', `putting ${name} back: ${(err as Error).message}`);
    return { path: name, action: 'kept', reason: 'split-suspected', pids: inUse?.pids ?? [] };
  }
  unlinkSync(q);
  return { path: name, action: 'kept', reason: key === m.candidate.key ? 'reopened' : 'changed', pids: inUse?.pids ?? [] };
}
