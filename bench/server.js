// Server benchmark: lock + unlock cycles per second over loopback, lockscope's
// lock server against Redis (SET NX PX + compare-and-delete, the standard
// single-instance lock) and etcd (the etcd3 client's lock), and against three
// references: a FIFO lock server with no features over bare socket.io, a
// plain WebSocket and plain TCP (lib/bare-lock-server.js), which show what
// the transport and the machine allow. Each system runs as its own process,
// started and stopped here; every worker has its own connection, as
// separate processes would.
//
//   npm run build && node bench/server.js [--quick] [--no-etcd]
//
// Needs redis-server and etcd on PATH (Debian: apt-get install redis-server
// etcd-server) and the ioredis, etcd3 and ws packages (dev dependencies).
import os from 'node:os';
import { systems } from './lib/server-peers.js';
import { fmt, measureRounds, median } from './lib/throughput.js';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const RUN_MS = QUICK ? 1000 : 3000;
const WARM_MS = QUICK ? 200 : 500;
const ROUNDS = QUICK ? 1 : 3;
// Redis and etcd3 waiters spin; a short retry is the kindest setting for them on a hot key.
const RETRY_MS = 1;
const ISSUE_GOALS = { one: 1, distinct: 2, hot: 10 };

const WORKLOADS = [
  { id: 'one', label: '1 worker', workers: 1, key: () => 'k' },
  { id: 'distinct', label: '64 workers, distinct keys', workers: 64, key: (i) => `k${i}` },
  { id: 'hot', label: '64 workers, one hot key', workers: 64, key: () => 'hot' },
];

const SYSTEMS = [
  { name: 'lockscope', start: () => systems.lockscope({ stacks: true, shared: false }) },
  { name: 'lockscope 1 conn', start: () => systems.lockscope({ stacks: true, shared: true }) },
  { name: 'redis', start: () => systems.redis({ retryMs: RETRY_MS }) },
  // References: a FIFO lock server with no features, over bare socket.io, a plain WebSocket and plain TCP (bench/lib/bare-lock-server.js).
  { name: 'bare socket.io', start: () => systems.bare({ transport: 'socketio' }) },
  { name: 'bare ws', start: () => systems.bare({ transport: 'ws' }) },
  { name: 'bare TCP', start: () => systems.bare({ transport: 'tcp' }) },
  ...(args.has('--no-etcd') ? [] : [{ name: 'etcd', start: () => systems.etcd({ retryMs: RETRY_MS }) }]),
];

async function main() {
  console.log(`node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}; ${RUN_MS} ms per sample, ${ROUNDS} round(s), median`);
  report(await measureRounds(SYSTEMS, WORKLOADS, { rounds: ROUNDS, warmMs: WARM_MS, runMs: RUN_MS }));
}

/** `samples`: `${system}|${workload}` → [{ ops, serverCpu, clientCpu }] per round. */
function report(samples) {
  const get = (name, id) => {
    const xs = samples.get(`${name}|${id}`);
    return xs === undefined ? null : median(xs.map((x) => x.ops));
  };
  console.log('\nlock + unlock cycles per second (median)');
  console.log(`${'workload'.padEnd(28)}${SYSTEMS.map((s) => s.name.padStart(18)).join('')}${'× redis'.padStart(10)}${'× etcd'.padStart(10)}${'goal'.padStart(8)}`);
  for (const wl of WORKLOADS) {
    const cells = SYSTEMS.map((s) => {
      const v = get(s.name, wl.id);
      return (v === null ? 'n/a' : fmt(v)).padStart(18);
    }).join('');
    const ls = get('lockscope', wl.id);
    const redis = get('redis', wl.id);
    const etcd = get('etcd', wl.id);
    const ratio = (a, b) => (a === null || b === null || b === 0 ? 'n/a' : `${(a / b).toFixed(1)}×`);
    const goal = ISSUE_GOALS[wl.id];
    const met = ls !== null && redis !== null ? (ls / redis >= goal ? 'met' : 'MISSED') : 'n/a';
    console.log(`${wl.label.padEnd(28)}${cells}${ratio(ls, redis).padStart(10)}${ratio(ls, etcd).padStart(10)}${`≥${goal}× ${met}`.padStart(14)}`);
  }
  console.log('\nAgainst the references (bare: a FIFO lock server and nothing else, in Node, a connection per worker):');
  console.log(`${'workload'.padEnd(28)}${'lockscope ÷ bare socket.io'.padStart(28)}${'bare socket.io ÷ redis'.padStart(24)}${'bare ws ÷ redis'.padStart(18)}${'bare TCP ÷ redis'.padStart(18)}`);
  for (const wl of WORKLOADS) {
    const r = (a, b) => {
      const x = get(a, wl.id);
      const y = get(b, wl.id);
      return x === null || y === null || y === 0 ? 'n/a' : `${(x / y).toFixed(2)}×`;
    };
    console.log(`${wl.label.padEnd(28)}${r('lockscope', 'bare socket.io').padStart(28)}${r('bare socket.io', 'redis').padStart(24)}${r('bare ws', 'redis').padStart(18)}${r('bare TCP', 'redis').padStart(18)}`);
  }
  console.log('\nCPU per cycle, µs (median): the service\'s process / the clients\' process');
  console.log(`${'workload'.padEnd(28)}${SYSTEMS.map((s) => s.name.padStart(18)).join('')}`);
  for (const wl of WORKLOADS) {
    const cells = SYSTEMS.map((s) => {
      const xs = samples.get(`${s.name}|${wl.id}`) ?? [];
      const m = (k) => {
        const v = xs.map((x) => x[k]).filter((x) => x !== null);
        return v.length === 0 ? 'n/a' : median(v).toFixed(0);
      };
      return `${m('serverCpu')} / ${m('clientCpu')}`.padStart(18);
    }).join('');
    console.log(`${wl.label.padEnd(28)}${cells}`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
