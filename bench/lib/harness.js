// Measurement plumbing shared by the bench files: a gc that works with or
// without --expose-gc, calibration, alternating rounds, medians, the table.
import v8 from 'node:v8';
import vm from 'node:vm';

// `node bench/core.js` without --expose-gc must still measure memory, so
// fall back to turning the flag on at run time and fetching gc from a fresh
// context (the flag only takes effect for contexts created after it is set).
export const gc = globalThis.gc ?? (() => {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc');
})();

export const now = () => performance.now();

/** heapUsed after two full collections (the second catches what the first's finalizers freed). */
export function heapAfterGc() {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Let every pending microtask and I/O callback run, e.g. queued lock requests. */
export const settle = () => new Promise((resolve) => setImmediate(resolve));

// A sample that never finishes (a grant that never comes) must fail loudly,
// not leave the process to exit quietly once the event loop runs dry.
const SAMPLE_TIMEOUT_MS = 300_000;

/** Rejects with ETIMEDOUT if promise has not settled after ms; the timer keeps the process alive meanwhile. */
export function withTimeout(promise, ms, what) {
  let timer;
  const expired = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`${what} did not finish within ${ms} ms`);
      err.code = 'ETIMEDOUT';
      reject(err);
    }, ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** Anomalies seen while measuring; printed under the table so they are not lost in the noise. */
export const anomalies = [];
export const note = (text) => anomalies.push(text);

/**
 * Runs fn(impl) `count` times per implementation, alternating implementations
 * and rotating who goes first each round, so that drift on a noisy machine
 * (thermal, other tenants) spreads over all of them instead of one.
 * An implementation that throws is reported and skipped from then on.
 * Returns Map name → { samples, error }.
 */
export async function alternate(impls, count, fn, timeoutMs = SAMPLE_TIMEOUT_MS) {
  const out = new Map(impls.map((impl) => [impl.name, { samples: [], error: null }]));
  for (let round = 0; round < count; round++) {
    for (let i = 0; i < impls.length; i++) {
      const impl = impls[(i + round) % impls.length];
      const slot = out.get(impl.name);
      if (slot.error) continue;
      gc(); // start every sample with the previous one's garbage gone
      try {
        slot.samples.push(await withTimeout(fn(impl), timeoutMs, `${impl.name} sample`));
      } catch (err) {
        slot.error = err;
        note(`${impl.name}: ${describeError(err)}`);
      }
    }
  }
  return out;
}

/**
 * Ops/s comparison: picks an iteration count per implementation that takes
 * about targetMs (so fast and slow libraries are both timed long enough),
 * then alternates. run(impl, n) performs n operations and returns elapsed ms.
 */
export async function compareOps(impls, cfg, run) {
  const plan = new Map();
  for (const impl of impls) {
    try {
      plan.set(impl.name, await calibrate(impl, cfg, run));
    } catch (err) {
      plan.set(impl.name, err);
    }
  }
  return alternate(impls, cfg.rounds, async (impl) => {
    const n = plan.get(impl.name);
    if (typeof n !== 'number') throw n;
    return (n * 1000) / (await run(impl, n));
  });
}

async function calibrate(impl, cfg, run) {
  let n = cfg.probeOps;
  // Grow the probe until it is long enough to time; the probes double as warm-up for the JIT.
  for (let i = 0; i < 6; i++) {
    const ms = await run(impl, n);
    if (ms >= cfg.targetMs / 10) return Math.max(1, Math.round((n * cfg.targetMs) / ms));
    n *= 10;
  }
  return n;
}

/** Median and spread of one metric; pick selects a field when samples are objects. */
export function stat(slot, pick = (x) => x) {
  if (!slot) return null;
  if (slot.error) return { error: slot.error };
  const xs = slot.samples.map(pick).filter((x) => typeof x === 'number' && Number.isFinite(x));
  if (xs.length === 0) return null;
  xs.sort((a, b) => a - b);
  const mid = xs.length >> 1;
  const median = xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2;
  return { median, lo: xs[0], hi: xs[xs.length - 1], n: xs.length };
}

export function describeError(err) {
  if (err && typeof err === 'object') {
    const code = err.code ? `${err.code}: ` : '';
    return `${code}${err.message ?? String(err)}`;
  }
  return String(err);
}

export function formatNumber(x, unit) {
  if (unit === 'ops/s') {
    if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
    if (x >= 1e3) return `${(x / 1e3).toFixed(0)}k`;
    return x.toFixed(0);
  }
  if (unit === 'bytes') return Math.abs(x) < 0.5 ? '0' : x.toFixed(0);
  if (unit === '×') return `${x.toFixed(1)}×`;
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function formatCell(s, unit) {
  if (s === undefined) return '—';
  if (s === null) return 'n/a';
  if (s.error) return `ERR ${s.error.code ?? 'exception'}`;
  const text = formatNumber(s.median, unit);
  // Half the min–max range, relative to the median: how far to trust the figure.
  if (s.n > 1 && s.median > 0) return `${text} ±${Math.round(((s.hi - s.lo) / 2 / s.median) * 100)}%`;
  return text;
}

function formatRatio(a, b) {
  if (!a || !b || a.error || b.error || !(b.median > 0)) return '—';
  return `${(a.median / b.median).toFixed(2)}`;
}

/**
 * rows: { label, unit, cells: { [column]: stat | null | undefined } }.
 * The ratio columns divide the first column by each peer column (unless row.ratio === false).
 */
export function printTable(rows, columns) {
  const [main, ...peers] = columns;
  const header = ['measurement', 'unit', ...columns, ...peers.map((p) => `÷ ${p}`)];
  const body = rows.map((row) => [
    row.label,
    row.unit,
    ...columns.map((c) => formatCell(row.cells[c], row.unit)),
    ...peers.map((p) => (row.unit === '×' || row.ratio === false ? '—' : formatRatio(row.cells[main], row.cells[p]))),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of body) console.log(line(r));
}

/**
 * The hand-down-the-queue measurement: Q waiters loop "wait, get the lock,
 * release, queue again", so the queue stays Q deep while the lock moves.
 * The waiter that takes grant number h keeps the lock, which stops the chain
 * with the rest still queued; nothing after the measurement runs on.
 */
export function handoverChain() {
  const st = { grants: 0, h: Infinity, half: Infinity, stopped: false, tHalf: 0, t1: 0, errors: [] };
  st.done = new Promise((resolve) => { st.finish = resolve; });
  /** Call on every grant; true means "keep the lock and stop looping". */
  st.granted = () => {
    if (st.stopped) return true;
    if (++st.grants === st.half) st.tHalf = now();
    if (st.grants < st.h) return false;
    st.t1 = now();
    st.stopped = true;
    st.finish();
    return true;
  };
  // An error mid-chain must end the wait too, or the bench would hang on st.done.
  st.fail = (err) => {
    if (st.stopped) return;
    st.errors.push(err);
    st.stopped = true;
    st.finish();
  };
  return st;
}

/**
 * µs per acquire+release on other keys beside a deep queue, timed after n
 * untimed ones: n alone are over in tens of milliseconds, and timed from
 * cold they measured mostly the warm-up (lockscope: 2.3 µs at Q = 1,000
 * against ~0.5 in a long loop, with or without 200,000 queued).
 */
export async function timeSideOps(n, op) {
  for (let i = 0; i < n; i++) await op(i);
  const t0 = now();
  for (let i = 0; i < n; i++) await op(i);
  return ((now() - t0) * 1000) / n;
}

/**
 * Releases the initial holder, lets the chain run to grant number h, and
 * returns µs per handover over its second half. The first half is the
 * warm-up: right after the gc() every waiter starts out tenured and cold,
 * the JIT settles, and at Q = 1,000 each waiter has only h / Q turns, so
 * timing from the start measured mostly the start (at Q = 1,000, 2.1–3.0 µs
 * per handover over h = 30,000, against 1.4–1.5 over 300,000).
 */
export async function timeChain(st, h, releaseHolder) {
  if (st.errors.length) throw st.errors[0]; // a waiter failed while queueing (e.g. a limit)
  st.h = h;
  st.half = Math.floor(h / 2);
  gc();
  releaseHolder();
  await st.done;
  if (st.errors.length) throw st.errors[0];
  return ((st.t1 - st.tHalf) * 1000) / (h - st.half);
}
