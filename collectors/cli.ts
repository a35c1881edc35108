/**
 * The `inspect` and `dump` commands as functions: the lockscope CLI
 * (server/cli.ts) and collectors/inspect-main.ts call them with the
 * arguments after the command name and an output sink; they return the
 * exit status (errors.ts, EXIT_STATUS) instead of exiting, so they can be
 * tested and embedded. Everything they print is escaped (rule E1, E2):
 * a dump's names, and an archive's own summary.txt, are anyone's text.
 */

import { parseArgs } from 'node:util';
import { HangDumper, type DumpResult, type DumpSource } from './dumper.js';
import { DumpError, EXIT_STATUS, isDumpError } from './errors.js';
import { escapeLines, escapeText, toJson } from './escape.js';
import { cyclesAnswer, ownerAnswer, resourceAnswer, type Answer } from './inspect.js';
import { clusterCyclesAnswer, clusterOwnerAnswer, clusterResourceAnswer, nodeParts } from './inspect-cluster.js';
import { readDump, type Dump } from './read-archive.js';

export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

export const INSPECT_USAGE = `usage: lockscope inspect <archive.tar.gz> [--owner NAME]... [--resource KEY]... [--cycles] [--json]
  prints the dump's summary, or answers about an owner, a resource (KEY or domain:KEY), or the cycles.
  exit status: 0 ok, 1 no match, 2 bad arguments, 3 missing file, 4 truncated, 5 corrupt, 6 not a lockscope dump, 7 newer format`;

export async function runInspect(argv: readonly string[], io: CliIO): Promise<number> {
  // Known before parsing, so that an argument error is reported as JSON too.
  let json = argv.includes('--json');
  try {
    const { values, positionals } = parseArgs({
      args: [...argv], allowPositionals: true, strict: true,
      options: { owner: { type: 'string', multiple: true }, resource: { type: 'string', multiple: true }, cycles: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
    json = values.json === true;
    if (values.help === true) {
      io.out(INSPECT_USAGE + '\n');
      return 0;
    }
    if (positionals.length !== 1) throw new DumpError('EINVAL', 'give exactly one archive');
    const dump = await readDump(positionals[0]!);
    const answers = answer(dump, values.owner ?? [], values.resource ?? [], values.cycles === true);
    if (answers === null) printWhole(dump, json, io);
    else if (json) io.out(toJson(answers.length === 1 ? answers[0]!.data : answers.map((a) => a.data), 2) + '\n');
    else io.out(answers.map((a) => escapeLines(a.text)).join('\n\n') + '\n');
    return answers !== null && answers.some((a) => !a.found) ? EXIT_STATUS.ENOMATCH : 0;
  } catch (err) {
    return fail(err, json, io, INSPECT_USAGE);
  }
}

function answer(dump: Dump, owners: string[], resources: string[], cycles: boolean): Answer[] | null {
  if (owners.length === 0 && resources.length === 0 && !cycles) return null;
  const cwd = dump.manifest.cwd ?? '';
  const parts = nodeParts(dump);
  if (parts.length > 1) {
    return [
      ...owners.map((o) => clusterOwnerAnswer(parts, o, cwd)),
      ...resources.map((r) => clusterResourceAnswer(parts, r, cwd)),
      ...(cycles ? [clusterCyclesAnswer(dump, parts, cwd)] : []),
    ];
  }
  const snap = parts[0]!.snapshot;
  const view = parts[0]!.view;
  return [
    ...owners.map((o) => ownerAnswer(view, o, cwd)),
    ...resources.map((r) => resourceAnswer(view, r, cwd)),
    ...(cycles ? [cyclesAnswer(snap, cwd)] : []),
  ];
}

function printWhole(dump: Dump, json: boolean, io: CliIO): void {
  const m = dump.manifest;
  const classification = dump.record?.classification ?? m.classification;
  const summary = dump.files.get('summary.txt')?.toString('utf8') ?? '(summary.txt is missing: see the manifest errors)\n';
  if (json) {
    io.out(toJson({ manifest: m, classification, record: dump.record, summary }, 2) + '\n');
    return;
  }
  const lines: string[] = [];
  if (classification !== null) {
    const r = dump.record;
    const how = r?.waitedMs === undefined ? '' : ` (the wait ended after ${Math.round(r.waitedMs / 100) / 10} s: ${r.outcome ?? 'ended'})`;
    // An archive read without its directory's index (downloaded, say) knows only what was known when it was taken.
    const when = r === null && classification === 'pending'
      ? ' when this dump was taken (decided once the wait ends: the server\'s dump list, GET /api/dumps, has it)'
      : '';
    lines.push(`classification: ${classification}${how}${when}`);
  }
  for (const e of m.errors) lines.push(`collector ${e.collector} failed (${e.kind}): ${e.message}`);
  // summary.txt was escaped when written, but this archive may not be one we wrote.
  io.out((lines.length > 0 ? escapeLines(lines) + '\n\n' : '') + escapeLines(summary.split('\n')));
}

/** Report err on stderr (JSON with --json); bad arguments get the command's own usage. */
function fail(err: unknown, json: boolean, io: CliIO, usage: string): number {
  const e = isDumpError(err) ? err : argError(err);
  if (json) io.err(toJson({ error: e.toJSON() }) + '\n');
  else io.err(`lockscope: ${escapeText(e.message)}\n${e.code === 'EINVAL' ? usage + '\n' : ''}`);
  return EXIT_STATUS[e.code];
}

function argError(err: unknown): DumpError {
  const e = err as { code?: string; message?: string };
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS')) return new DumpError('EINVAL', e.message ?? 'bad arguments', { cause: err });
  return new DumpError('EIO', err instanceof Error ? err.message : String(err), { cause: err });
}

/** Where `dump` takes its dump: an in-process manager now; a running server (`--server URL`) once the server provides `server`. */
export interface DumpTarget {
  manager?: DumpSource;
  server?: (url: string, dir: string) => Promise<DumpResult>;
}

export const DUMP_USAGE = `usage: lockscope dump [--dir DIR] [--server URL] [--json]
  takes a hang-dump now (never rate limited) and prints its id and path
  exit status: 0 written, 2 bad arguments, 9 EIO, 11 EPROTO (the server's answer is not a dump), 12 EPERM (token refused), 13 EUNREACHABLE`;

export async function runDump(argv: readonly string[], io: CliIO, target: DumpTarget = {}): Promise<number> {
  let json = argv.includes('--json');
  try {
    const { values, positionals } = parseArgs({
      args: [...argv], allowPositionals: true, strict: true,
      options: { dir: { type: 'string', default: './hangdumps' }, server: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
    json = values.json === true;
    if (values.help === true) {
      io.out(DUMP_USAGE + '\n');
      return 0;
    }
    if (positionals.length > 0) throw new DumpError('EINVAL', `unexpected argument ${positionals[0]}`);
    let result: DumpResult;
    if (values.server !== undefined) {
      if (target.server === undefined) throw new DumpError('ENOTSUP', 'dumping a running server needs the lock server (not in this build)');
      result = await target.server(values.server, values.dir);
    } else {
      if (target.manager === undefined) throw new DumpError('EINVAL', 'nothing to dump: give --server URL');
      const dumper = new HangDumper(target.manager, { dir: values.dir });
      try {
        result = await dumper.dump('manual');
      } finally {
        await dumper.close();
      }
    }
    io.out(json ? toJson(result) + '\n' : `${escapeText(`dump ${result.id} written to ${result.path}`)}\n`);
    return 0;
  } catch (err) {
    return fail(err, json, io, DUMP_USAGE);
  }
}
