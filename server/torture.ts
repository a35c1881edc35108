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
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, writeFileSync, type WriteStream } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LockError } from '../src/index.js';
import { TORTURE, type TortureMode, type WorkerConfig, type WorkerMessage, type WorkerStats } from './torture/shared.js';
import { formatReport, summarize, type GraceRecord, type TortureReport } from './torture/report.js';
import { readFlags } from './args.js';

export interface TortureOptions {
  clients: number;
  durationMs: number;
  restartEveryMs: number;
  stateDir: string | null;
  mode: TortureMode;
  graceMs: number | null;
  json: boolean;
  /** Nodes of a cluster (through an etcd this command starts); 0: one server, restarted from its state directory. */
  cluster: number;
  /** In a cluster: a random node killed with SIGKILL (then started again) this often, and one paused (SIGSTOP past its TTL) this often; 0: never. */
  killEveryMs: number;
  pauseEveryMs: number;
  /** Workers keep their grants cached (client/cache.ts): callbacks move the dlm slots among them. */
  cache: boolean;
}

export const TORTURE_USAGE = `usage: lockscope torture [--clients N] [--duration 20s] [--restart-every 3s] [--state-dir DIR] [--mode mixed|posix|dlm] [--grace-ms N] [--cache] [--json]
       lockscope torture --cluster N [--kill-every 10s] [--pause-every 0] [--clients N] [--duration 20s] [--mode mixed|posix|dlm] [--cache] [--json]`;

function duration(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (m === null) throw new LockError('EINVAL', `${flag} must be a duration such as 500ms, 20s or 3m`);
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  if (!(ms >= 1 && ms <= TORTURE.durationMsMax)) throw new LockError('EINVAL', `${flag} must be from 1 ms to 24 h`);
  return Math.round(ms);
}

const TORTURE_FLAGS = {
  clients: 'string', duration: 'string', 'restart-every': 'string', 'state-dir': 'string', 'grace-ms': 'string', mode: 'string',
  json: 'boolean', cluster: 'string', 'kill-every': 'string', 'pause-every': 'string', cache: 'boolean',
} as const;

export function parseTortureArgs(argv: readonly string[]): TortureOptions {
  const o: TortureOptions = {
    clients: 4, durationMs: 20_000, restartEveryMs: 3_000, stateDir: null, mode: 'mixed', graceMs: null, json: false, cluster: 0, killEveryMs: 10_000, pauseEveryMs: 0, cache: false,
  };
  const f = readFlags(argv, TORTURE_FLAGS);
  if (f.clients !== undefined) {
    o.clients = Number(f.clients);
    if (!Number.isInteger(o.clients) || o.clients < 1 || o.clients > TORTURE.clientsMax) throw new LockError('EINVAL', `--clients must be an integer from 1 to ${TORTURE.clientsMax}`);
  }
  if (f.duration !== undefined) o.durationMs = duration(f.duration, '--duration');
  if (f['restart-every'] !== undefined) o.restartEveryMs = duration(f['restart-every'], '--restart-every');
  if (f['state-dir'] !== undefined) o.stateDir = f['state-dir'];
  if (f['grace-ms'] !== undefined) o.graceMs = duration(`${f['grace-ms']}ms`, '--grace-ms');
  if (f.mode !== undefined) {
    const m = f.mode;
    if (m !== 'posix' && m !== 'dlm' && m !== 'mixed') throw new LockError('EINVAL', '--mode must be posix, dlm or mixed');
    o.mode = m;
  }
  if (f.json === true) o.json = true;
  if (f.cache === true) o.cache = true;
  if (f.cluster !== undefined) {
    o.cluster = Number(f.cluster);
    if (!Number.isInteger(o.cluster) || o.cluster < 2 || o.cluster > TORTURE.clusterNodesMax) throw new LockError('EINVAL', `--cluster must be an integer from 2 to ${TORTURE.clusterNodesMax}`);
  }
  for (const flag of ['kill-every', 'pause-every'] as const) {
    const v = f[flag];
    if (v === undefined) continue;
    const ms = v === '0' ? 0 : duration(v, `--${flag}`);
    if (flag === 'kill-every') o.killEveryMs = ms;
    else o.pauseEveryMs = ms;
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
  fenced = 0;
  private needSince: number | null = null;
  readonly startMs: number[] = [];

  /** `log`: a file every log line of every life of this server is appended to (the cluster's nodes keep theirs). */
  constructor(private readonly args: string[], private readonly log: WriteStream | null = null) {}

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
          this.log?.write(`${line}\n`);
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
    // A cluster node: its recoveries (need → lift) are the grace periods, and its self-fencing is counted.
    const t = Date.parse((l as { time?: string }).time ?? '');
    if (l.event === 'cluster-need' && this.needSince === null) this.needSince = t;
    if (l.event === 'cluster-lift' && this.needSince !== null) {
      this.graces.push({ ms: t - this.needSince, ended: (l as { why?: string }).why ?? 'unknown', reclaims: 0, missing: 0 });
      this.needSince = null;
    }
    if (l.event === 'cluster-fenced') this.fenced++;
    // Past the log's rate limit the refusals are counted in one line (log.ts).
    if (l.event === 'log-suppressed' && l.kind === 'reclaim-refused') this.reclaimsRefused += l.suppressed ?? 0;
    return l.event === 'listening';
  }

  async stop(signal: 'SIGKILL' | 'SIGTERM'): Promise<void> {
    const c = this.child;
    this.child = null;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGCONT'); // a paused node must see the signal
    c.kill(signal);
    await gone;
    // A grace in progress when it died never logged its end.
    this.graceActive = false;
    this.needSince = null;
  }
}

/** The workers: forked with an IPC channel; their latest counts kept. */
class Workers {
  readonly stats = new Map<number, WorkerStats>();
  private readonly children: ChildProcess[] = [];
  private readonly finals = new Set<number>();

  constructor(n: number, url: string | string[], dir: string, mode: TortureMode, cache: boolean, requestTimeoutMs?: number) {
    const script = fileURLToPath(new URL('./torture/worker.js', import.meta.url));
    for (let id = 1; id <= n; id++) {
      const cfg: WorkerConfig = { id, url, dir, mode, ...(cache ? { cache } : {}), ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }) };
      const child = fork(script, [JSON.stringify(cfg)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
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
  if (o.cluster > 0) return runClusterTorture(o, err);
  const { work, config } = prepareWork(o);
  const state = join(work, 'state');
  mkdirSync(state, { recursive: true });
  const port = await freePort();
  const cli = fileURLToPath(new URL('./cli.js', import.meta.url));
  const server = new ServerChild([cli, 'serve', '--port', String(port), '--config', config, '--state-dir', state]);
  await server.start();
  const workers = new Workers(o.clients, `http://127.0.0.1:${port}`, work, o.mode, o.cache);
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

/** The shared files and the servers' config, in a new directory (or `--state-dir`). */
function prepareWork(o: TortureOptions): { work: string; config: string } {
  const work = o.stateDir === null ? mkdtempSync(join(tmpdir(), 'lockscope-torture-')) : o.stateDir;
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, TORTURE.posixFile), Buffer.alloc(TORTURE.posixSlots * TORTURE.recordBytes, ' '));
  writeFileSync(join(work, TORTURE.dlmFile), Buffer.alloc(TORTURE.dlmSlots * TORTURE.recordBytes, ' '));
  const config = join(work, 'server.json');
  writeFileSync(config, JSON.stringify({
    domains: [{ name: TORTURE.posixDomain, kind: 'posix' }, { name: TORTURE.dlmDomain, kind: 'dlm' }], ...(o.graceMs === null ? {} : { graceMs: o.graceMs }),
  }));
  return { work, config };
}

/** An etcd of the run's own: data in the work directory, loopback ports, killed at the end. */
async function startEtcd(work: string): Promise<{ url: string; stop(): Promise<void> }> {
  const bin = ['/usr/bin/etcd', '/usr/local/bin/etcd'].find((p) => existsSync(p)) ?? 'etcd';
  const [port, peer] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(bin, [
    '--data-dir', join(work, 'etcd'), '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `default=http://127.0.0.1:${peer}`, '--log-level', 'error',
  ], { stdio: 'ignore' });
  const failed = new Promise<never>((_, reject) => child.once('error', () => reject(new LockError('ENOENT', 'etcd not found (Debian: apt-get install etcd-server)'))));
  failed.catch(() => {});
  const end = Date.now() + TORTURE.startTimeoutMs;
  for (;;) {
    const ok = await Promise.race([fetch(`${url}/health`).then((r) => r.ok, () => false), failed]);
    if (ok) break;
    if (Date.now() > end) throw new LockError('ETIMEDOUT', 'etcd did not start');
    await sleep(100);
  }
  return {
    url,
    stop: () => new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    }),
  };
}

/**
 * `--cluster N`: N nodes on one etcd, every worker a client of all of them;
 * every `killEveryMs` a random node is killed with SIGKILL and started again
 * (same name and port) once its lease has expired, every `pauseEveryMs` one
 * is stopped with SIGSTOP past its TTL and continued; one disruption at a
 * time, so a majority is always up.
 */
async function runClusterTorture(o: TortureOptions, err: NodeJS.WriteStream): Promise<TortureReport> {
  const { work, config } = prepareWork(o);
  const etcd = await startEtcd(work);
  const cli = fileURLToPath(new URL('./cli.js', import.meta.url));
  const nodes: ServerChild[] = [];
  const urls: string[] = [];
  try {
    for (let i = 1; i <= o.cluster; i++) {
      const port = await freePort();
      urls.push(`http://127.0.0.1:${port}`);
      nodes.push(new ServerChild([cli, 'serve', '--no-demo', '--port', String(port), '--config', config, '--etcd', etcd.url, '--node', `n${i}`,
        '--lease-ttl', String(TORTURE.clusterTtlSec), ...(o.graceMs === null ? [] : ['--grace-ms', String(o.graceMs)])],
        createWriteStream(join(work, `node-n${i}.log`))));
    }
    await Promise.all(nodes.map((n) => n.start()));
  } catch (e) {
    await Promise.all(nodes.map((n) => n.stop('SIGKILL')));
    await etcd.stop();
    throw e;
  }
  const workers = new Workers(o.clients, urls, work, o.mode, o.cache, TORTURE.clusterRequestTimeoutMs);
  const t0 = Date.now();
  let kills = 0;
  let pauses = 0;
  const tty = err.isTTY === true;
  const line = (): string => `${progress(t0, nodes[0]!, workers, kills + pauses)} (cluster: ${kills} kills, ${pauses} pauses)`;
  const ticker = setInterval(() => err.write(tty ? `\r${line()}   ` : `${line()}\n`), tty ? 1000 : 5000);
  const end = t0 + o.durationMs;
  try {
    let nextKill = o.killEveryMs > 0 ? t0 + o.killEveryMs : Infinity;
    let nextPause = o.pauseEveryMs > 0 ? t0 + o.pauseEveryMs : Infinity;
    while (Math.min(nextKill, nextPause) < end) {
      const kill = nextKill <= nextPause;
      await sleep(Math.max(0, (kill ? nextKill : nextPause) - Date.now()));
      const victim = nodes[Math.floor(Math.random() * nodes.length)]!;
      if (kill) {
        await victim.stop('SIGKILL');
        // The same name joins again only once etcd has expired the dead process's lease.
        await sleep(TORTURE.clusterTtlSec * 1000 + 500);
        for (let attempt = 0; ; attempt++) {
          try {
            await victim.start();
            break;
          } catch (e) {
            if (attempt >= 5) throw e;
            await sleep(1000);
          }
        }
        kills++;
        nextKill += o.killEveryMs;
      } else {
        victim.child?.kill('SIGSTOP');
        await sleep(TORTURE.pauseMs);
        victim.child?.kill('SIGCONT');
        pauses++;
        nextPause += o.pauseEveryMs;
      }
    }
    await sleep(Math.max(0, end - Date.now()));
    const stuck = await workers.stop();
    const server = {
      graces: nodes.flatMap((n) => n.graces), reclaimsRefused: nodes.reduce((a, n) => a + n.reclaimsRefused, 0), startMs: nodes.flatMap((n) => n.startMs),
    };
    const report = summarize({ options: o, workDir: work, elapsedMs: Date.now() - t0, restarts: kills, workers: [...workers.stats.values()], stuck, server });
    report.cluster = { nodes: o.cluster, kills, pauses, fenced: nodes.reduce((a, n) => a + n.fenced, 0) };
    return report;
  } finally {
    clearInterval(ticker);
    if (tty) err.write('\n');
    await Promise.all(nodes.map((n) => n.stop('SIGTERM')));
    await etcd.stop();
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
