// Detection benchmark: what deadlock detection and the watchdog cost.
//
//   npm run build && node --expose-gc bench/detect.js [--quick]
//
// 1. Latency from the wait that closes a cycle to the victim's rejection,
//    with 100,000 other owners waiting in the graph, for cycles of length
//    2, 10, 100 and 2,000 (median of several cycles per length).
// 2. Cost of detection: the core's contended benchmark (100 tasks handing
//    one EX lock on) with detect 'immediate' and lock-order checking on,
//    against detect 'off' and lock-order off, side by side in alternating
//    rounds: the ratio is the figure.
// 3. 1,000,000 concurrent waits, each with its soft timeout armed on the one
//    timer queue: how long arming and disarming take, the heap it costs, and
//    how many OS timers exist meanwhile (must be one).
import { LockManager } from '../dist/src/index.js';

const QUICK = process.argv.includes('--quick');
const BACKGROUND_WAITERS = QUICK ? 10_000 : 100_000;
const CYCLE_LENGTHS = [2, 10, 100, 2000];
const CYCLES_PER_LENGTH = QUICK ? 3 : 9;
const CONTENDED_OPS = QUICK ? 50_000 : 300_000;
const ROUNDS = QUICK ? 3 : 7;
const SOFT_WAITS = QUICK ? 100_000 : 1_000_000;

const gc = globalThis.gc ?? (() => {});
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const settle = () => new Promise((r) => setImmediate(r));
const fmt = (x, digits = 3) => Number(x.toPrecision(digits)).toLocaleString('en-US');

async function cycleLatency() {
  const lm = new LockManager({ node: 'bench', domains: [{ name: 'd', kind: 'dlm' }], stacks: 'off' });
  // The background: 1,000 resources, each held, each with its queue of waiters.
  const perQueue = 100;
  for (let r = 0; r < BACKGROUND_WAITERS / perQueue; r++) {
    await lm.owner(`holder${r}`).lock('d', `bg${r}`, 'EX');
    for (let i = 0; i < perQueue; i++) lm.owner(`w${r}.${i}`).lock('d', `bg${r}`, 'EX').catch(() => {});
  }
  await settle();
  const rows = [];
  for (const len of CYCLE_LENGTHS) {
    const samples = [];
    for (let k = 0; k < CYCLES_PER_LENGTH; k++) {
      const owners = Array.from({ length: len }, (_, i) => lm.owner(`c${len}.${k}.${i}`));
      for (let i = 0; i < len; i++) await owners[i].lock('d', `cyc${len}.${k}.${i}`, 'EX');
      for (let i = 0; i < len - 1; i++) owners[i].lock('d', `cyc${len}.${k}.${i + 1}`, 'EX').catch(() => {});
      await settle();
      const t0 = performance.now();
      const code = await owners[len - 1].lock('d', `cyc${len}.${k}.0`, 'EX').then(() => 'granted', (e) => e.code);
      samples.push(performance.now() - t0);
      if (code !== 'EDEADLK') throw new Error(`cycle of ${len}: expected EDEADLK, got ${code}`);
      for (const o of owners) o.releaseAll();
      await settle();
    }
    rows.push({ len, ms: median(samples), min: Math.min(...samples), max: Math.max(...samples) });
  }
  const waiting = lm.snapshot().detection;
  lm.close();
  return { rows, graph: waiting.graph };
}

async function contendedRound(opts) {
  const lm = new LockManager({ node: 'bench', domains: [{ name: 'd', kind: 'dlm' }], stacks: 'off', ...opts });
  let done = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 100 }, async (_, k) => {
    const o = lm.owner(`t${k}`);
    while (done < CONTENDED_OPS) {
      const l = await o.lock('d', 'hot', 'EX');
      done++;
      l.release();
    }
  }));
  const rate = done / ((performance.now() - t0) / 1000);
  lm.close();
  return rate;
}

async function detectionCost() {
  const on = [];
  const off = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate who goes first: the machine is noisy.
    const first = r % 2 === 0;
    if (first) on.push(await contendedRound({ deadlock: { detect: 'immediate' }, lockOrder: true }));
    off.push(await contendedRound({ deadlock: { detect: 'off' }, lockOrder: false }));
    if (!first) on.push(await contendedRound({ deadlock: { detect: 'immediate' }, lockOrder: true }));
  }
  return { on: median(on), off: median(off) };
}

async function softTimeouts() {
  gc();
  const before = process.memoryUsage().heapUsed;
  const lm = new LockManager({ node: 'bench', domains: [{ name: 'd', kind: 'dlm', softTimeoutMs: 3_600_000 }], stacks: 'off' });
  const queues = 1000;
  for (let r = 0; r < queues; r++) await lm.owner(`h${r}`).lock('d', `q${r}`, 'EX');
  // One owner per wait, as tasks would be.
  const owners = [];
  const t0 = performance.now();
  for (let i = 0; i < SOFT_WAITS; i++) {
    const o = lm.owner(`w${i}`);
    owners.push(o);
    o.lock('d', `q${i % queues}`, 'EX').catch(() => {});
  }
  const armMs = performance.now() - t0;
  gc();
  const heapMb = (process.memoryUsage().heapUsed - before) / 1e6;
  // Every soft timeout is armed, yet the timer queue holds only the lane heads and the full pass.
  const entries = lm.timers.size;
  const t1 = performance.now();
  for (const o of owners) o.releaseAll(); // every wait fails with ECANCELED and disarms its soft timeout
  const disarmMs = performance.now() - t1;
  await settle();
  const left = lm.timers.size;
  lm.close();
  return { armMs, disarmMs, heapMb, entries, left };
}

console.log(`detection benchmark${QUICK ? ' (quick)' : ''}: node ${process.version}`);
const latency = await cycleLatency();
console.log(`\n1. wait that closes a cycle → victim rejected, ${BACKGROUND_WAITERS.toLocaleString('en-US')} other owners waiting (graph: ${latency.graph.owners} owners, ${latency.graph.edges} edges synced)`);
for (const r of latency.rows) console.log(`   cycle of ${String(r.len).padStart(5)}: median ${fmt(r.ms)} ms (min ${fmt(r.min)}, max ${fmt(r.max)})${r.len <= 100 ? (r.ms < 1 ? '   goal < 1 ms: met' : '   goal < 1 ms: MISSED') : ''}`);

const cost = await detectionCost();
const ratio = cost.on / cost.off;
console.log(`\n2. contended hot key, 100 tasks, median of ${ROUNDS} alternating rounds`);
console.log(`   detect off, lock order off:       ${fmt(cost.off / 1e6)} M ops/s`);
console.log(`   detect immediate, lock order on:  ${fmt(cost.on / 1e6)} M ops/s   ratio ${fmt(ratio)} (goal ≥ 0.90: ${ratio >= 0.9 ? 'met' : 'MISSED'})`);

const soft = await softTimeouts();
console.log(`\n3. ${SOFT_WAITS.toLocaleString('en-US')} concurrent waits with soft timeouts armed`);
console.log(`   queue + arm: ${fmt(soft.armMs)} ms (${fmt((soft.armMs * 1000) / SOFT_WAITS)} µs per wait), releaseAll + disarm: ${fmt(soft.disarmMs)} ms`);
console.log(`   timer-queue entries while armed: ${soft.entries} (one clock timer), after: ${soft.left}; heap ${fmt(soft.heapMb)} MB (${fmt((soft.heapMb * 1e6) / SOFT_WAITS)} B per wait, request and promise included)`);
