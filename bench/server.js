// Server benchmark: lock + unlock cycles per second over loopback, lockscope's
// lock server against Redis (SET NX PX + compare-and-delete, the standard
// single-instance lock) and etcd (the etcd3 client's lock), and against three
// references: a FIFO lock server with no features over bare socket.io, a
// plain WebSocket and plain TCP (lib/bare-lock-server.js), which show what
// the transport and the machine allow. Each system runs as its own process,
// started and stopped here; every worker has its own connection, as
// separate processes would.
//
//   npm run build && node bench/server.js [--quick] [--no-etcd] [--systems=name,name]
//
// Needs redis-server and etcd on PATH (Debian: apt-get install redis-server
// etcd-server) and the ioredis, etcd3 and ws packages (dev dependencies).
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { systems } from './lib/server-peers.js';
import { fmt, measureRounds, median } from './lib/throughput.js';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const RUN_MS = QUICK ? 1000 : 3000;
const WARM_MS = QUICK ? 200 : 500;
const ROUNDS = QUICK ? 1 : 3;
// Redis and etcd3 waiters spin; a short retry is the kindest setting for them on a hot key.
const RETRY_MS = 1;
// Cached grants' goals (issue 19): the ratio to Redis of the named lockscope row.
const ISSUE_GOALS = {
  own: { system: 'lockscope cached', x: 20 },
  distinct: { system: 'lockscope cached', x: 10 },
  hot: { system: 'lockscope cached', x: 4 },
  fresh: { system: 'lockscope', x: 1 },
};

let freshRun = 0;
const WORKLOADS = [
  { id: 'one', label: '1 worker, one key', workers: 1, key: () => 'k' },
  { id: 'own', label: '1 worker, its 1,000 keys', workers: 1, key: (i) => (n) => `w${i}-${n % 1000}` },
  { id: 'distinct', label: '64 workers, distinct keys', workers: 64, key: (i) => `k${i}` },
  { id: 'hot', label: '64 workers, one hot key', workers: 64, key: () => 'hot' },
  // Every lock on a key never used before (no cache can help); a new prefix per worker made, so no run reuses one.
  { id: 'fresh', label: '1 worker, a new key each', workers: 1, key: (i) => { const run = ++freshRun; return (n) => `f${run}-${i}-${n}`; } },
];

const ALL_SYSTEMS = [
  { name: 'lockscope', start: () => systems.lockscope({ stacks: true, shared: false }) },
  // The same client on the socket.io transport (the default is the plain WebSocket one: client/transport.ts).
  { name: 'lockscope socket.io', start: () => systems.lockscope({ stacks: true, shared: false, transport: 'socket.io' }) },
  // Cached grants (client/cache.ts), default settings: a released lock stays granted for its owner's next request.
  { name: 'lockscope cached', start: () => systems.lockscope({ stacks: true, shared: false, cache: true }) },
  { name: 'lockscope 1 conn', start: () => systems.lockscope({ stacks: true, shared: true }) },
  // The same with cached grants: the workers are owners of one client and take turns in it (client/cache.ts, C9).
  { name: 'lockscope 1 conn cached', start: () => systems.lockscope({ stacks: true, shared: true, cache: true }) },
  // The in-process core in this process: what no network is in the way of.
  { name: 'in-process core', start: () => systems.core() },
  { name: 'redis', start: () => systems.redis({ retryMs: RETRY_MS }) },
  // References: a FIFO lock server with no features, over bare socket.io, a plain WebSocket and plain TCP (bench/lib/bare-lock-server.js).
  { name: 'bare socket.io', start: () => systems.bare({ transport: 'socketio' }) },
  { name: 'bare ws', start: () => systems.bare({ transport: 'ws' }) },
  { name: 'bare TCP', start: () => systems.bare({ transport: 'tcp' }) },
  ...(args.has('--no-etcd') ? [] : [{ name: 'etcd', start: () => systems.etcd({ retryMs: RETRY_MS }) }]),
];

/** --systems=a,b: only the systems named (as in the tables' headers), for a focused comparison. */
const ONLY = [...args].find((a) => a.startsWith('--systems='))?.slice('--systems='.length).split(',');
const SYSTEMS = ONLY === undefined ? ALL_SYSTEMS : ALL_SYSTEMS.filter((s) => ONLY.includes(s.name));

/**
 * etcd's rows run in a process of their own (this file with --only-etcd):
 * the etcd3 client (grpc) leaves work behind in its process after it
 * closes, and every row measured later in the same process paid a few µs
 * more per cycle for it (bench/README.md, "Cached grants").
 */
const ONLY_ETCD = args.has('--only-etcd');

async function main() {
  if (ONLY_ETCD) {
    const etcd = SYSTEMS.filter((s) => s.name === 'etcd');
    const samples = await measureRounds(etcd, WORKLOADS, { rounds: ROUNDS, warmMs: WARM_MS, runMs: RUN_MS });
    console.log(`SAMPLES ${JSON.stringify([...samples])}`);
    return;
  }
  console.log(`node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; ${RUN_MS} ms per sample, ${ROUNDS} round(s), median`);
  const samples = await measureRounds(SYSTEMS.filter((s) => s.name !== 'etcd'), WORKLOADS, { rounds: ROUNDS, warmMs: WARM_MS, runMs: RUN_MS });
  if (SYSTEMS.some((s) => s.name === 'etcd')) {
    const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--only-etcd', ...(QUICK ? ['--quick'] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    for (const line of child.stdout.split('\n')) {
      if (line.startsWith('SAMPLES ')) for (const [k, v] of JSON.parse(line.slice(8))) samples.set(k, v);
      else if (line.trim() !== '') console.log(line);
    }
  }
  report(samples);
}

/** Width of a system's column: its longest name and a gap. */
const COL = Math.max(...SYSTEMS.map((s) => s.name.length)) + 2;

/** `samples`: `${system}|${workload}` → [{ ops, serverCpu, clientCpu }] per round. */
function report(samples) {
  const get = (name, id) => {
    const xs = samples.get(`${name}|${id}`);
    return xs === undefined ? null : median(xs.map((x) => x.ops));
  };
  console.log('\nlock + unlock cycles per second (median)');
  console.log(`${'workload'.padEnd(28)}${SYSTEMS.map((s) => s.name.padStart(COL)).join('')}`);
  for (const wl of WORKLOADS) {
    const cells = SYSTEMS.map((s) => {
      const v = get(s.name, wl.id);
      return (v === null ? 'n/a' : fmt(v)).padStart(COL);
    }).join('');
    console.log(`${wl.label.padEnd(28)}${cells}`);
  }
  const ratio = (a, b) => (a === null || b === null || b === 0 ? 'n/a' : `${(a / b).toFixed(1)}×`);
  console.log('\nRatios to Redis (and etcd), and the goals of cached grants');
  console.log(`${'workload'.padEnd(28)}${'lockscope'.padStart(12)}${'cached'.padStart(12)}${'1 conn'.padStart(12)}${'1 conn cached'.padStart(15)}${'core'.padStart(12)}${'lockscope ÷ etcd'.padStart(18)}${'goal'.padStart(34)}`);
  for (const wl of WORKLOADS) {
    const redis = get('redis', wl.id);
    const goal = ISSUE_GOALS[wl.id];
    let goalText = '';
    if (goal !== undefined) {
      const v = get(goal.system, wl.id);
      const met = v !== null && redis !== null ? (v / redis >= goal.x ? 'met' : 'MISSED') : 'n/a';
      goalText = `${goal.system} ≥ ${goal.x}× ${met}`;
    }
    console.log(`${wl.label.padEnd(28)}${ratio(get('lockscope', wl.id), redis).padStart(12)}${ratio(get('lockscope cached', wl.id), redis).padStart(12)}`
      + `${ratio(get('lockscope 1 conn', wl.id), redis).padStart(12)}${ratio(get('lockscope 1 conn cached', wl.id), redis).padStart(15)}`
      + `${ratio(get('in-process core', wl.id), redis).padStart(12)}`
      + `${ratio(get('lockscope', wl.id), get('etcd', wl.id)).padStart(18)}${goalText.padStart(34)}`);
  }
  console.log('\nAgainst the references (bare: a FIFO lock server and nothing else, in Node, a connection per worker):');
  console.log(`${'workload'.padEnd(28)}${'lockscope ÷ bare ws'.padStart(22)}${'lockscope ÷ its socket.io'.padStart(27)}${'bare ws ÷ bare socket.io'.padStart(26)}${'bare socket.io ÷ redis'.padStart(24)}${'bare ws ÷ redis'.padStart(18)}${'bare TCP ÷ redis'.padStart(18)}`);
  for (const wl of WORKLOADS) {
    const r = (a, b) => {
      const x = get(a, wl.id);
      const y = get(b, wl.id);
      return x === null || y === null || y === 0 ? 'n/a' : `${(x / y).toFixed(2)}×`;
    };
    console.log(`${wl.label.padEnd(28)}${r('lockscope', 'bare ws').padStart(22)}${r('lockscope', 'lockscope socket.io').padStart(27)}${r('bare ws', 'bare socket.io').padStart(26)}`
      + `${r('bare socket.io', 'redis').padStart(24)}${r('bare ws', 'redis').padStart(18)}${r('bare TCP', 'redis').padStart(18)}`);
  }
  console.log('\nCPU per cycle, µs (median): the service\'s process / the clients\' process');
  console.log(`${'workload'.padEnd(28)}${SYSTEMS.map((s) => s.name.padStart(COL)).join('')}`);
  for (const wl of WORKLOADS) {
    const cells = SYSTEMS.map((s) => {
      const xs = samples.get(`${s.name}|${wl.id}`) ?? [];
      const m = (k) => {
        const v = xs.map((x) => x[k]).filter((x) => x !== null);
        return v.length === 0 ? 'n/a' : median(v).toFixed(0);
      };
      return `${m('serverCpu')} / ${m('clientCpu')}`.padStart(COL);
    }).join('');
    console.log(`${wl.label.padEnd(28)}${cells}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
