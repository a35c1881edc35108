/**
 * The processes of a torture run (torture.ts): the lock server, or each node
 * of a cluster, started, killed and started again, with what its log lines
 * say (graces, refused reclaims, fencing); the worker processes
 * (worker.ts), forked with an IPC channel, their latest counts kept; and an
 * etcd of the run's own for `--cluster`. Each is stopped by the run that
 * started it.
 */

import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, type WriteStream } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LockError } from '../../src/index.js';
import type { GraceRecord } from './report.js';
import { TORTURE, type TortureMode, type WorkerConfig, type WorkerMessage, type WorkerStats } from './shared.js';

/** A loopback port free now (closed again at once), for a child to listen on. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The lock server child: started, killed with SIGKILL, started again; its grace log lines collected. */
export class ServerChild {
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
export class Workers {
  readonly stats = new Map<number, WorkerStats>();
  private readonly children: ChildProcess[] = [];
  private readonly finals = new Set<number>();

  constructor(n: number, url: string | string[], dir: string, mode: TortureMode, cache: boolean, requestTimeoutMs?: number) {
    const script = fileURLToPath(new URL('./worker.js', import.meta.url));
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

/** An etcd of the run's own: data in the work directory, loopback ports, killed at the end. */
export async function startEtcd(work: string): Promise<{ url: string; stop(): Promise<void> }> {
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
