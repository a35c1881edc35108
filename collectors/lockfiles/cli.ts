/**
 * `lockscope lockfiles scan|clean` as a function, like ../cli.ts: it takes
 * the arguments after `lockfiles` and an output sink, and returns the exit
 * status (EXIT_STATUS) instead of exiting. A person gets a table and a
 * summary line; `--json` gives one JSON object per line (each file, then
 * `{"type":"summary"}`), so a machine can read a directory of 100,000
 * files without holding it whole. Progress goes to stderr.
 */

import { parseArgs } from 'node:util';
import type { CliIO } from '../cli.js';
import { DumpError, EXIT_STATUS, isDumpError } from '../errors.js';
import { lockFileLimits } from '../limits.js';
import { cleanLockFiles, type CleanOutcome, type CleanReport } from './clean.js';
import { describeLocks, describeUsers, duration, parseDuration } from './format.js';
import { checkScanOptions, scanEach } from './scan.js';
import type { LockFileEntry, LockFileSummary } from '../shapes.js';

export const LOCKFILES_USAGE = `usage: lockscope lockfiles scan DIR [--older-than 1h] [--recursive] [--json]
       lockscope lockfiles clean DIR --older-than 1h [--dry-run] [--allow-unreadable] [--json]
  scan: every file of DIR, held (by whom, how, which bytes), open, stale (unused and older than --older-than,
        default 1h) or young. clean: deletes stale files only, checking each again right before it goes.
  durations: 500ms, 30s, 10m, 1h, 2d.
  exit status: 0 ok, 1 clean suspects a split (see the output), 2 bad arguments, 3 no such directory,
  8 /proc not available (Linux only), 10 directory or processes not readable`;

export async function runLockfiles(argv: readonly string[], io: CliIO): Promise<number> {
  let json = argv.includes('--json');
  try {
    const { values, positionals } = parseArgs({
      args: [...argv], allowPositionals: true, strict: true,
      options: {
        'older-than': { type: 'string' }, recursive: { type: 'boolean' }, 'dry-run': { type: 'boolean' },
        'allow-unreadable': { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    });
    json = values.json === true;
    if (values.help === true) {
      io.out(LOCKFILES_USAGE + '\n');
      return 0;
    }
    const [command, dir, ...extra] = positionals;
    if (command !== 'scan' && command !== 'clean') throw new DumpError('EINVAL', `a command, scan or clean${command === undefined ? '' : ` (not ${command})`}`);
    if (dir === undefined || extra.length > 0) throw new DumpError('EINVAL', 'give exactly one directory');
    const olderThan = values['older-than'] === undefined ? undefined : parseDuration(values['older-than'], '--older-than');
    if (command === 'scan') {
      if (values['dry-run'] === true || values['allow-unreadable'] === true) throw new DumpError('EINVAL', '--dry-run and --allow-unreadable are clean options');
      return await scan(dir, olderThan, values.recursive === true, json, io);
    }
    if (olderThan === undefined) throw new DumpError('EINVAL', 'clean needs --older-than (there is no safe default age)');
    if (values.recursive === true) throw new DumpError('EINVAL', 'clean works on one directory (no --recursive)');
    return await clean(dir, olderThan, values['dry-run'] === true, values['allow-unreadable'] === true, json, io);
  } catch (err) {
    const e = isDumpError(err) ? err : argError(err);
    if (json) io.err(JSON.stringify({ error: e.toJSON() }) + '\n');
    else io.err(`lockscope: ${e.message}\n${e.code === 'EINVAL' ? LOCKFILES_USAGE + '\n' : ''}`);
    return EXIT_STATUS[e.code];
  }
}

function argError(err: unknown): DumpError {
  const e = err as { code?: string; message?: string };
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS')) return new DumpError('EINVAL', e.message ?? 'bad arguments', { cause: err });
  return new DumpError('EIO', err instanceof Error ? err.message : String(err), { cause: err });
}

const COLUMNS = ['VERDICT', 'AGE', 'LOCKS', 'HOLDERS / OPENERS', 'FILE'];

/**
 * Output gathered into chunks of about `outputChunkChars`: stdout is usually a
 * pipe, written synchronously, and one write per file of 100,000 cost more
 * than the scan itself.
 */
function chunked(io: CliIO): { line(text: string): void; flush(): void } {
  let buf: string[] = [];
  let chars = 0;
  const flush = (): void => {
    if (buf.length > 0) io.out(buf.join(''));
    buf = [];
    chars = 0;
  };
  return {
    line(text) {
      buf.push(text, '\n');
      chars += text.length + 1;
      if (chars >= lockFileLimits.outputChunkChars) flush();
    },
    flush,
  };
}

async function scan(dir: string, staleAfterMs: number | undefined, recursive: boolean, json: boolean, io: CliIO): Promise<number> {
  let seen = 0;
  let rows = 0;
  const out = chunked(io);
  if (!json) out.line(COLUMNS.join('\t'));
  // scanEach, not scanLockFiles: the CLI prints each file and keeps none.
  const o = checkScanOptions(dir, { recursive, ...(staleAfterMs === undefined ? {} : { staleAfterMs }) });
  const summary = await scanEach(o, (e) => {
    if (++seen % lockFileLimits.progressEveryFiles === 0) io.err(`lockscope: ${seen} files scanned…\n`);
    if (json) out.line(JSON.stringify({ type: 'file', ...e }));
    else if (++rows <= lockFileLimits.tableRowsMax) out.line(row(e));
  });
  out.flush();
  if (json) io.out(JSON.stringify({ type: 'summary', ...summary }) + '\n');
  else {
    if (rows > lockFileLimits.tableRowsMax) io.out(`… ${rows - lockFileLimits.tableRowsMax} more rows (--json lists every file)\n`);
    io.out(summaryLine(summary) + '\n');
  }
  return 0;
}

function row(e: LockFileEntry): string {
  return [e.verdict, duration(e.ageMs), describeLocks(e.locks) || '-', describeUsers(e) || '-', e.path].join('\t');
}

export function summaryLine(s: LockFileSummary): string {
  const skipped = [
    s.vanished > 0 ? `${s.vanished} vanished while scanning` : '', s.symlinks > 0 ? `${s.symlinks} symbolic links not followed` : '',
    s.directories > 0 ? `${s.directories} directories not entered` : '', s.other > 0 ? `${s.other} other entries` : '',
    s.dirsSkipped > 0 ? `${s.dirsSkipped} directories unreadable or on another filesystem` : '',
    s.unreadableProcesses > 0 ? `${s.unreadableProcesses} processes whose open files could not be read` : '',
    s.truncated ? 'a bound was reached: not everything was looked at' : '',
  ].filter((x) => x !== '');
  return `${s.files} files in ${s.dir}: ${s.held} held, ${s.open} open, ${s.stale} stale (unused, older than ${duration(s.staleAfterMs)}), ${s.young} young` +
    `${skipped.length > 0 ? `; ${skipped.join('; ')}` : ''} (${s.tookMs} ms)`;
}

async function clean(dir: string, olderThanMs: number, dryRun: boolean, allowUnreadable: boolean, json: boolean, io: CliIO): Promise<number> {
  const out = chunked(io);
  const report = await cleanLockFiles(dir, {
    olderThanMs, dryRun, allowUnreadable,
    onFile: (o) => {
      if (json) out.line(JSON.stringify({ type: 'file', ...o }));
      else if (o.action !== 'kept' || !['held', 'open', 'young'].includes(o.reason!)) out.line(outcomeLine(o));
    },
  });
  out.flush();
  if (json) io.out(JSON.stringify({ type: 'summary', ...report }) + '\n');
  else io.out(cleanLine(report) + '\n');
  return report.kept['split-suspected'] > 0 ? EXIT_STATUS.ENOMATCH : 0;
}

function outcomeLine(o: CleanOutcome): string {
  if (o.action !== 'kept') return `${o.action} ${o.path}`;
  return `kept ${o.path}: ${o.reason}${o.pids === undefined || o.pids.length === 0 ? '' : ` (pid ${o.pids.join(', ')})`}`;
}

function cleanLine(r: CleanReport): string {
  const kept = Object.entries(r.kept).filter(([, n]) => n > 0).map(([why, n]) => `${n} ${why}`).join(', ');
  return `${r.dryRun ? 'would delete' : 'deleted'} ${r.deleted} stale files in ${r.dir} (unused, older than ${duration(r.olderThanMs)}); kept ${kept || 'none'}` +
    `; measured race window ${r.maxWindowMs.toFixed(2)} ms, recheck ${r.maxRecheckMs.toFixed(2)} ms (${r.tookMs} ms)`;
}
