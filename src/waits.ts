/**
 * The wait lifecycle every kind shares (src/README.md, "Waiter", "Failing
 * many requests at once"): a request that cannot be granted at once starts
 * waiting, and ends exactly once, granted or failed (by its hard timeout,
 * its abort signal, an operator, a revoke, a deadlock, its owner letting go
 * or the manager closing). Functions of the host (host.ts), which keeps the
 * parts they report to.
 *
 * Preconditions: `startWait` takes a waiter its kind has just put on its
 * resource's queue, not settled; `settleWait` one its kind has just granted
 * and taken off the queue; `failWait` takes the waiter off its queue itself
 * (Waiter.unqueue) and ignores one already settled. Either way the waiter
 * ends `settled`, off its owner's list, its hard timeout and signal listener
 * gone, the manager's and its table's counts of waits one less, the
 * detector and the watchdog told.
 */

import type { LockError } from './errors.js';
import type { EngineHost } from './host.js';
import { failedPayload, waitingPayload } from './payloads.js';
import type { Waiter } from './waiter.js';

/** Queue bookkeeping shared by every kind: hard timeout, abort signal, owner, event. */
export function startWait<T>(m: EngineHost, w: Waiter, timeoutMs: number | undefined, signal: AbortSignal | undefined): Promise<T> {
  const promise = new Promise<T>(takeSettlers);
  w.resolve = settlers.resolve;
  w.reject = settlers.reject;
  settlers.resolve = settlers.reject = noop;
  if (timeoutMs !== undefined) m.timers.add(w.ensureExtra(), m.clock.now() + timeoutMs);
  if (signal !== undefined) {
    const x = w.ensureExtra();
    x.signal = signal;
    signal.addEventListener('abort', x, { once: true });
  }
  w.owner.addWait(w);
  m.waitCount++;
  w.res.table.waiting++;
  if (m.has('waiting')) m.emit('waiting', waitingPayload(m.node, w));
  m.watchdog.onWait(w);
  m.detector.onWait(w, w.res);
  return promise;
}

/** The kind granted the request (it is already out of its queue). */
export function settleWait(m: EngineHost, w: Waiter, value: unknown): void {
  finishWait(m, w, 'granted');
  w.resolve(value as never);
}

/** Fail a pending request: out of its queue, then whoever was behind it moves up (unless `deferAfter`). */
export function failWait(m: EngineHost, w: Waiter, err: LockError, deferAfter = false): void {
  if (w.settled) return;
  w.unqueue();
  finishWait(m, w, err.code);
  if (m.has('failed')) m.emit('failed', failedPayload(m.node, w, err.code));
  w.reject(err);
  if (!deferAfter) w.afterUnqueue();
}

/**
 * Fail many pending requests as one step (releaseAll, revokeAll, close):
 * every one leaves its queue before anything behind them is granted, so
 * none of them can be granted by another one's leaving.
 */
export function failMany(m: EngineHost, waits: Waiter[], errorFor: (w: Waiter) => LockError): void {
  const failed: Waiter[] = [];
  for (const w of waits) {
    if (w.settled) continue;
    failWait(m, w, errorFor(w), true);
    failed.push(w);
  }
  const done = new Set<object>();
  for (const w of failed) {
    if (done.has(w.res)) continue;
    done.add(w.res);
    w.afterUnqueue();
  }
}

/** The request's signal was aborted (WaitExtra.handleEvent). */
export function abortWait(m: EngineHost, w: Waiter): void {
  failWait(m, w, m.waitError(w, 'ECANCELED', 'the signal was aborted'));
}

/** The request's hard timeout passed (WaitExtra.fire). */
export function timeOutWait(m: EngineHost, w: Waiter): void {
  failWait(m, w, m.waitError(w, 'ETIMEDOUT', `not granted within timeoutMs (${w.wanted} on ${w.resource})`));
}

function finishWait(m: EngineHost, w: Waiter, outcome: string): void {
  w.settled = true;
  m.waitCount--;
  w.res.table.waiting--;
  m.detector.onWaitEnd(w);
  m.watchdog.onWaitEnd(w, outcome);
  const x = w.extra;
  if (x !== null) {
    m.timers.remove(x);
    if (x.signal !== null) {
      x.signal.removeEventListener('abort', x);
      x.signal = null;
    }
  }
  w.owner.removeWait(w);
}

// The executor of every wait's promise stores its settle functions here and
// startWait takes them at once: no executor closure allocated per request.
const settlers: { resolve: (v: never) => void; reject: (err: LockError) => void } = { resolve: noop, reject: noop };
function takeSettlers(resolve: (v: never) => void, reject: (err: LockError) => void): void {
  settlers.resolve = resolve;
  settlers.reject = reject;
}
function noop(): void {}
