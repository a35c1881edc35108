// Cluster benchmark, two parts, each side by side in one run:
//
// 1. The cluster's cost on the lock path: lock + unlock cycles per second of
//    the same clients and workloads as bench/server.js against one lockscope
//    node, a three-node cluster (each client talks to each resource's master
//    directly) and etcd's own lock (the etcd3 client's, on the same etcd the
//    cluster uses). Goal: the cluster at 0.9× a single node or better.
// 2. Failover: CLIENTS clients hold LOCKS locks each, all mastered by one
//    node; the node is killed with SIGKILL; the time to the first new grant on
//    a remastered resource, and its parts: detection (a survivor adopts the
//    view without the node), remastering (every survivor holds a fresh token
//    block for it), reclaim (every client's locks re-established on the new
//    masters), lift (the grace ends). Goal: under the lease TTL + 2 s.
//
//   npm run build && node bench/cluster.js [--quick] [--no-failover] [--no-throughput] [--clients N] [--locks N]
//
// Needs etcd on PATH (Debian: apt-get install etcd-server).
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterSystem, startCluster } from './lib/cluster-peers.js';
import { systems } from './lib/server-peers.js';
import { fmt, measureRounds, median } from './lib/throughput.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const RUN_MS = QUICK ? 1000 : 3000;
const WARM_MS = QUICK ? 200 : 500;
const ROUNDS = QUICK ? 1 : 3;
const option = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
};
const CLIENTS = option('--clients', QUICK ? 100 : 1000);
const LOCKS = option('--locks', QUICK ? 20 : 100);
const TTL_SEC = 5; // the default lease TTL

const WORKLOADS = [
  { id: 'one', label: '1 worker', workers: 1, key: () => 'k' },
  { id: 'distinct', label: '64 workers, distinct keys', workers: 64, key: (i) => `k${i}` },
  { id: 'hot', label: '64 workers, one hot key', workers: 64, key: () => 'hot' },
];

const SYSTEMS = [
  { name: '1 node', start: () => systems.lockscope({ stacks: true, shared: false }) },
  { name: '3 nodes', start: () => clusterSystem({ nodes: 3, stacks: true }) },
  { name: 'etcd lock', start: () => systems.etcd({ retryMs: 1 }) },
];

async function throughput() {
  const samples = await measureRounds(SYSTEMS, WORKLOADS, { rounds: ROUNDS, warmMs: WARM_MS, runMs: RUN_MS, nameWidth: 10, cpu: false });
  const get = (name, id) => {
    const xs = samples.get(`${name}|${id}`);
    return xs === undefined ? null : median(xs.map((x) => x.ops));
  };
  const ratio = (a, b) => (a === null || b === null || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}×`);
  console.log('\nlock + unlock cycles per second (median)');
  console.log(`${'workload'.padEnd(28)}${SYSTEMS.map((s) => s.name.padStart(12)).join('')}${'3 nodes ÷ 1'.padStart(14)}${'goal'.padStart(12)}${'3 nodes ÷ etcd'.padStart(16)}`);
  for (const wl of WORKLOADS) {
    const cells = SYSTEMS.map((s) => {
      const v = get(s.name, wl.id);
      return (v === null ? 'n/a' : fmt(v)).padStart(12);
    }).join('');
    const [one, three, etcd] = [get('1 node', wl.id), get('3 nodes', wl.id), get('etcd lock', wl.id)];
    const met = one === null || three === null ? 'n/a' : three / one >= 0.9 ? '≥0.9 met' : '≥0.9 MISSED';
    console.log(`${wl.label.padEnd(28)}${cells}${ratio(three, one).padStart(14)}${met.padStart(12)}${ratio(three, etcd).padStart(16)}`);
  }
}

/** Lost locks counted by the code that refused their reclaim. */
function codes(lost) {
  const by = {};
  for (const l of lost) by[l.code] = (by[l.code] ?? 0) + 1;
  return by;
}

async function failover() {
  const { connect } = await import(path.join(root, 'dist/client/index.js'));
  const { Rendezvous, resourceKey } = await import(path.join(root, 'dist/src/rendezvous.js'));
  const cluster = await startCluster({ nodes: 3, ttlSec: TTL_SEC, graceMs: 60_000 });
  const clients = [];
  try {
    const ring = new Rendezvous(cluster.nodes.map((n) => ({ name: n.name, weight: 1 })));
    const victim = cluster.nodes[2];
    const urls = cluster.nodes.map((n) => n.url);
    const onVictim = (prefix, count) => {
      const out = [];
      for (let i = 0; out.length < count; i++) if (ring.master(resourceKey('bench', `${prefix}${i}`)) === victim.name) out.push(`${prefix}${i}`);
      return out;
    };
    const names = onVictim('r', CLIENTS * LOCKS);
    const [probe] = onVictim('probe-', 1);
    // Spread over the nodes as an application's processes would be: each attached to one, talking to every master.
    const t0 = Date.now();
    for (let c = 0; c < CLIENTS; c++) {
      clients.push(await connect([...urls.slice(c % 3), ...urls.slice(0, c % 3)], { name: `c${c}`, stacks: false }));
      if ((c + 1) % 100 === 0) console.log(`  ${c + 1} clients connected (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
    const reports = clients.map(() => null);
    const early = [];
    let killedAt = Infinity;
    clients.forEach((c, i) => c.on('reclaim', (r) => {
      if (Date.now() < killedAt) early.push(r); // a failover before the kill: a node fenced itself under the load
      else reports[i] = { at: Date.now(), r };
    }));
    await Promise.all(clients.map(async (c, i) => {
      const o = c.owner('holder');
      for (let k = 0; k < LOCKS; k++) {
        await o.lock('bench', names[i * LOCKS + k], 'EX').catch((err) => {
          throw new Error(`client ${i}, lock ${k}: ${err.message}`, { cause: err });
        });
      }
    }));
    console.log(`${CLIENTS} clients hold ${CLIENTS * LOCKS} locks mastered by ${victim.name} (taken in ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    // The prober has used the victim before (as the holders have): its request goes there first, as a real client's would.
    const prober = await connect(urls.slice(0, 2), { name: 'prober', stacks: false });
    clients.push(prober);
    await (await prober.owner('p').lock('bench', onVictim('warm-', 1)[0], 'EX')).release();

    const fencedBefore = cluster.nodes.flatMap((n) => n.events('cluster-fenced').map(() => n.name));
    if (early.length > 0 || fencedBefore.length > 0) {
      const lostEarly = early.flatMap((r) => r.lost);
      writeFileSync('/tmp/lockscope-cluster-bench-nodes.json', JSON.stringify(cluster.nodes.map((n) => ({ name: n.name, lines: n.lines.filter((l) => /cluster|reclaim|fence/.test(l.event)) }))));
      console.log(`before the kill: nodes fenced [${fencedBefore.join(', ')}], ${early.reduce((n, r) => n + r.reclaimed, 0)} locks moved, ${lostEarly.length} lost ${JSON.stringify(codes(lostEarly))}`);
    }
    killedAt = Date.now();
    await victim.kill();
    const probeLock = await prober.owner('p').lock('bench', probe, 'EX', { timeoutMs: 120_000 });
    const grantedAt = Date.now();
    const deadline = Date.now() + 120_000;
    while (reports.some((r) => r === null) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await probeLock.release();
    const survivors = cluster.nodes.filter((n) => n !== victim);
    const t = (l) => Date.parse(l.time);
    const views = survivors.map((n) => n.events('cluster-view').find((l) => (l.departed ?? []).includes(victim.name)));
    const viewAt = Math.min(...views.filter(Boolean).map(t));
    const generation = views.find(Boolean)?.generation;
    const readyAt = Math.max(...survivors.map((n) => t(n.events('cluster-ready').find((l) => l.generation === generation) ?? { time: 'NaN' })));
    const lifts = survivors.map((n) => n.events('cluster-lift').at(-1)).filter(Boolean);
    const liftAt = Math.max(...lifts.map(t));
    const reclaimedAt = Math.max(...reports.filter(Boolean).map((x) => x.at));
    const reclaimed = reports.reduce((n, x) => n + (x?.r.reclaimed ?? 0), 0);
    const lostList = reports.flatMap((x) => x?.r.lost ?? []);
    const lost = lostList.length;
    if (lost > 0) writeFileSync('/tmp/lockscope-cluster-bench-nodes.json', JSON.stringify(cluster.nodes.map((n) => ({ name: n.name, lines: n.lines.filter((l) => /cluster|reclaim|fence/.test(l.event)) }))));
    const ms = (x) => `${(x / 1000).toFixed(2)} s`;
    console.log(`\nfailover of ${victim.name} (lease TTL ${TTL_SEC} s): ${reclaimed} locks reclaimed, ${lost} lost ${JSON.stringify(codes(lostList))}, ${reports.filter((r) => r === null).length} clients without a report`);
    console.log(`  detection   (SIGKILL → a survivor adopts the view without it)     ${ms(viewAt - killedAt)}`);
    console.log(`  remastering (→ every survivor holds a fresh token block for it)    ${ms(readyAt - killedAt)}`);
    console.log(`  reclaim     (→ the last client's locks are on the new masters)     ${ms(reclaimedAt - killedAt)}`);
    console.log(`  lift        (→ the grace ends: ${lifts.map((l) => l.why).join(', ')})${' '.repeat(Math.max(1, 31 - lifts.map((l) => l.why).join(', ').length))}${ms(liftAt - killedAt)}`);
    console.log(`  first new grant on a remastered resource                           ${ms(grantedAt - killedAt)}   goal < ${TTL_SEC + 2} s: ${grantedAt - killedAt < (TTL_SEC + 2) * 1000 ? 'met' : 'MISSED'}`);
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await cluster.stop();
  }
}

async function main() {
  console.log(`node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; ${RUN_MS} ms per sample, ${ROUNDS} round(s), median`);
  if (!args.has('--no-throughput')) await throughput();
  if (!args.has('--no-failover')) await failover();
}

main().then(() => process.exit(0), (err) => {
  console.error(err);
  process.exit(1);
});
