/**
 * Converting a held dlm lock (src/README.md, "Grant rules": rules 5, 7, 8
 * and 9): a down-conversion in place; an up-conversion in place when rule 1
 * allows (and, under `quecvt`, no conversion is queued ahead), else queued on
 * the convert queue, where a conversion deadlock with another queued
 * conversion is handled by its policy (`error`, `demote`, `notify`).
 *
 * Preconditions: the lock is granted (a conversion already pending, or a
 * lock released, lost or still waiting, is refused with EINVAL); every
 * check — options, state, grace, tokens, the queue's bound, `waitsMax`, an
 * `error` conversion deadlock — is made before anything changes, the value
 * block written on a down-conversion included.
 */

import type { ConvertOptions } from './api.js';
import { bast, notifyBlocking } from './dlm-blocking.js';
import { afterChange, applyConversion, blocker, convertQueueClear } from './dlm-grant.js';
import { St, type DlmLock } from './dlm-lock.js';
import { parseConvertOptions } from './dlm-options.js';
import { conflicts, DlmWait, parseMode, type DlmResource } from './dlm-resource.js';
import { DeadlockError, LockError } from './errors.js';
import type { EngineHost } from './host.js';
import { LinkedList } from './list.js';
import { checkLvbWrite, writeLvb } from './lvb.js';
import { isDownConversion, modeName, NL, writesLvb } from './modes.js';
import { formatStack, type RequestSite } from './stacks.js';
import { startWait } from './waits.js';
import type { CycleEntry } from './shapes.js';

/** lock.convert(): in place, queued on the convert queue, or refused (a rejected promise, never a throw). */
export function convert(m: EngineHost, lock: DlmLock, mode: unknown, options: ConvertOptions | undefined, site: RequestSite): Promise<DlmLock> {
  try {
    return convertOrThrow(m, lock, mode, options, site);
  } catch (err) {
    return Promise.reject(err);
  }
}

function convertOrThrow(m: EngineHost, lock: DlmLock, mode: unknown, options: ConvertOptions | undefined, site: RequestSite): Promise<DlmLock> {
  const res = lock.res;
  const policy = res.table.policy;
  const to = parseMode(mode);
  const { noQueue, quecvt, timeoutMs, signal, alt, convDeadlock, lvb: lvbGiven } = parseConvertOptions(options, lock, m.limits.timeoutMsMax);
  if (lock.st !== St.Granted) {
    const why = lock.st === St.Converting ? 'a conversion is already pending' : `the lock is ${lock.state}`;
    throw new LockError('EINVAL', `cannot convert: ${why}`, m.context(lock.owner, policy.name, res.name));
  }
  const from = lock.grMode;
  const lvb = checkLvbWrite(lock, lvbGiven, writesLvb(from, to), 'options.lvb');
  if (signal?.aborted) throw m.error('ECANCELED', 'the signal was already aborted', lock.owner, policy.name, res.name);
  // An up-conversion is new state: not during grace. Giving up access always is.
  if (!isDownConversion(from, to) && m.gated) m.checkGrace(lock.owner, false, policy.name, res.name);
  // An up-conversion takes a new token (tokens.ts, T2); checked before the value block is written.
  if (!isDownConversion(from, to)) m.checkTokens();
  if (lvb !== null) writeLvb(res, lvb);
  if (isDownConversion(from, to)) {
    applyConversion(m, lock, to, false);
    afterChange(m, res);
    return Promise.resolve(lock);
  }
  const convClear = !quecvt || convertQueueClear(res, lock.range);
  let grantMode = -1;
  if (convClear && blocker(res, lock, to, lock.range) === null) grantMode = to;
  else if (alt >= 0 && convClear && blocker(res, lock, alt, lock.range) === null) grantMode = alt;
  if (grantMode >= 0) {
    applyConversion(m, lock, grantMode, true);
    afterChange(m, res);
    return Promise.resolve(lock);
  }
  if (noQueue || timeoutMs === 0) {
    const code = noQueue ? 'EAGAIN' : 'ETIMEDOUT';
    throw m.error(code, `conversion to ${modeName(to)} on ${res.name} would have to wait`, lock.owner, policy.name, res.name);
  }
  if (res.queued >= policy.waitersPerResourceMax) {
    throw m.limitError('waitersPerResourceMax', policy.waitersPerResourceMax, lock.owner, policy.name, res.name);
  }
  m.checkCanWait(lock.owner, policy.name, res.name);
  const partner = conversionDeadlockPartner(res, lock, to);
  if (partner !== null && convDeadlock === 'error') {
    throw conversionDeadlock(m, lock, to, partner, 'error');
  }
  if (alt >= 0) lock.ensureExtra().alt = alt;
  return queueConversion(m, lock, to, partner, convDeadlock, timeoutMs, signal, site);
}

function queueConversion(
  m: EngineHost, lock: DlmLock, to: number, partner: DlmLock | null, policyName: 'error' | 'demote' | 'notify',
  timeoutMs: number | undefined, signal: AbortSignal | undefined, site: RequestSite,
): Promise<DlmLock> {
  const res = lock.res;
  const stack = m.captureFor(true, site);
  res.granted.remove(lock);
  lock.rqMode = to;
  lock.st = St.Converting;
  (res.converting ??= new LinkedList<DlmLock>()).push(lock);
  const wait = new DlmWait(m.nextId(), lock.owner, m.clock.now(), stack ?? lock.stack, lock, true);
  lock.wait = wait;
  const promise = startWait<DlmLock>(m, wait, timeoutMs, signal);
  // A conversion queued under `notify` opts out of being broken by the detector (as NODLCKWT).
  if (policyName === 'notify') lock.ensureExtra().convDeadlock = 'notify';
  if (partner !== null) {
    // Reported before acting so the history shows the deadlock as it formed.
    conversionDeadlock(m, lock, to, partner, policyName);
    if (policyName === 'demote') {
      const from = lock.grMode;
      lock.grMode = NL;
      lock.ensureExtra().demoted = true;
      m.lockDemoted(lock, from);
      afterChange(m, res);
    } else {
      bast(m, partner, to);
    }
  }
  if (lock.st === St.Converting) notifyBlocking(m, res, lock, to, lock.range);
  return promise;
}

/** Rule 9: two conversions each blocked by the other's granted mode (checked as the second one queues). */
function conversionDeadlockPartner(res: DlmResource, lock: DlmLock, to: number): DlmLock | null {
  const conv = res.converting;
  if (conv === null) return null;
  for (let c = conv.head; c !== null; c = c.next) {
    if (c !== lock && conflicts(c, to, lock.range) && conflicts(lock, c.rqMode, c.range)) return c;
  }
  return null;
}

/** Record a conversion deadlock in the history; the error a conversion under `error` fails with. */
function conversionDeadlock(m: EngineHost, lock: DlmLock, to: number, partner: DlmLock, policy: 'error' | 'demote' | 'notify'): DeadlockError {
  const entry = (l: DlmLock, wanted: number): CycleEntry => ({
    owner: l.owner.name, domain: l.domain, resource: l.resource,
    held: modeName(l.grMode), wanted: modeName(wanted), stack: formatStack(l.wait?.stack ?? l.stack),
  });
  const cycle = [entry(lock, to), entry(partner, partner.rqMode)];
  m.recordDeadlock({ kind: 'conversion', cycle, victim: lock.owner.name, policy });
  return new DeadlockError(
    `conversion of ${lock.resource} to ${modeName(to)} deadlocks with ${partner.owner.name}'s conversion to ${modeName(partner.rqMode)}`,
    cycle, m.context(lock.owner, lock.domain, lock.resource),
  );
}
