/**
 * One server per state directory. Two servers on the same records would each
 * grant what the other does not know, and each rewrite the other's client
 * record: the second must refuse to start (EAGAIN, like fcntl F_SETLK on a
 * held lock). A server killed with SIGKILL cannot remove its lock, and its
 * restart is the whole point of the directory, so a lock whose process is gone
 * is stale and taken over.
 *
 * The lock is `server.lock`, `{ pid, start, host }`, made whole in a temporary
 * file and linked into place (link fails if the name exists, so exactly one
 * of two servers starting together gets it). It is held while its pid is a
 * live process that started when the lock says (Linux: /proc/PID/stat field
 * 22), so a pid reused by another process, or our own pid reused in a fresh
 * container, does not keep it. A stale lock is renamed away (atomic) and the
 * inode checked, so of two servers taking over the same stale lock neither
 * removes the other's fresh one.
 *
 * Nothing is left behind: a temporary file that could not be written (a
 * full disk) is removed before the error (EIO) is reported, and once the lock
 * is ours, temporary and set-aside lock files of processes that are gone (a
 * server killed between writing and removing them) are removed too.
 */

import { linkSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LockError } from '../src/index.js';

const LOCK_FILE = 'server.lock';
/** Attempts at taking the lock (each either takes it, finds it held, or finds a stale one and removes it). */
const ATTEMPTS_MAX = 5;

interface Holder {
  pid: number;
  /** Process start time in clock ticks since boot (Linux), or null where unknown. */
  start: number | null;
  host: string;
}

/** Paths locked by this process: our own pid in a lock is ours only if it is here. */
const heldHere = new Set<string>();

function processStart(pid: number): number | null {
  try {
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const start = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isSafeInteger(start) ? start : null;
  } catch {
    return null;
  }
}

function alive(h: Holder, path: string): boolean {
  if (h.pid === process.pid) return heldHere.has(path);
  if (h.host !== hostname()) return true; // a shared directory: we cannot tell, so it is held
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = processStart(h.pid);
  return h.start === null || start === null || start === h.start;
}

function readHolder(path: string): { holder: Holder | null; ino: number } | null {
  try {
    const ino = statSync(path).ino;
    let holder: Holder | null = null;
    try {
      const raw = JSON.parse(readFileSync(path, 'utf8')) as Partial<Holder>;
      if (Number.isSafeInteger(raw.pid) && typeof raw.host === 'string') {
        holder = { pid: raw.pid!, start: typeof raw.start === 'number' ? raw.start : null, host: raw.host };
      }
    } catch {
      // Unreadable: not written by this scheme (ours are complete before they get the name); treated as stale.
    }
    return { holder, ino };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export class StateDirLock {
  private constructor(
    private readonly path: string,
    private readonly ino: number,
  ) {}

  /** Take the directory's lock, taking over a stale one; EAGAIN while another live server holds it. */
  static acquire(dir: string): StateDirLock {
    const path = join(dir, LOCK_FILE);
    const me: Holder = { pid: process.pid, start: processStart(process.pid), host: hostname() };
    const tmp = join(dir, `.${LOCK_FILE}.${process.pid}`);
    try {
      writeFileSync(tmp, JSON.stringify(me), { mode: 0o600 });
    } catch (err) {
      unlinkQuietly(tmp);
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      throw new LockError('EIO', `state directory ${dir} cannot be written (${code}): cannot take its lock`, {}, { cause: err });
    }
    try {
      for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
        try {
          linkSync(tmp, path);
          heldHere.add(path);
          removeStrays(dir);
          return new StateDirLock(path, statSync(path).ino);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        }
        const found = readHolder(path);
        if (found === null) continue;
        if (found.holder !== null && alive(found.holder, path)) {
          throw new LockError('EAGAIN', `state directory ${dir} is in use by the server with pid ${found.holder.pid} on ${found.holder.host}`);
        }
        removeStale(path, found.ino);
      }
      throw new LockError('EAGAIN', `state directory ${dir}: its lock kept changing hands; another server is starting on it`);
    } finally {
      unlinkQuietly(tmp);
    }
  }

  /** Server shutdown: the lock goes, if it is still ours. */
  release(): void {
    heldHere.delete(this.path);
    try {
      if (statSync(this.path).ino === this.ino) unlinkSync(this.path);
    } catch {
      // Already gone: nothing to release.
    }
  }
}

/** Rename the stale lock away; if what moved was not it (another server took over meanwhile), put that one back. */
function removeStale(path: string, ino: number): void {
  const aside = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    if (statSync(aside).ino !== ino) linkSync(aside, path);
  } catch (err) {
    // EEXIST: yet another server holds the name now; the next attempt reads it.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    unlinkSync(aside);
  }
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone (or removed as a stray by the server that holds the lock).
  }
}

/** `.server.lock.<pid>` and `server.lock.stale.<pid>`: another process's files while it takes or takes over the lock. */
const STRAY = /^(?:\.server\.lock|server\.lock\.stale)\.([0-9]{1,10})$/;

/**
 * With the lock held: the lock files of processes that are gone. A live
 * process's are its own (it may be taking the lock right now and will find it
 * held); on a directory shared between hosts a pid here says nothing, so only
 * ESRCH, "no such process on this host", removes one.
 */
function removeStrays(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(STRAY.exec(name)?.[1] ?? NaN);
    if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') unlinkQuietly(join(dir, name));
    }
  }
}
