// A lockscope cluster for the benchmarks: one etcd and N `lockscope serve
// --etcd` nodes, each its own process on loopback, with the nodes' JSON log
// lines kept (the failover bench reads the times of their cluster events).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './server-peers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(check, ms, what) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(50);
  }
}

function spawnLogged(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  let buf = '';
  child.stdout.on('data', (d) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        lines.push(JSON.parse(line));
      } catch {
        // not a log line
      }
    }
  });
  child.stderr.on('data', () => {});
  return { child, lines };
}

/** etcd and `nodes` lockscope nodes (names n1…), every node a member of one view when this resolves. */
export async function startCluster({ nodes = 3, ttlSec = 2, graceMs = 30_000, domains = [{ name: 'bench', kind: 'dlm' }], config: more = {}, dumps = false } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lockscope-cluster-bench-'));
  const [port, peer] = [await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${port}`;
  const etcd = spawn('etcd', [
    '--data-dir', path.join(dir, 'etcd'), '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `default=http://127.0.0.1:${peer}`, '--log-level', 'error',
  ], { stdio: 'ignore' });
  await until(async () => (await fetch(`${etcdUrl}/health`).then((r) => r.json()).catch(() => ({}))).health === 'true', 15_000, 'etcd');
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ domains, leaseMs: 10_000, ...more }));
  const members = [];
  for (let i = 1; i <= nodes; i++) {
    const name = `n${i}`;
    const p = await freePort();
    const url = `http://127.0.0.1:${p}`;
    const args = [path.join(root, 'dist/server/cli.js'), 'serve', '--no-demo', '--port', String(p), '--config', config,
      '--etcd', etcdUrl, '--node', name, '--lease-ttl', String(ttlSec), '--grace-ms', String(graceMs),
      ...(dumps ? ['--dumps', path.join(dir, `dumps-${name}`)] : [])];
    const { child, lines } = spawnLogged(process.execPath, args);
    members.push({
      name, url, child, lines,
      events: (e) => lines.filter((l) => l.event === e),
      async kill() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await gone;
      },
    });
  }
  const status = (m) => fetch(`${m.url}/api/cluster`).then((r) => r.json()).catch(() => ({}));
  await until(async () => {
    const s = await Promise.all(members.map(status));
    return s.every((x) => x.members?.filter((m) => m.inView).length === nodes && x.generation === s[0].generation && !x.grace?.inGrace);
  }, 30_000, 'the cluster\'s members');
  return {
    etcdUrl,
    dir,
    nodes: members,
    status,
    async stop() {
      await Promise.all(members.map((m) => m.kill()));
      await new Promise((r) => {
        if (etcd.exitCode !== null) return r();
        etcd.once('exit', r);
        etcd.kill('SIGKILL');
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The cluster as a system of the throughput bench (lib/throughput.js): every worker a client of all nodes. */
export async function clusterSystem({ nodes = 3, stacks = true, config = {} } = {}) {
  const cluster = await startCluster({ nodes, config });
  const { connect } = await import(path.join(root, 'dist/client/index.js'));
  const urls = cluster.nodes.map((n) => n.url);
  return {
    pid: null, // several processes: the CPU columns are left out
    cluster,
    async newWorker(key) {
      const client = await connect(urls, { name: 'bench', stacks });
      const owner = client.owner('worker');
      let held = null;
      return {
        async lock() { held = await owner.lock('bench', key, 'EX'); },
        async unlock() { await held.release(); },
        close: () => client.close(),
      };
    },
    stop: () => cluster.stop(),
  };
}
