// Diagnosis across a cluster (issue 16), three parts, each side by side in one run:
//
// 1. Cross-node deadlocks: a cycle of length 2 and of length 10 whose waits
//    are spread over three nodes, with 10,000 other waits (not in any cycle)
//    spread over the nodes too; the time from sending the wait that closes
//    the cycle to the victim's EDEADLK, with the cluster's default detector
//    settings. Goal: under 2 s (median). Beside it, the same cycle with every
//    resource on one node (that node's own detector finds it at once): what
//    the distance costs.
// 2. The detector's cost on the lock path: bench/server.js's workloads on a
//    three-node cluster with the detector at its default interval and with
//    it passing once a minute (no pass during a sample). Goal: ≤ 10% slower.
// 3. A cluster hang-dump of 3 nodes × 30,000 held locks (POST /api/dumps on
//    one node), beside a one-node dump of 30,000 locks. Goal: under 3 s.
//
//   npm run build && node bench/cluster-diag.js [--quick] [--no-cycles] [--no-cost] [--no-dump]
//
// Needs etcd on PATH (Debian: apt-get install etcd-server).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterSystem, startCluster } from './lib/cluster-peers.js';
import { freePort } from './lib/server-peers.js';
import { fmt, measureRounds, median } from './lib/throughput.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const REPEATS = QUICK ? 3 : 7;
const OTHER_WAITS = QUICK ? 2_000 : 10_000;
const DUMP_LOCKS = QUICK ? 5_000 : 30_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const { connect } = await import(path.join(root, 'dist/client/index.js'));
const { Rendezvous, resourceKey } = await import(path.join(root, 'dist/src/rendezvous.js'));

/** `count` resource names of `domain`, the i-th mastered on `want(i)` among `members`. */
function namesOn(members, want, count, prefix, domain = 'bench') {
  const ring = new Rendezvous(members.map((name) => ({ name, weight: 1 })));
  const out = [];
  for (let n = 0; out.length < count; n++) {
    const r = `${prefix}${n}`;
    if (ring.master(resourceKey(domain, r)) === want(out.length)) out.push(r);
  }
  return out;
}

/** Many requests at once, at most `width` in flight. */
async function pooled(items, width, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (i < items.length) {
      const k = i++;
      await fn(items[k], k);
    }
  }));
}

/** 10,000 waits in no cycle: per node, holders each hold one resource and ten waiters queue behind each. */
async function backgroundWaits(urls, members) {
  const holders = OTHER_WAITS / 10;
  const clients = await Promise.all(Array.from({ length: 10 }, (_, i) => connect(urls, { name: `bg-${i}`, stacks: true })));
  const resources = namesOn(members, (i) => members[i % members.length], holders, 'bg-');
  await pooled(resources, 64, async (r, i) => {
    await clients[i % clients.length].owner(`holder-${i}`).lock('bench', r, 'EX');
  });
  const waits = [];
  for (let w = 0; w < 10; w++) {
    for (let i = 0; i < holders; i++) {
      waits.push(clients[w].owner(`waiter-${w}-${i}`).lock('bench', resources[i], 'EX').catch(() => {}));
    }
  }
  await sleep(2000); // every wait queued on its master
  return { clients, waits: waits.length, close: () => Promise.all(clients.map((c) => c.close())) };
}

/**
 * A ring of `len` owners (one client each) over resources mastered on
 * `nodeOf(i)`: owner i holds resource i, then asks for resource i + 1; the
 * last ask closes the cycle. Resolves with ms from that ask to the first
 * EDEADLK, and cleans up.
 */
async function ringOnce(urls, members, len, nodeOf, tag) {
  const resources = namesOn(members, nodeOf, len, `ring-${tag}-`);
  const clients = await Promise.all(resources.map((_, i) => connect(urls, { name: `ring-${tag}-${i}`, stacks: true })));
  const owners = clients.map((c, i) => c.owner(`ring-${i}`));
  const held = await Promise.all(owners.map((o, i) => o.lock('bench', resources[i], 'EX')));
  const asks = [];
  for (let i = 0; i < len - 1; i++) asks.push(owners[i].lock('bench', resources[i + 1], 'EX'));
  await sleep(300); // the open chain is in place on every node
  const started = performance.now();
  asks.push(owners[len - 1].lock('bench', resources[0], 'EX'));
  const victim = await Promise.race(asks.map((p, i) => p.then(() => null, (err) => ({ i, err }))).map((p) => p.then((v) => v ?? new Promise(() => {}))));
  const ms = performance.now() - started;
  if (victim.err.code !== 'EDEADLK') throw new Error(`expected EDEADLK, got ${victim.err.code}`);
  // Unwind: the victim lets go, the ring drains.
  await held[victim.i].release();
  for (let k = 1; k < len; k++) {
    const i = (victim.i - k + len) % len;
    const got = await asks[i];
    await got.release();
    await held[i].release();
  }
  await Promise.all(clients.map((c) => c.close()));
  return ms;
}

async function cycles() {
  const cluster = await startCluster({ nodes: 3 });
  try {
    const urls = cluster.nodes.map((n) => n.url);
    const members = cluster.nodes.map((n) => n.name);
    const bg = await backgroundWaits(urls, members);
    console.log(`\ncross-node cycles: 3 nodes, ${bg.waits} other waits queued; detector at its defaults; ${REPEATS} runs each, ms from the closing wait to the victim's EDEADLK`);
    console.log(`${'cycle'.padEnd(34)}${'median'.padStart(10)}${'min'.padStart(10)}${'max'.padStart(10)}${'goal < 2000'.padStart(14)}`);
    const rows = [
      { label: 'length 2, across n1, n2', len: 2, nodeOf: (i) => members[i % 2] },
      { label: 'length 2, all on n1 (local)', len: 2, nodeOf: () => members[0] },
      { label: 'length 10, across 3 nodes', len: 10, nodeOf: (i) => members[i % 3] },
      { label: 'length 10, all on n1 (local)', len: 10, nodeOf: () => members[0] },
    ];
    for (const row of rows) {
      const times = [];
      for (let k = 0; k < REPEATS; k++) times.push(await ringOnce(urls, members, row.len, row.nodeOf, `${row.len}-${k}-${row.label.includes('local') ? 'l' : 'x'}`));
      const m = median(times);
      const met = row.label.includes('local') ? '' : m < 2000 ? 'met' : 'MISSED';
      console.log(`${row.label.padEnd(34)}${m.toFixed(0).padStart(10)}${Math.min(...times).toFixed(0).padStart(10)}${Math.max(...times).toFixed(0).padStart(10)}${met.padStart(14)}`);
    }
    await bg.close();
  } finally {
    await cluster.stop();
  }
}

const WORKLOADS = [
  { id: 'one', label: '1 worker', workers: 1, key: () => 'k' },
  { id: 'distinct', label: '64 workers, distinct keys', workers: 64, key: (i) => `k${i}` },
  { id: 'hot', label: '64 workers, one hot key', workers: 64, key: () => 'hot' },
];

async function cost() {
  const SYSTEMS = [
    { name: 'detector on', start: () => clusterSystem({ nodes: 3, stacks: true }) },
    { name: 'detector 60 s', start: () => clusterSystem({ nodes: 3, stacks: true, config: { clusterDeadlock: { intervalMs: 60_000 } } }) },
  ];
  const samples = await measureRounds(SYSTEMS, WORKLOADS, { rounds: QUICK ? 2 : 4, warmMs: QUICK ? 200 : 500, runMs: QUICK ? 1000 : 3000, nameWidth: 14, cpu: false });
  const get = (name, id) => median((samples.get(`${name}|${id}`) ?? []).map((x) => x.ops));
  console.log('\nthe detector on the lock path: lock + unlock cycles per second on 3 nodes (median)');
  console.log(`${'workload'.padEnd(28)}${'detector on'.padStart(14)}${'every 60 s'.padStart(14)}${'on ÷ off'.padStart(12)}${'goal ≥ 0.9'.padStart(12)}`);
  for (const wl of WORKLOADS) {
    const [on, off] = [get('detector on', wl.id), get('detector 60 s', wl.id)];
    const r = on / off;
    console.log(`${wl.label.padEnd(28)}${fmt(on).padStart(14)}${fmt(off).padStart(14)}${`${r.toFixed(2)}×`.padStart(12)}${(r >= 0.9 ? 'met' : 'MISSED').padStart(12)}`);
  }
}

/** One `lockscope serve` without a cluster, with a dump directory, for the one-node dump. */
async function singleNode() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lockscope-diag-bench-'));
  const config = path.join(dir, 'config.json');
  writeFileSync(config, JSON.stringify({ domains: [{ name: 'bench', kind: 'dlm' }], leaseMs: 10_000 }));
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(root, 'dist/server/cli.js'), 'serve', '--no-demo', '--port', String(port), '--config', config, '--dumps', path.join(dir, 'dumps')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let t = 0; t < 200; t++) {
    if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) break;
    await sleep(50);
  }
  return {
    url,
    async stop() {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `perNode` held locks on each of `members` (all of them: a one-node server is `[null]`), by 100 owners over 10 clients. */
async function fill(urls, members, perNode) {
  const clients = await Promise.all(Array.from({ length: 10 }, (_, i) => connect(urls, { name: `fill-${i}`, stacks: true })));
  const owners = clients.flatMap((c, i) => Array.from({ length: 10 }, (_, j) => c.owner(`fill-${i}-${j}`)));
  const names = members[0] === null
    ? Array.from({ length: perNode }, (_, i) => `d-${i}`)
    : namesOn(members, (i) => members[i % members.length], perNode * members.length, 'd-');
  await pooled(names, 256, (r, i) => owners[i % owners.length].lock('bench', r, 'EX'));
  return { clients, locks: names.length };
}

/** Dumps taken one after the other; with `dir`, each archive is read back and must hold every node (none missing). */
async function timeDump(url, dir = null, nodes = 1) {
  const { readDump } = await import(path.join(root, 'dist/collectors/read-archive.js'));
  const times = [];
  for (let k = 0; k < (QUICK ? 2 : 5); k++) {
    const t = performance.now();
    const res = await fetch(`${url}/api/dumps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    if (!res.ok) throw new Error(`dump: HTTP ${res.status} ${await res.text()}`);
    times.push(performance.now() - t);
    if (dir !== null) {
      const { id } = await res.json();
      const file = readdirSync(dir).find((f) => f.startsWith(id));
      const dump = await readDump(path.join(dir, file));
      const locks = [...dump.files.keys()].filter((f) => /locks\/bench\.json$/.test(f)).length;
      if (dump.manifest.nodes.length !== nodes || locks !== nodes) {
        console.log(`  dump ${k + 1}: nodes ${dump.manifest.nodes.join(', ')}, missing ${(dump.manifest.missingNodes ?? []).join(', ') || 'none'}, lock files ${locks}, errors ${JSON.stringify(dump.manifest.errors)}`);
        times[times.length - 1] = Number.NaN; // not a whole cluster dump: not counted as one
      }
    }
  }
  return times.filter((x) => !Number.isNaN(x));
}

async function dumps() {
  const one = await singleNode();
  const single = await fill([one.url], [null], DUMP_LOCKS);
  const oneTimes = await timeDump(one.url);
  await Promise.all(single.clients.map((c) => c.close()));
  await one.stop();

  const cluster = await startCluster({ nodes: 3, dumps: true });
  try {
    const urls = cluster.nodes.map((n) => n.url);
    const filled = await fill(urls, cluster.nodes.map((n) => n.name), DUMP_LOCKS);
    const clusterTimes = await timeDump(cluster.nodes[0].url, path.join(cluster.dir, `dumps-${cluster.nodes[0].name}`), 3);
    if (clusterTimes.length === 0) throw new Error('no cluster dump held every node');
    console.log(`\nhang-dump (POST /api/dumps), ms, median of ${oneTimes.length} (cluster: of the ${clusterTimes.length} that held every node)`);
    console.log(`${'dump'.padEnd(36)}${'median'.padStart(10)}${'min'.padStart(10)}${'max'.padStart(10)}${'goal < 3000'.padStart(14)}`);
    const row = (label, xs, goal) => console.log(`${label.padEnd(36)}${median(xs).toFixed(0).padStart(10)}${Math.min(...xs).toFixed(0).padStart(10)}${Math.max(...xs).toFixed(0).padStart(10)}${goal.padStart(14)}`);
    row(`1 node, ${single.locks} locks`, oneTimes, '');
    row(`3 nodes, ${filled.locks} locks`, clusterTimes, median(clusterTimes) < 3000 ? 'met' : 'MISSED');
    console.log(`cluster ÷ one node: ${(median(clusterTimes) / median(oneTimes)).toFixed(2)}×`);
    await Promise.all(filled.clients.map((c) => c.close()));
  } finally {
    await cluster.stop();
  }
}

console.log(`cluster diagnosis bench, ${new Date().toISOString()}, node ${process.version}, ${os.cpus().length} cpus${QUICK ? ', --quick' : ''}`);
if (!args.has('--no-cycles')) await cycles();
if (!args.has('--no-cost')) await cost();
if (!args.has('--no-dump')) await dumps();
process.exit(0);
