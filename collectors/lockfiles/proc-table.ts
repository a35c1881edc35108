/**
 * What the kernel knows about the files of a lock directory, read from
 * /proc: the file locks (/proc/locks, parsed by ../os-locks.ts) and which
 * processes have which inodes open (every /proc/<pid>/fd). Files are keyed
 * by "major:minor:inode" as /proc/locks prints them. Rules S1–S3 of
 * README.md: an inode's holders come from /proc/locks, its openers from
 * the descriptors, and a process whose descriptors cannot be read is
 * counted, never assumed to have none.
 *
 * The calls are synchronous (a /proc read never waits on a disk) and the
 * event loop gets a turn every `syncStepsMax` of them, so a server that
 * scans keeps answering.
 */

import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DumpError } from '../errors.js';
import { lockFileLimits } from '../limits.js';
import { devString, parseProcLocks } from '../os-locks.js';
import { redactArgs, secretValues } from '../redact.js';
import type { Mechanism, ProcessInfo } from '../shapes.js';

/** One line of /proc/locks, about one inode. */
export interface KernelLock {
  mechanism: Mechanism;
  access: 'READ' | 'WRITE';
  /** The locking process; null for an OFD lock (the kernel prints -1: its holders are found through fdinfo). */
  pid: number | null;
  /** First byte and last byte (inclusive); null end means "to the end of the file, and beyond". */
  start: number;
  end: number | null;
  /** A request that waits for a conflicting lock (a `->` line), not a lock held. */
  waiting: boolean;
}

export interface ProcTable {
  /** Key → the locks on that inode. */
  locks: Map<string, KernelLock[]>;
  /** Key → processes with a descriptor on that inode (only inodes on the devices asked for). */
  openers: Map<string, Set<number>>;
  /** Key → processes whose descriptor carries an OFD lock on it (from /proc/<pid>/fdinfo). */
  ofdHolders: Map<string, Set<number>>;
  /** Processes looked at, and those whose descriptors could not be read (their openers are unknown). */
  processes: number;
  unreadable: number;
  /** A bound was reached: some locks or descriptors were not looked at. */
  truncated: boolean;
}

/** The key of an inode as stat() gives it. The device's string is cached: every file of a directory has the same one. */
let lastDev = -1;
let lastDevString = '';
export function fileKey(dev: number, ino: number): string {
  if (dev !== lastDev) {
    lastDevString = devString(BigInt(dev));
    lastDev = dev;
  }
  return `${lastDevString}:${ino}`;
}

/**
 * Gives the event loop a turn every `syncStepsMax` calls of `step()`:
 * `if (pacer.due()) await pacer.pause()`, so the calls in between cost no
 * promise (a scan of 100,000 files calls it once per file).
 */
export class Pacer {
  private steps = 0;
  constructor(private readonly signal?: AbortSignal) {}
  due(): boolean {
    return ++this.steps % lockFileLimits.syncStepsMax === 0;
  }
  async pause(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    this.signal?.throwIfAborted();
  }
}

const MECHANISM: Readonly<Record<string, Mechanism>> = { POSIX: 'POSIX', FLOCK: 'FLOCK', OFDLCK: 'OFD' };

/** /proc/locks as KernelLocks by key. ENOTSUP when there is no /proc/locks (not Linux). */
export function readKernelLocks(procRoot: string): { locks: Map<string, KernelLock[]>; truncated: boolean } {
  let text: string;
  try {
    text = readFileSync(join(procRoot, 'locks'), 'utf8');
  } catch (err) {
    throw new DumpError('ENOTSUP', `cannot read ${join(procRoot, 'locks')} (${(err as NodeJS.ErrnoException).code ?? 'error'}): lock files can be inspected on Linux only`, { cause: err });
  }
  const entries = parseProcLocks(text, lockFileLimits.procLockLinesMax);
  const locks = new Map<string, KernelLock[]>();
  for (const e of entries) {
    if (typeof e === 'string') continue;
    const mechanism = MECHANISM[e.type];
    if (mechanism === undefined) continue; // LEASE, DELEG: not locks a lock-file user takes
    const lock: KernelLock = {
      mechanism, access: e.access === 'READ' ? 'READ' : 'WRITE', pid: e.pid > 0 ? e.pid : null,
      start: Number(e.start), end: e.end === 'EOF' ? null : Number(e.end), waiting: e.blocked,
    };
    assert.ok(Number.isFinite(lock.start) && (lock.end === null || lock.end >= lock.start), `a lock range of /proc/locks: ${e.start}-${e.end}`);
    const key = `${e.dev}:${e.inode}`;
    const list = locks.get(key);
    if (list === undefined) locks.set(key, [lock]);
    else list.push(lock);
  }
  return { locks, truncated: text.split('\n').length - 1 > lockFileLimits.procLockLinesMax };
}

/**
 * The whole table: locks, then every process's descriptors, keeping only
 * those that point under `dir` (rule S2: readlink() each descriptor, and
 * stat() only the ones whose path is under the directory, for the exact
 * inode). readlink is what keeps a walk short: stat() of every descriptor
 * follows sockets and pipes and took 40-200 ms for 1,000 descriptors on the
 * busy test machine, readlink plus the few stats 13-20 ms. `self` (our own
 * pid) is left out: the scan opens nothing, and a caller's own descriptors
 * are not another user of the file.
 */
export async function readProcTable(procRoot: string, dir: string, signal?: AbortSignal): Promise<ProcTable> {
  assert.ok(dir.startsWith('/') && !dir.endsWith('/'), `an absolute directory without a trailing slash: ${dir}`);
  const { locks, truncated } = readKernelLocks(procRoot);
  const table: ProcTable = { locks, openers: new Map(), ofdHolders: new Map(), processes: 0, unreadable: 0, truncated };
  const ofdKeys = new Set<string>();
  for (const [key, list] of locks) if (list.some((l) => l.mechanism === 'OFD' && !l.waiting)) ofdKeys.add(key);
  const pacer = new Pacer(signal);
  // One turn of the event loop per table at least, however few processes
  // there are: a caller that scans or cleans in a loop (a watcher, the race
  // test) would otherwise starve its own timers and child-exit events.
  await pacer.pause();
  const prefix = `${dir}/`;
  let fdsSeen = 0;
  for (const name of readdirSync(procRoot)) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const pid = Number(name);
    table.processes++;
    let fds: string[];
    try {
      fds = readdirSync(join(procRoot, name, 'fd'));
    } catch (err) {
      // Gone since readdir: it has nothing open. Not ours to read (EACCES): unknown, and said so.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') table.unreadable++;
      continue;
    }
    for (const fd of fds) {
      if (++fdsSeen > lockFileLimits.fdsMax) {
        table.truncated = true;
        return table;
      }
      if (pacer.due()) await pacer.pause();
      const key = descriptorKey(join(procRoot, name, 'fd', fd), prefix);
      if (key === null) continue;
      add(table.openers, key, pid);
      if (ofdKeys.has(key) && carriesOfdLock(join(procRoot, name, 'fdinfo', fd))) add(table.ofdHolders, key, pid);
    }
  }
  return table;
}

/** The key of the inode a descriptor points at, when its path is under `prefix`; null otherwise or when it closed meanwhile. */
function descriptorKey(link: string, prefix: string): string | null {
  try {
    if (!readlinkSync(link).startsWith(prefix)) return null;
    const st = statSync(link);
    return fileKey(st.dev, st.ino);
  } catch {
    return null; // closed while we looked
  }
}

function carriesOfdLock(fdinfo: string): boolean {
  try {
    return /^lock:\s+\d+:\s+OFDLCK\s/m.test(readFileSync(fdinfo, 'utf8'));
  } catch {
    return false;
  }
}

function add(map: Map<string, Set<number>>, key: string, pid: number): void {
  const set = map.get(key);
  if (set === undefined) map.set(key, new Set([pid]));
  else set.add(pid);
}

/** Command lines and users of the processes a scan names, each read once. */
export class ProcessNames {
  private readonly cache = new Map<number, ProcessInfo>();
  private users: Map<number, string> | null = null;
  private readonly secrets = secretValues(process.env);

  constructor(private readonly procRoot: string) {}

  of(pid: number): ProcessInfo {
    let info = this.cache.get(pid);
    if (info === undefined) this.cache.set(pid, (info = this.read(pid)));
    return info;
  }

  private read(pid: number): ProcessInfo {
    const dir = join(this.procRoot, String(pid));
    let command = '(gone)';
    let user = '?';
    try {
      const argv = readFileSync(join(dir, 'cmdline'), 'utf8').split('\0').filter((a) => a !== '');
      // Command lines carry secrets as often as environments do (os-locks.ts redacts them the same way).
      command = argv.length > 0 ? redactArgs(argv, this.secrets).join(' ') : `[${readFileSync(join(dir, 'comm'), 'utf8').trim()}]`;
      const uid = statSync(dir).uid;
      user = this.userName(uid);
    } catch {
      // The process exited after the walk: it is still named by pid.
    }
    return { pid, command: command.length > lockFileLimits.commandCharsMax ? `${command.slice(0, lockFileLimits.commandCharsMax)}…` : command, user };
  }

  private userName(uid: number): string {
    if (this.users === null) {
      this.users = new Map();
      try {
        for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
          const [name, , id] = line.split(':');
          if (name !== undefined && id !== undefined && /^\d+$/.test(id)) this.users.set(Number(id), name);
        }
      } catch {
        // No passwd file (a container): users are shown by uid.
      }
    }
    return this.users.get(uid) ?? String(uid);
  }
}
