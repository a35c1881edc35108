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
 *
 * This file runs the schedule; the flags are torture/options.ts, the
 * processes it starts and stops torture/processes.ts, the figures and the
 * verdict torture/report.ts.
 */

import { createWriteStream, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TORTURE } from './torture/shared.js';
import { freePort, ServerChild, sleep, startEtcd, Workers } from './torture/processes.js';
import { formatReport, summarize, type TortureReport } from './torture/report.js';
import { parseTortureArgs, TORTURE_USAGE, type TortureOptions } from './torture/options.js';

export { parseTortureArgs, TORTURE_USAGE, type TortureOptions } from './torture/options.js';

/** The progress line written to stderr while the run goes on. */
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
  const { nodes, urls } = await startNodes(o, work, config, etcd);
  const workers = new Workers(o.clients, urls, work, o.mode, o.cache, TORTURE.clusterRequestTimeoutMs);
  const t0 = Date.now();
  const done = { kills: 0, pauses: 0 };
  const tty = err.isTTY === true;
  const line = (): string => `${progress(t0, nodes[0]!, workers, done.kills + done.pauses)} (cluster: ${done.kills} kills, ${done.pauses} pauses)`;
  const ticker = setInterval(() => err.write(tty ? `\r${line()}   ` : `${line()}\n`), tty ? 1000 : 5000);
  const end = t0 + o.durationMs;
  try {
    await disrupt(o, nodes, t0, end, done);
    await sleep(Math.max(0, end - Date.now()));
    const stuck = await workers.stop();
    const server = {
      graces: nodes.flatMap((n) => n.graces), reclaimsRefused: nodes.reduce((a, n) => a + n.reclaimsRefused, 0), startMs: nodes.flatMap((n) => n.startMs),
    };
    const report = summarize({ options: o, workDir: work, elapsedMs: Date.now() - t0, restarts: done.kills, workers: [...workers.stats.values()], stuck, server });
    report.cluster = { nodes: o.cluster, kills: done.kills, pauses: done.pauses, fenced: nodes.reduce((a, n) => a + n.fenced, 0) };
    return report;
  } finally {
    clearInterval(ticker);
    if (tty) err.write('\n');
    await Promise.all(nodes.map((n) => n.stop('SIGTERM')));
    await etcd.stop();
  }
}

/** The cluster's nodes n1…nN on the run's etcd, each logging to its own file; a node that fails to start stops them all, and the etcd. */
async function startNodes(
  o: TortureOptions, work: string, config: string, etcd: { url: string; stop(): Promise<void> },
): Promise<{ nodes: ServerChild[]; urls: string[] }> {
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
  return { nodes, urls };
}

/** The kills and pauses of a cluster run, one at a time, until `end`; counted in `done` as they happen (the progress line reads it). */
async function disrupt(o: TortureOptions, nodes: ServerChild[], t0: number, end: number, done: { kills: number; pauses: number }): Promise<void> {
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
      done.kills++;
      nextKill += o.killEveryMs;
    } else {
      victim.child?.kill('SIGSTOP');
      await sleep(TORTURE.pauseMs);
      victim.child?.kill('SIGCONT');
      done.pauses++;
      nextPause += o.pauseEveryMs;
    }
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
