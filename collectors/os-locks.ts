/**
 * `os/locks.txt`: the operating system's file locks (/proc/locks on Linux),
 * each joined with the owning process's command line and, when one of its
 * open descriptors points at the locked inode, the file's path. This is
 * what shows a lockscope hang that is really an flock() held by a cron job.
 *
 * The processes are the machine's, not ours: of each only what identifies
 * it is written (rule R6), its first few arguments, each cut short, and
 * redacted: a browser's 37 KB of flags or another program's password
 * have no place in our dump. Lines are escaped (E1): paths and arguments
 * are anyone's text.
 */

import { open, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { escapeText } from './escape.js';
import { dumpLimits } from './limits.js';
import { Redactor, secretValues } from './redact.js';
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

/** The start of a command line, at most `osLockCmdlineBytesMax` of it read. */
async function readCmdline(file: string): Promise<{ args: string[]; cut: boolean }> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(dumpLimits.osLockCmdlineBytesMax + 1);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const cut = bytesRead > dumpLimits.osLockCmdlineBytesMax;
    const args = buf.subarray(0, Math.min(bytesRead, dumpLimits.osLockCmdlineBytesMax)).toString('utf8').split('\0');
    // A cut read ends inside an argument: that piece is not a whole one.
    if (cut) args.pop();
    return { args: args.filter((a) => a !== ''), cut };
  } finally {
    await fh.close();
  }
}

/** What identifies a process: its first arguments, redacted whole (a flag's value is the next argument), then each cut short. */
export function holderCommand(args: readonly string[], cut: boolean, redact: Redactor): string {
  const shown = redact.args(args).slice(0, dumpLimits.osLockArgsMax).map((a) => {
    const chars = [...a];
    return chars.length <= dumpLimits.osLockArgCharsMax ? a : `${chars.slice(0, dumpLimits.osLockArgCharsMax).join('')}…`;
  });
  const more = args.length - shown.length;
  if (more > 0 || cut) shown.push(`… (${more > 0 ? `${more}${cut ? '+' : ''} more arguments` : 'more'})`);
  return shown.join(' ');
}

async function processInfo(procRoot: string, pid: number, signal: AbortSignal, redact: Redactor): Promise<ProcessInfo> {
  const info: ProcessInfo = { command: '?', paths: new Map() };
  try {
    const { args, cut } = await readCmdline(join(procRoot, String(pid), 'cmdline'));
    info.command = holderCommand(args, cut, redact);
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
      if (!info.paths.has(key)) info.paths.set(key, redact.text(await readlink(link)));
    } catch {
      // Descriptors close while we look; a missing one just has no path.
    }
  }
  return info;
}

/** The report text for a /proc-like root (a parameter so tests can build one). */
export async function osLocksText(procRoot: string, signal: AbortSignal, redact: Redactor = new Redactor(secretValues(process.env))): Promise<string> {
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
      out.push(escapeText(`(unparsed) ${redact.text(e)}`));
      continue;
    }
    let info: ProcessInfo | undefined;
    if (e.pid > 0 && !signal.aborted) {
      info = infos.get(e.pid);
      if (info === undefined) infos.set(e.pid, (info = await processInfo(procRoot, e.pid, signal, redact)));
    }
    const owner = e.pid > 0 ? `pid ${e.pid} (${info?.command ?? '?'})` : 'no pid (open file description lock)';
    const path = info?.paths.get(`${e.dev}:${e.inode}`) ?? '(path not found among the process\'s open files)';
    out.push(escapeText(`${e.id}${e.blocked ? ' ->' : ''} ${e.type} ${e.advisory} ${e.access} ${owner} ${path} [${e.start}, ${e.end}] dev ${e.dev} inode ${e.inode}`));
  }
  return out.join('\n') + '\n';
}

export const osLocksCollector: Collector = {
  name: 'os-locks',
  deadlineMs: dumpLimits.osLocksDeadlineMs,
  maxBytes: dumpLimits.osLocksBytesMax,
  async collect({ signal, redact }) {
    return [{ path: 'os/locks.txt', data: await osLocksText('/proc', signal, redact) }];
  },
};
