/**
 * `lockscope torture`: the multi-client lock test across crashes. It starts
 * a lock server as a child process on a state directory, N client processes
 * (torture/worker.ts) that lock byte ranges of a shared real file (posix) or
 * slots of another (dlm EX) and check their writes while they hold, and for
 * the duration kills the server with SIGKILL and starts it again at an
 * interval. It reports operations, errors by code, mutual-exclusion
 * violations, lost locks (reclaims refused), fencing-token regressions and
 * grace durations, and exits non-zero on any violation, lost lock or
 * regression, or a worker that did not finish.
 *
 * Lifecycle: starting → running (kill / restart every interval) → stopping
 * (workers finish their operation and report) → done.
 */

import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LockError } from '../src/index.js';
import { TORTURE, type TortureMode, type WorkerMessage, type WorkerStats } from './torture/shared.js';
import { formatReport, summarize, type GraceRecord, type TortureReport } from './torture/report.js';

export interface TortureOptions {
  clients: number;
  durationMs: number;
  restartEveryMs: number;
  stateDir: string | null;
  mode: TortureMode;
  graceMs: number | null;
  json: boolean;
}

export const TORTURE_USAGE = `usage: lockscope torture [--clients N] [--duration 20s] [--restart-every 3s] [--state-dir DIR] [--mode mixed|posix|dlm] [--grace-ms N] [--json]`;

function duration(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (m === null) throw new LockError('EINVAL', `${flag} must be a duration such as 500ms, 20s or 3m`);
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  if (!(ms >= 1 && ms <= TORTURE.durationMsMax)) throw new LockError('EINVAL', `${flag} must be from 1 ms to 24 h`);
  return Math.round(ms);
}

export function parseTortureArgs(argv: readonly string[]): TortureOptions {
  const o: TortureOptions = { clients: 4, durationMs: 20_000, restartEveryMs: 3_000, stateDir: null, mode: 'mixed', graceMs: null, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new LockError('EINVAL', `${flag} needs a value`);
      return v;
    };
    if (flag === '--clients') {
      o.clients = Number(value());
      if (!Number.isInteger(o.clients) || o.clients < 1 || o.clients > TORTURE.clientsMax) throw new LockError('EINVAL', `--clients must be an integer from 1 to ${TORTURE.clientsMax}`);
    } else if (flag === '--duration') o.durationMs = duration(value(), flag);
    else if (flag === '--restart-every') o.restartEveryMs = duration(value(), flag);
    else if (flag === '--state-dir') o.stateDir = value();
    else if (flag === '--grace-ms') o.graceMs = duration(`${value()}ms`, flag);
    else if (flag === '--mode') {
      const m = value();
      if (m !== 'posix' && m !== 'dlm' && m !== 'mixed') throw new LockError('EINVAL', '--mode must be posix, dlm or mixed');
      o.mode = m;
    } else if (flag === '--json') o.json = true;
    else throw new LockError('EINVAL', `unknown option ${flag}`);
  }
  return o;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The lock server child: started, killed with SIGKILL, started again; its grace log lines collected. */
class ServerChild {
  child: ChildProcess | null = null;
  readonly graces: GraceRecord[] = [];
  reclaimsRefused = 0;
  graceActive = false;
  readonly startMs: number[] = [];

  constructor(private readonly args: string[]) {}

  async start(): Promise<void> {
    const began = Date.now();
    const child = spawn(process.execPath, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4096)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new LockError('ETIMEDOUT', 'the lock server did not start')), TORTURE.startTimeoutMs);
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (this.onLine(line)) {
            clearTimeout(timer);
            resolve();
          }
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new LockError('EINVAL', `the lock server exited (${code ?? signal}) before listening: ${stderr.trim()}`));
      });
    });
    this.startMs.push(Date.now() - began);
  }

  /** One log line; true when it says the server is listening. */
  private onLine(line: string): boolean {
    let l: {
      event?: string; phase?: string; startedAt?: number; deadline?: number; ended?: string; reclaims?: number; missing?: string[];
      kind?: string; suppressed?: number;
    };
    try {
      l = JSON.parse(line);
    } catch {
      return false;
    }
    if (l.event === 'grace' && l.phase === 'start') this.graceActive = true;
    if (l.event === 'grace' && l.phase === 'end') {
      this.graceActive = false;
      this.graces.push({ ms: (l.deadline ?? 0) - (l.startedAt ?? 0), ended: l.ended ?? 'unknown', reclaims: l.reclaims ?? 0, missing: l.missing?.length ?? 0 });
    }
    if (l.event === 'reclaim-refused') this.reclaimsRefused++;
    // Past the log's rate limit the refusals are counted in one line (log.ts).
    if (l.event === 'log-suppressed' && l.kind === 'reclaim-refused') this.reclaimsRefused += l.suppressed ?? 0;
    return l.event === 'listening';
  }

  async stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const c = this.child;
    this.child = null;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((resolve) => c.once('exit', resolve));
    c.kill(signal);
    await gone;
    // A grace in progress when it died never logged its end.
    this.graceActive = false;
  }
}

/** The workers: forked with an IPC channel; their latest counts kept. */
class Workers {
  readonly stats = new Map<number, WorkerStats>();
  private readonly children: ChildProcess[] = [];
  private readonly finals = new Set<number>();

  constructor(n: number, url: string, dir: string, mode: TortureMode) {
    const script = fileURLToPath(new URL('./torture/worker.js', import.meta.url));
    for (let id = 1; id <= n; id++) {
      const child = fork(script, [JSON.stringify({ id, url, dir, mode })], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      child.on('message', (m: WorkerMessage) => {
        this.stats.set(m.stats.id, m.stats);
        if (m.type === 'final') this.finals.add(m.stats.id);
      });
      this.children.push(child);
    }
  }

  /** Tell every worker to stop; resolves with the ids that did not report in time (then killed). */
  async stop(): Promise<number[]> {
    for (const c of this.children) if (c.connected) c.send({ type: 'stop' });
    const end = Date.now() + TORTURE.stopTimeoutMs;
    while (this.finals.size < this.children.length && Date.now() < end) await sleep(50);
    const stuck: number[] = [];
    this.children.forEach((c, i) => {
      if (!this.finals.has(i + 1)) stuck.push(i + 1);
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
    return stuck;
  }
}

function progress(t0: number, server: ServerChild, workers: Workers, restarts: number): string {
  const all = [...workers.stats.values()];
  const ops = all.reduce((n, s) => n + s.ops, 0);
  const violations = all.reduce((n, s) => n + s.violations.length, 0);
  const lost = all.reduce((n, s) => n + s.lost, 0);
  const errors = all.reduce((n, s) => n + Object.values(s.errors).reduce((a, b) => a + b, 0), 0);
  const secs = ((Date.now() - t0) / 1000).toFixed(0);
  return `torture ${secs}s: ${ops} ops, ${restarts} restarts, grace ${server.graceActive ? 'on ' : 'off'}, ${violations} violations, ${lost} lost, ${errors} errors`;
}

export async function runTorture(o: TortureOptions, err: NodeJS.WriteStream): Promise<TortureReport> {
  const work = o.stateDir === null ? mkdtempSync(join(tmpdir(), 'lockscope-torture-')) : o.stateDir;
  const state = join(work, 'state');
  mkdirSync(state, { recursive: true });
  writeFileSync(join(work, TORTURE.posixFile), Buffer.alloc(TORTURE.posixSlots * TORTURE.recordBytes, ' '));
  writeFileSync(join(work, TORTURE.dlmFile), Buffer.alloc(TORTURE.dlmSlots * TORTURE.recordBytes, ' '));
  const config = join(work, 'server.json');
  writeFileSync(config, JSON.stringify({
    domains: [{ name: TORTURE.posixDomain, kind: 'posix' }, { name: TORTURE.dlmDomain, kind: 'dlm' }], ...(o.graceMs === null ? {} : { graceMs: o.graceMs }),
  }));
  const port = await freePort();
  const cli = fileURLToPath(new URL('./cli.js', import.meta.url));
  const server = new ServerChild([cli, 'serve', '--port', String(port), '--config', config, '--state-dir', state]);
  await server.start();
  const workers = new Workers(o.clients, `http://127.0.0.1:${port}`, work, o.mode);
  const t0 = Date.now();
  let restarts = 0;
  const tty = err.isTTY === true;
  const ticker = setInterval(() => err.write(tty ? `\r${progress(t0, server, workers, restarts)}   ` : `${progress(t0, server, workers, restarts)}\n`), tty ? 1000 : 5000);
  try {
    for (let next = t0 + o.restartEveryMs; next < t0 + o.durationMs; next += o.restartEveryMs) {
      await sleep(Math.max(0, next - Date.now()));
      await server.stop('SIGKILL');
      await server.start();
      restarts++;
    }
    await sleep(Math.max(0, t0 + o.durationMs - Date.now()));
    const stuck = await workers.stop();
    const elapsedMs = Date.now() - t0;
    return summarize({ options: o, workDir: work, elapsedMs, restarts, workers: [...workers.stats.values()], stuck, server });
  } finally {
    clearInterval(ticker);
    if (tty) err.write('\n');
    await server.stop('SIGTERM');
  }
}

/** The command: run, print the report, exit status 1 on any failure. */
export async function torture(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${TORTURE_USAGE}\n`);
    return;
  }
  const o = parseTortureArgs(argv);
  const report = await runTorture(o, process.stderr);
  process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : formatReport(report));
  process.exitCode = report.pass ? 0 : 1;
}
