// Hang-dump benchmark: one dump of a manager with 100,000 held locks and
// 10,000 waiters (each waiting behind a holder: 10,000 wait-for edges).
//
//   npm run build && node --expose-gc bench/dumps.js [--locks N] [--waiters N] [--rounds N]
//
// Prints, per round, the time of `dumper.dump()` (snapshot, collectors,
// summary, compressing and writing the archive), the extra memory it took
// (peak of JS heap + external memory during the dump, sampled every 5 ms,
// minus the figure just before it), and the archive's size.
// Goals (issue 4): under 2 s and under 200 MB.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LockManager } from '../dist/src/index.js';
import { HangDumper } from '../dist/collectors/index.js';

const { values } = parseArgs({ options: { locks: { type: 'string', default: '100000' }, waiters: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '3' } } });
const LOCKS = Number(values.locks);
const WAITERS = Number(values.waiters);
const ROUNDS = Number(values.rounds);
const LOCKS_PER_HOLDER = 10;
const MB = 1024 * 1024;

async function build() {
  const lm = new LockManager({
    node: 'bench', domains: [{ name: 'lin', kind: 'dlm', softTimeoutMs: 3_600_000 }],
    deadlock: { detect: 'off' }, lockOrder: false,
  });
  for (let h = 0; h < LOCKS / LOCKS_PER_HOLDER; h++) {
    const o = lm.owner(`holder-${h}`, { meta: { pid: 1000 + h } });
    for (let i = 0; i < LOCKS_PER_HOLDER; i++) await o.lock('lin', `inode:${h * LOCKS_PER_HOLDER + i}`, 'EX');
  }
  for (let w = 0; w < WAITERS; w++) {
    // Spread over holders so the tree and the root list have real work to do.
    void lm.owner(`waiter-${w}`).lock('lin', `inode:${(w * 7) % LOCKS}`, w % 2 === 0 ? 'EX' : 'PR').catch(() => {});
  }
  await new Promise((r) => setImmediate(r));
  return lm;
}

// JS heap + external (Buffers) is what the dump allocates; RSS rarely moves, since V8 reuses the
// pages the setup freed, so it is printed too but the goal is checked against this.
const used = () => { const m = process.memoryUsage(); return m.heapUsed + m.external; };
function sampler() {
  let peak = used();
  let peakRss = process.memoryUsage().rss;
  const timer = setInterval(() => { peak = Math.max(peak, used()); peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 5);
  return { stop() { clearInterval(timer); return { peak: Math.max(peak, used()), peakRss }; } };
}

async function round(lm, dir, i) {
  const dumper = new HangDumper(lm, { dir, retention: { count: 100 } });
  globalThis.gc?.();
  const rss0 = process.memoryUsage().rss;
  const used0 = used();
  const s = sampler();
  const t0 = performance.now();
  const { path } = await dumper.dump('manual');
  const ms = performance.now() - t0;
  const { peak, peakRss } = s.stop();
  const bytes = (await stat(path)).size;
  await dumper.close();
  console.log(`round ${i + 1}: ${ms.toFixed(0)} ms, extra memory (heap + external, peak) ${((peak - used0) / MB).toFixed(1)} MB, RSS growth ${((peakRss - rss0) / MB).toFixed(1)} MB, archive ${(bytes / MB).toFixed(2)} MB`);
  return { ms, extra: peak - used0, bytes };
}

const t = performance.now();
const lm = await build();
const snap = lm.snapshot();
const held = snap.domains[0].resources.reduce((n, r) => n + r.granted.length, 0);
const waiting = snap.domains[0].resources.reduce((n, r) => n + r.waiting.length, 0);
console.log(`node ${process.version}; manager: ${held} locks held, ${waiting} waiting, ${snap.edges.length} wait-for edges (built in ${(performance.now() - t).toFixed(0)} ms); gc ${globalThis.gc ? 'exposed' : 'not exposed (run with --expose-gc for steadier memory figures)'}`);
const dir = await mkdtemp(join(tmpdir(), 'lockscope-bench-dumps-'));
try {
  const results = [];
  for (let i = 0; i < ROUNDS; i++) results.push(await round(lm, dir, i));
  const sorted = (k) => results.map((r) => r[k]).sort((a, b) => a - b);
  const median = (k) => sorted(k)[Math.floor(results.length / 2)];
  console.log(`median: ${median('ms').toFixed(0)} ms (goal < 2000), extra memory ${(median('extra') / MB).toFixed(1)} MB (goal < 200), archive ${(median('bytes') / MB).toFixed(2)} MB`);
} finally {
  lm.close();
  await rm(dir, { recursive: true, force: true });
}
