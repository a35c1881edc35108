// The lock client's two transports (client/transport.ts) paired: per workload
// and round, one lockscope server and its clients on the plain WebSocket,
// then on socket.io (the order alternating by round), and the ratio of the
// two. The machine drifts by tens of percent over a few minutes; a pair
// measured back to back drifts little, so the median of the pairs' ratios
// says more than the ratio of two medians (bench/server.js).
//
//   npm run build && node bench/transports.js [--quick]
import { systems } from './lib/server-peers.js';
import { measure, median, fmt } from './lib/throughput.js';

const QUICK = process.argv.includes('--quick');
const ROUNDS = QUICK ? 2 : 6;
const RUN_MS = QUICK ? 1000 : 2000;
const WL = [
  { id: 'one', label: '1 worker, one key', workers: 1, key: () => 'k' },
  { id: 'distinct', label: '64 workers, distinct keys', workers: 64, key: (i) => `k${i}` },
  { id: 'hot', label: '64 workers, one hot key', workers: 64, key: () => 'hot' },
];
const S = { ws: () => systems.lockscope({ stacks: true, shared: false, transport: 'ws' }), io: () => systems.lockscope({ stacks: true, shared: false, transport: 'socket.io' }) };
console.log(`lockscope on ws and on socket.io, ${ROUNDS} paired rounds of ${RUN_MS} ms`);
const ratios = new Map(WL.map((w) => [w.id, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const wl of WL) {
    const got = {};
    for (const name of r % 2 ? ['io', 'ws'] : ['ws', 'io']) {
      const sys = await S[name]();
      try { got[name] = (await measure(sys, wl, { warmMs: 300, runMs: RUN_MS })).ops; } finally { await sys.stop(); }
    }
    ratios.get(wl.id).push(got.ws / got.io);
    console.log(`round ${r + 1} ${wl.label.padEnd(28)} ws ${fmt(got.ws)} socket.io ${fmt(got.io)} ratio ${(got.ws / got.io).toFixed(2)}`);
  }
}
for (const wl of WL) { const xs = ratios.get(wl.id); console.log(`${wl.label.padEnd(28)} ws ÷ socket.io median ${median(xs).toFixed(2)} (range ${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`); }
process.exit(0);
