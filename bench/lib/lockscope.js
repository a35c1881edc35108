// lockscope's side of the core benchmark: loading the built core, building a
// manager that works before and after the optional features land, and the
// same measurement shape as peers.js.
import { now, settle, gc, heapAfterGc, handoverChain, timeChain, timeSideOps, note, withTimeout } from './harness.js';
import { HOT } from './peers.js';

const DOMAIN = 'd';
// Stack capture off (the goals are stated so; core.js measures
// stacks: 'all' in rows of their own); deadlock detection and lock-order
// checking at their defaults (on), as a user gets them.
const BASE_OPTIONS = {
  node: 'bench',
  domains: [{ name: DOMAIN, kind: 'dlm' }],
  stacks: 'off',
};
/** For the deep-queue and memory rows: the detector's full pass over a 200,000-waiter graph is its own subject (bench/detect.js). */
export const NO_DETECTION = { deadlock: { detect: 'off' }, lockOrder: false };
// Options the core may not accept yet; everything else must be accepted.
const OPTIONAL = ['stacks', 'deadlock', 'lockOrder'];
// A teardown slower than this is worth reporting: it is what a user pays
// when an owner with a deep queue goes away.
const SLOW_TEARDOWN_MS = 2000;
// Aborts that have not rejected by then are taken as "signal not supported".
const CANCEL_WAIT_MS = 5000;
const CANCEL_WARMUP = 5000;

let LockManager = null;
/** Options the core rejected (name → its message); core.js prints them next to the figures. */
export const droppedOptions = new Map();

/** LOCKSCOPE_CORE=path/to/index.js benches another build (say, the last commit's) with the same code. */
export async function loadLockscope() {
  const target = process.env.LOCKSCOPE_CORE
    ? new URL(process.env.LOCKSCOPE_CORE, `file://${process.cwd()}/`)
    : new URL('../../dist/src/index.js', import.meta.url);
  const mod = await import(target.href);
  if (typeof mod.LockManager !== 'function') throw new Error('dist/src/index.js exports no LockManager');
  LockManager = mod.LockManager;
}

/**
 * new LockManager(opts), retrying without any OPTIONAL option the
 * constructor rejects with EINVAL by name, so the bench runs against a core
 * that does not know `stacks`, `deadlock` or `lockOrder` yet.
 */
export function makeManager(opts) {
  const options = { ...opts };
  for (;;) {
    try {
      return new LockManager(options);
    } catch (err) {
      const name = rejectedOption(err, options);
      if (!name) throw err;
      delete options[name];
      droppedOptions.set(name, err.message);
    }
  }
}

function rejectedOption(err, options) {
  if (err?.code !== 'EINVAL') return undefined;
  const candidates = OPTIONAL.filter((name) => name in options);
  const fields = [err.option, err.argument, err.param, err.field].filter((s) => typeof s === 'string');
  const byField = candidates.find((name) => fields.some((f) => new RegExp(`(^|\\.)${name}$`).test(f)));
  if (byField) return byField;
  // The message may go on to list the options it does know ("options.stacks
  // must be one of the known options (node, domains, deadlock, ...)"), so the
  // rejected one is the one named first.
  const message = typeof err.message === 'string' ? err.message : '';
  let best;
  let bestAt = Infinity;
  for (const name of candidates) {
    const at = message.search(new RegExp(`\\b${name}\\b`));
    if (at >= 0 && at < bestAt) [best, bestAt] = [name, at];
  }
  return best;
}

/** The manager may own timers (watchdog, deadlock pass); stop them so runs do not leak into each other. */
async function closeManager(lm) {
  for (const method of ['close', 'destroy', 'dispose']) {
    if (typeof lm[method] === 'function') return lm[method]();
  }
  if (typeof lm[Symbol.asyncDispose] === 'function') return lm[Symbol.asyncDispose]();
  if (typeof lm[Symbol.dispose] === 'function') return lm[Symbol.dispose]();
  return undefined;
}

// What the listeners of the `listen` variant read, so their work is not optimised away.
let listened = 0;

/**
 * extra: manager options on top of BASE_OPTIONS. listen: a listener on
 * `granted` and `released` reading the payload, as the lock server's metrics
 * have: the events are then built for every lock and release.
 */
export function lockscopeImpl(name, extra = {}, { listen = false } = {}) {
  const open = (more = {}) => {
    const lm = makeManager({ ...BASE_OPTIONS, ...extra, ...more });
    if (listen) {
      lm.on('granted', (e) => { listened += e.waitedMs; });
      lm.on('released', (e) => { listened += e.heldMs; });
    }
    return lm;
  };
  return {
    name,
    async uncontended(n, keys) {
      const lm = open();
      const owner = lm.owner('task-1');
      const k = keys.length;
      const t0 = now();
      for (let i = 0; i < n; i++) {
        const lock = await owner.lock(DOMAIN, keys[i % k], 'EX');
        lock.release();
      }
      const ms = now() - t0;
      await closeManager(lm);
      return ms;
    },
    async contended(n, tasks) {
      const lm = open();
      let left = n;
      const loop = async (owner) => {
        while (left-- > 0) {
          const lock = await owner.lock(DOMAIN, HOT, 'EX');
          lock.release();
        }
      };
      const owners = Array.from({ length: tasks }, (_, i) => lm.owner(`task-${i}`));
      const t0 = now();
      await Promise.all(owners.map(loop));
      const ms = now() - t0;
      await closeManager(lm);
      return ms;
    },
    deepQueue: (q, cfg) => deepQueue(open(NO_DETECTION), q, cfg),
    memory: (n, keys, slots) => memory(open(NO_DETECTION), n, keys, slots),
  };
}

/**
 * Q waiters on HOT behind one holder; cancelN of them, in the middle of the
 * queue, carry an AbortSignal. Measures, in order, while the queue is Q deep:
 * lock traffic on other keys, cancelling the middle ones, handing HOT down.
 */
async function deepQueue(lm, q, cfg) {
  const holderOwner = lm.owner('holder');
  const holder = await holderOwner.lock(DOMAIN, HOT, 'EX');
  const st = handoverChain();
  const queued = []; // owners in request order: their last entries mirror the queue
  const cancels = [];
  const first = Math.floor((q - cfg.cancelN) / 2);
  const t0 = now();
  for (let i = 0; i < q; i++) {
    const owner = lm.owner(`w-${i}`);
    if (i >= first && i < first + cfg.cancelN) {
      queued.push(owner);
      cancels.push(requestCancellable(owner, HOT));
    } else {
      startWaiter(owner, st, queued);
    }
  }
  const enqueueUs = ((now() - t0) * 1000) / q;
  await settle();
  const side = lm.owner('side');
  const k = cfg.keys.length;
  gc();
  const sideUs = await timeSideOps(cfg.sideN, async (i) => (await side.lock(DOMAIN, cfg.keys[i % k], 'EX')).release());
  await warmCancelPath(lm, CANCEL_WARMUP);
  const cancelUs = await cancelAll(cancels);
  const handoverUs = await timeChain(st, cfg.h, () => holder.release());
  await teardown(lm, queued, q);
  return { enqueueUs, sideUs, cancelUs, handoverUs };
}

function startWaiter(owner, st, queued) {
  const loop = async () => {
    for (;;) {
      queued.push(owner);
      const lock = await owner.lock(DOMAIN, HOT, 'EX');
      if (st.granted()) return; // keep it: the chain ends here
      lock.release();
    }
  };
  // After the measurement the teardown cancels the rest: those rejections are expected.
  loop().catch(st.fail);
}

function requestCancellable(owner, resource) {
  const controller = new AbortController();
  const outcome = owner.lock(DOMAIN, resource, 'EX', { signal: controller.signal }).then(
    (lock) => {
      lock.release();
      return 'granted';
    },
    (err) => err?.code ?? String(err),
  );
  return { controller, outcome };
}

/**
 * Only cancelN requests are cancelled per sample, too few for the JIT to
 * optimise the abort path; without this the figure is mostly cold code, the
 * same at any Q. A short queue of its own on another key keeps Q unchanged.
 */
async function warmCancelPath(lm, count) {
  const holder = await lm.owner('warm-holder').lock(DOMAIN, 'warm', 'EX');
  const cancels = [];
  for (let i = 0; i < count; i++) cancels.push(requestCancellable(lm.owner(`warm-${i}`), 'warm'));
  for (const c of cancels) c.controller.abort();
  await withTimeout(Promise.all(cancels.map((c) => c.outcome)), CANCEL_WAIT_MS, 'cancel warm-up').catch(() => {});
  holder.release();
}

/** µs per cancellation: abort() until the request's promise has rejected. */
async function cancelAll(cancels) {
  if (cancels.length === 0) return undefined;
  gc();
  const t0 = now();
  for (const c of cancels) c.controller.abort();
  let codes;
  try {
    codes = await withTimeout(Promise.all(cancels.map((c) => c.outcome)), CANCEL_WAIT_MS, 'cancelling waiters');
  } catch {
    // Left pending, those waiters are simply granted and released during the handover.
    note(`lockscope cancel: abort() did not end ${cancels.length} waits within ${CANCEL_WAIT_MS} ms`);
    return undefined;
  }
  const us = ((now() - t0) * 1000) / cancels.length;
  const wrong = codes.filter((code) => code !== 'ECANCELED');
  if (wrong.length) note(`lockscope cancel: ${wrong.length}/${codes.length} ended with ${wrong[0]}, expected ECANCELED`);
  return us;
}

/**
 * Ends every remaining wait through the public API (releaseAll), newest
 * request first — the tail of the queue — so the teardown is cheap for any
 * sane queue and its cost is not mistaken for the measured one.
 */
async function teardown(lm, queued, q) {
  const t0 = now();
  const seen = new Set();
  for (let i = queued.length - 1; i >= 0; i--) {
    const owner = queued[i];
    if (seen.has(owner)) continue;
    seen.add(owner);
    owner.releaseAll?.();
  }
  await settle();
  await closeManager(lm);
  const ms = now() - t0;
  if (ms > SLOW_TEARDOWN_MS) {
    note(`lockscope: releaseAll of ${q} queued owners took ${ms.toFixed(0)} ms (${((ms * 1000) / q).toFixed(1)} µs each)`);
  }
}

/** n EX locks on n distinct resources, held by 1,000 owners. */
async function memory(lm, n, keys, slots) {
  const owners = [];
  const ownerCount = Math.min(1000, n);
  const base = heapAfterGc();
  for (let i = 0; i < ownerCount; i++) owners.push(lm.owner(`m-${i}`));
  for (let i = 0; i < n; i++) slots[i] = await owners[i % ownerCount].lock(DOMAIN, keys[i], 'EX');
  const held = heapAfterGc() - base;
  for (let i = 0; i < n; i++) {
    slots[i].release();
    slots[i] = null;
  }
  await settle();
  const retained = heapAfterGc() - base;
  await closeManager(lm);
  return { heldBytes: held / n, retainedBytes: retained / n };
}
