/**
 * `os/locks.txt`: the operating system's file locks (/proc/locks on Linux),
 * each joined with the owning process's command line and, when one of its
 * open descriptors points at the locked inode, the file's path. This is
 * what shows a lockscope hang that is really an flock() held by a cron job.
 */

import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { dumpLimits } from './limits.js';
import { redactArgs, secretValues } from './redact.js';
import type { Collector } from './types.js';

export interface OsLock {
  id: number;
  /** The lock waits for another (a `->` line). */
  blocked: boolean;
  type: string;
  advisory: string;
  access: string;
  pid: number;
  /** Device as "major:minor" (hex, as the kernel prints it) and inode. */
  dev: string;
  inode: string;
  start: string;
  end: string;
}

const LINE = /^(\d+):\s+(->\s+)?(\S+)\s+(\S+)\s+(\S+)\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s+(\S+)\s+(\S+)/i;

/**
 * The lines of /proc/locks that parse; the rest are kept as they are by the
 * caller. At most `max` lines (the dump's small bound by default; the
 * lock-file scan, collectors/lockfiles, reads the whole table).
 */
export function parseProcLocks(text: string, max: number = dumpLimits.osLockLinesMax): Array<OsLock | string> {
  return text.split('\n').filter((l) => l.trim() !== '').slice(0, max).map((line) => {
    const m = LINE.exec(line.trim());
    if (m === null) return line;
    return {
      id: Number(m[1]), blocked: m[2] !== undefined, type: m[3]!, advisory: m[4]!, access: m[5]!, pid: Number(m[6]),
      dev: `${m[7]}:${m[8]}`, inode: m[9]!, start: m[10]!, end: m[11]!,
    };
  });
}

/** The kernel's "major:minor" (hex) of a stat() device number. */
export function devString(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

interface ProcessInfo {
  command: string;
  /** "dev:inode" → path, from the process's open descriptors. */
  paths: Map<string, string>;
}

async function processInfo(procRoot: string, pid: number, signal: AbortSignal): Promise<ProcessInfo> {
  const info: ProcessInfo = { command: '?', paths: new Map() };
  try {
    const raw = await readFile(join(procRoot, String(pid), 'cmdline'), 'utf8');
    info.command = redactArgs(raw.split('\0').filter((a) => a !== ''), secretValues(process.env)).join(' ');
  } catch {
    info.command = '(process gone or not readable)';
  }
  let fds: string[] = [];
  try {
    fds = (await readdir(join(procRoot, String(pid), 'fd'))).slice(0, dumpLimits.fdsPerProcessMax);
  } catch {
    return info;
  }
  for (const fd of fds) {
    if (signal.aborted) break;
    const link = join(procRoot, String(pid), 'fd', fd);
    try {
      const st = await stat(link, { bigint: true });
      const key = `${devString(st.dev)}:${st.ino}`;
      if (!info.paths.has(key)) info.paths.set(key, await readlink(link));
    } catch {
      // Descriptors close while we look; a missing one just has no path.
    }
  }
  return info;
}

/** The report text for a /proc-like root (a parameter so tests can build one). */
export async function osLocksText(procRoot: string, signal: AbortSignal): Promise<string> {
  let text: string;
  try {
    text = await readFile(join(procRoot, 'locks'), 'utf8');
  } catch (err) {
    return `No operating-system lock table here (${(err as NodeJS.ErrnoException).code ?? 'error'} reading ${join(procRoot, 'locks')}).\n`;
  }
  const entries = parseProcLocks(text);
  const infos = new Map<number, ProcessInfo>();
  const out = [`Operating-system file locks (${join(procRoot, 'locks')}): ${entries.length} entries.`,
    'id type access pid (command) path [start, end] dev inode; "->" marks a lock that waits for the one above it.', ''];
  for (const e of entries) {
    if (typeof e === 'string') {
      out.push(`(unparsed) ${e}`);
      continue;
    }
    let info: ProcessInfo | undefined;
    if (e.pid > 0 && !signal.aborted) {
      info = infos.get(e.pid);
      if (info === undefined) infos.set(e.pid, (info = await processInfo(procRoot, e.pid, signal)));
    }
    const owner = e.pid > 0 ? `pid ${e.pid} (${info?.command ?? '?'})` : 'no pid (open file description lock)';
    const path = info?.paths.get(`${e.dev}:${e.inode}`) ?? '(path not found among the process\'s open files)';
    out.push(`${e.id}${e.blocked ? ' ->' : ''} ${e.type} ${e.advisory} ${e.access} ${owner} ${path} [${e.start}, ${e.end}] dev ${e.dev} inode ${e.inode}`);
  }
  return out.join('\n') + '\n';
}

export const osLocksCollector: Collector = {
  name: 'os-locks',
  deadlineMs: dumpLimits.osLocksDeadlineMs,
  maxBytes: dumpLimits.osLocksBytesMax,
  async collect({ signal }) {
    return [{ path: 'os/locks.txt', data: await osLocksText('/proc', signal) }];
  },
};
