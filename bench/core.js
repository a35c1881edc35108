// Core benchmark: lockscope's in-process lock manager against async-lock and
// async-mutex, the libraries a Node.js user would reach for instead.
//
//   npm run build && node --expose-gc bench/core.js [--quick] [--peers-only] [--only=contended,...]
//
// Every figure is the median over rounds in which the implementations take
// turns (see harness.alternate), with ±half the min–max range.
import os from 'node:os';
import { alternate, compareOps, stat, printTable, anomalies, describeError } from './lib/harness.js';
import { asyncLockImpl, asyncMutexImpl, promiseFifoImpl } from './lib/peers.js';
import { loadLockscope, lockscopeImpl, makeManager, droppedOptions, NO_DETECTION } from './lib/lockscope.js';

const args = new Set(process.argv.slice(2));
const QUICK = args.has('--quick');
const PEERS_ONLY = args.has('--peers-only');
// --only=contended,deep (of uncontended, contended, deep, memory): a part of the run.
const ONLY = [...args].find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',') ?? null;
const wanted = (part) => ONLY === null || ONLY.includes(part);

const CONFIG = QUICK
  ? { targetMs: 100, rounds: 3, probeOps: 1000, keyCount: 1000, tasks: 100,
      queues: [1000, 20_000], handovers: [30_000, 5000], sideN: 5000, cancelN: 100, deepRounds: 2, memN: 100_000 }
  : { targetMs: 1500, rounds: 7, probeOps: 2000, keyCount: 1000, tasks: 100,
      queues: [1000, 200_000], handovers: [300_000, 30_000], sideN: 20_000, cancelN: 100, deepRounds: 5, memN: 1_000_000 };
// Handovers per chain, per Q: timed over the second half (harness.timeChain). At
// Q = 1,000 a chain of 30,000 was over in tens of milliseconds, and
// lockscope's figure ranged 0.99–2.41 µs between runs; at Q = 200,000 the
// peers' O(n) handover (~250 µs each) keeps the chain short.
const MEMORY_GOAL_BYTES = 300;

const LS = 'lockscope';
const LS_STACKS = "lockscope stacks:'all'";
const LS_EVENTS = 'lockscope listened';
const COLUMNS = [LS, 'async-lock', 'async-mutex'];
const keys = Array.from({ length: CONFIG.keyCount }, (_, i) => `res-${i}`);
const progress = (text) => console.log(`· ${text}`);

async function loadImpls() {
  const peers = [asyncLockImpl(), asyncMutexImpl()];
  if (PEERS_ONLY) return { peers, ls: null, lsStacks: null, lsEvents: null };
  try {
    await loadLockscope();
    makeManager({ node: 'probe', domains: [{ name: 'd', kind: 'dlm' }], stacks: 'all', ...NO_DETECTION })
      .close?.();
  } catch (err) {
    console.error(`lockscope core unavailable: ${describeError(err)}`);
    console.error('Build it first (npm run build), or pass --peers-only to measure the peers alone.');
    process.exit(1);
  }
  return {
    peers, ls: lockscopeImpl(LS), lsStacks: lockscopeImpl(LS_STACKS, { stacks: 'all' }),
    lsEvents: lockscopeImpl(LS_EVENTS, {}, { listen: true }),
  };
}

/** Cells for one table row: the lockscope column taken from lsName, the peers as measured. */
function cells(results, lsName, pick) {
  const out = {};
  for (const c of COLUMNS) {
    const name = c === LS ? lsName : c;
    out[c] = results.has(name) ? stat(results.get(name), pick) : undefined;
  }
  return out;
}

/**
 * One comparison per row: lockscope (stacks off) with the peers, then
 * lockscope with stacks:'all', then with listeners on its events, each with
 * the peers again. Each group alternates
 * only the implementations its row compares, so a slow variant's rounds
 * (and its garbage) do not sit between the rounds of the row's
 * contenders, and the peers' figures in each row come from the same rounds.
 */
async function throughputRows(impls, label, run) {
  const rows = [];
  const variants = [
    [LS, impls.ls, label],
    [LS_STACKS, impls.lsStacks, `${label}, stacks:'all'`],
    // As in the lock server, whose metrics listen: every grant and release builds its event.
    [LS_EVENTS, impls.lsEvents, `${label}, granted+released listened`],
  ];
  for (const [lsName, lsImpl, rowLabel] of variants) {
    if (!lsImpl && rows.length > 0) continue;
    const group = [lsImpl, ...impls.peers].filter(Boolean);
    progress(`${rowLabel}: ${CONFIG.rounds} rounds of ~${CONFIG.targetMs} ms each`);
    rows.push({ label: rowLabel, unit: 'ops/s', cells: cells(await compareOps(group, CONFIG, run), lsName) });
  }
  return rows;
}

const fmtQ = (q) => (q >= 1e6 ? `${q / 1e6}M` : q >= 1000 ? `${q / 1000}k` : String(q));

/** Per-Q rows for the deep-queue measurements, then how each grew from the smallest Q to the largest. */
async function deepQueueRows(impls) {
  const reference = promiseFifoImpl();
  const all = [impls.ls, ...impls.peers, reference].filter(Boolean);
  const byQ = [];
  for (const [i, q] of CONFIG.queues.entries()) {
    const cfg = { h: CONFIG.handovers[i], sideN: CONFIG.sideN, cancelN: CONFIG.cancelN, keys };
    progress(`deep queue Q=${fmtQ(q)}: ${CONFIG.deepRounds} rounds, ${cfg.h} handovers each`);
    byQ.push({ q, results: await alternate(all, CONFIG.deepRounds, (impl) => impl.deepQueue(q, cfg)) });
  }
  referenceNote(reference.name, byQ);
  const metrics = [
    ['handoverUs', `handover down a Q-deep queue (chain's 2nd half; lockscope: detection off)`],
    ['sideUs', 'acquire+release on other keys'],
    ['enqueueUs', 'enqueue a waiter behind Q'],
    ['cancelUs', `abort a mid-queue waiter (${CONFIG.cancelN})`],
  ];
  const rows = [];
  for (const [field, what] of metrics) {
    for (const { q, results } of byQ) {
      rows.push({ label: `${what}, Q=${fmtQ(q)}`, unit: 'µs/op', cells: cells(results, LS, (s) => s[field]) });
    }
    rows.push(growthRow(what, rows.slice(-byQ.length)));
  }
  return rows;
}

/** The reference lock's handover per Q and its growth, as a note (it is not a library a user would pick). */
function referenceNote(name, byQ) {
  const per = byQ.map(({ q, results }) => ({ q, s: stat(results.get(name), (x) => x.handoverUs) }));
  if (per.some((p) => !p.s || p.s.error)) return;
  const figures = per.map((p) => `Q=${fmtQ(p.q)} ${p.s.median.toFixed(2)} µs`).join(', ');
  const growth = per.at(-1).s.median / per[0].s.median;
  anomalies.push(`reference: ${name} (bench/lib/peers.js), the least a promise lock can be: handover ${figures}, growth ${growth.toFixed(1)}×`);
}

function growthRow(what, perQ) {
  const [small, large] = [perQ[0], perQ[perQ.length - 1]];
  const out = {};
  for (const c of COLUMNS) {
    const a = small.cells[c];
    const b = large.cells[c];
    if (a === undefined) out[c] = undefined;
    else if (!a || !b || a.error || b.error || !(a.median > 0)) out[c] = a?.error ? a : b?.error ? b : null;
    else out[c] = { median: b.median / a.median, n: 1 };
  }
  const ratio = `${fmtQ(CONFIG.queues.at(-1))}/${fmtQ(CONFIG.queues[0])}`;
  return { label: `  growth ${ratio}: ${what.split(' (')[0]}`, unit: '×', cells: out };
}

async function memoryRows(impls) {
  const n = CONFIG.memN;
  progress(`memory: ${n.toLocaleString('en-US')} locks held per implementation`);
  // Allocated before any baseline so that only the locks themselves are counted.
  const memKeys = Array.from({ length: n }, (_, i) => `res-${i}`);
  const slots = [];
  const extra = [];
  for (let i = 0; i < n; i++) {
    slots.push(null);
    extra.push(null);
  }
  const all = [impls.ls, ...impls.peers].filter(Boolean);
  const results = await alternate(all, 1, (impl) => impl.memory(n, memKeys, slots, extra));
  const lsHeld = stat(results.get(LS), (s) => s.heldBytes);
  if (lsHeld && !lsHeld.error) {
    const verdict = lsHeld.median <= MEMORY_GOAL_BYTES ? 'meets' : 'MISSES';
    anomalies.push(`memory: lockscope ${lsHeld.median.toFixed(0)} bytes/lock ${verdict} the goal of ≤ ${MEMORY_GOAL_BYTES}`);
  }
  const label = `heap per held EX lock (${fmtQ(n)} keys, ${Math.min(1000, n)} owners)`;
  return [
    { label, unit: 'bytes', cells: cells(results, LS, (s) => s.heldBytes) },
    // Near zero for a manager that frees released resources, so a ratio would be noise.
    { label: 'heap left after releasing them', unit: 'bytes', ratio: false, cells: cells(results, LS, (s) => s.retainedBytes) },
  ];
}

/**
 * What Node's own AbortController.abort() costs (it builds a DOMException with
 * a stack), so the abort rows can be read as "Node's share + the manager's".
 */
async function abortReferenceNote() {
  const samples = [];
  for (let round = 0; round < 3; round++) {
    const controllers = Array.from({ length: 20_000 }, () => new AbortController());
    for (const c of controllers) c.signal.addEventListener('abort', () => {}, { once: true });
    const t0 = performance.now();
    for (const c of controllers) c.abort();
    samples.push(((performance.now() - t0) * 1000) / controllers.length);
  }
  const s = stat({ samples, error: null });
  anomalies.push(`reference: AbortController.abort() with one listener costs ${s.median.toFixed(2)} µs in this process`);
}

const loadText = () => os.loadavg().map((x) => x.toFixed(2)).join(' ');

function printHeader() {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  console.log(`lockscope core bench — node ${process.version}, ${os.cpus().length} × ${cpu}, load average ${loadText()}`);
  console.log(`mode: ${QUICK ? 'quick' : 'full'}${PEERS_ONLY ? ', peers only' : ''}; ` +
    `gc ${typeof globalThis.gc === 'function' ? 'exposed' : 'enabled at run time'}`);
}

printHeader();
const impls = await loadImpls();
for (const [name, message] of droppedOptions) {
  console.log(`note: the core rejected option ${name} (${message}); measured with its default` +
    (name === 'stacks' ? ", so the stacks:'all' rows measure the default too" : ''));
}
const rows = [];
if (wanted('uncontended')) {
  rows.push(...await throughputRows(impls, `uncontended EX acquire+release, ${CONFIG.keyCount} keys`,
    (impl, n) => impl.uncontended(n, keys)));
}
if (wanted('contended')) {
  rows.push(...await throughputRows(impls, `contended EX, ${CONFIG.tasks} tasks on one key`,
    (impl, n) => impl.contended(n, CONFIG.tasks)));
}
if (wanted('deep')) {
  rows.push(...await deepQueueRows(impls));
  if (impls.ls) await abortReferenceNote();
}
if (wanted('memory')) rows.push(...await memoryRows(impls));

console.log('');
printTable(rows, COLUMNS);
console.log('');
console.log('ratio columns: lockscope ÷ peer in the row\'s unit (ops/s: higher is better; µs, bytes: lower is better).');
console.log('n/a: the library has no such operation; ERR: the run failed (see notes).');
console.log('enqueue: for lockscope it includes creating the waiter\'s owner (one per task); the peers have no owners.');
anomalies.push(`load average at the end: ${loadText()} (1, 5, 15 min; ${os.cpus().length} CPUs): above ~1, figures are noisy`);
if (anomalies.length) {
  console.log('\nnotes:');
  for (const a of anomalies) console.log(`  - ${a}`);
}
// The core may keep timers (watchdog, deadlock pass) alive; the bench is done.
process.exit(0);
