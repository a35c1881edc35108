/**
 * The dlm kind's requests: a new lock (granted at once, queued, or refused),
 * a reclaim after a restart, a release and a revoke. The six modes and the
 * Linux/VMS grant rules (src/README.md, "Grant rules", numbered there) are
 * applied by dlm-grant.ts, conversions by dlm-convert.ts, blocking
 * notifications by dlm-blocking.ts; the resource and its queued request are
 * dlm-resource.ts, the options dlm-options.ts, value blocks lvb.ts.
 *
 * Preconditions: a request is checked whole (options, grace, limits, tokens)
 * before anything changes; a request that fails leaves no resource behind
 * (freeIfUnused).
 */

import type { ConvertOptions, LockOptions, Range, ReleaseOptions } from './api.js';
import { confirmCached, notifyBlocking, notifyCached } from './dlm-blocking.js';
import { convert } from './dlm-convert.js';
import { afterChange, blocker, freeIfUnused, grant, queuesClear } from './dlm-grant.js';
import { DlmLock, St, type LockExtra } from './dlm-lock.js';
import { NO_LOCK_OPTIONS, parseLockOptions } from './dlm-options.js';
import { conflicts, DlmResource, DlmWait, overlaps, parseMode } from './dlm-resource.js';
import type { ResourceTable } from './domain.js';
import { invalid } from './errors.js';
import type { EngineHost } from './host.js';
import { LinkedList } from './list.js';
import { checkLvbWrite, restoreLvb, writeLvb } from './lvb.js';
import { CW, EX, modeName, PR, PW } from './modes.js';
import type { Owner } from './owner.js';
import { captureStack, type RequestSite } from './stacks.js';
import { checkOptions } from './validate.js';
import { failWait, startWait } from './waits.js';
import type { LossReason } from './shapes.js';

// The resource and request classes live in dlm-resource.ts; most of the core imports them from here.
export { DlmResource, DlmWait, overlaps, parseMode };

const RELEASE_KEYS = new Set(['lvb']);

export class DlmEngine {
  constructor(private readonly m: EngineHost) {}

  /** owner.lock(): grant at once, queue, or fail. */
  request(owner: Owner, domain: unknown, resource: unknown, mode: unknown, options: LockOptions | undefined, site: RequestSite): Promise<DlmLock> {
    const table = this.m.dlmTable(domain);
    const name = this.m.checkResource(resource);
    const rq = parseMode(mode);
    const p = options === undefined ? NO_LOCK_OPTIONS : parseLockOptions(options, rq, table.policy, this.m.limits.timeoutMsMax);
    const { o, range, noQueue, timeoutMs, signal, alt, expedite, reclaim, reclaimLvb, reclaimSeq, cache } = p;
    const extraNeeded = p.extraNeeded || table.policy.lvbBytes > 0;
    if (signal?.aborted) throw this.m.error('ECANCELED', 'the signal was already aborted', owner, table.policy.name, name);
    this.m.checkGrace(owner, reclaim, table.policy.name, name);
    this.m.checkCanAdd(owner, table.policy.name, name);
    this.m.checkTokens();
    if (reclaim) return this.reclaim(owner, table, name, rq, range, reclaimLvb, reclaimSeq, site, cache);
    this.m.lockOrder?.onRequest(owner, table.policy.name, name, site);
    const res = table.getOrCreate(name);
    const lock = new DlmLock(this.m.nextId(), owner, res, rq, range, this.m.stackMode === 'all' ? captureStack(site) : null);
    if (extraNeeded) {
      const x = lock.ensureExtra();
      x.onBlocking = (o?.onBlocking as LockExtra['onBlocking']) ?? null;
      x.quecvt = o?.quecvt === true;
      x.alt = alt;
      x.convDeadlock = (o?.convDeadlock as LockExtra['convDeadlock']) ?? null;
      if (cache) x.cache = { tokenLast: 0, confirmed: false, use: null };
    }
    let grantMode = -1;
    if (expedite || (queuesClear(res, range) && blocker(res, lock, rq, range) === null)) grantMode = rq;
    else if (alt >= 0 && queuesClear(res, range) && blocker(res, lock, alt, range) === null) grantMode = alt;
    if (grantMode >= 0) {
      grant(this.m, lock, grantMode, this.m.clock.now());
      if (res.queued > 0) this.m.resourceChanged(res);
      return Promise.resolve(lock);
    }
    if (noQueue || timeoutMs === 0) {
      // K3: a cached grant in the way is called back even so, so that a retry finds it given up.
      notifyCached(this.m, res, lock, rq, range);
      freeIfUnused(res);
      const code = noQueue ? 'EAGAIN' : 'ETIMEDOUT';
      return Promise.reject(this.m.error(code, `${modeName(rq)} on ${name} would have to wait`, owner, table.policy.name, name));
    }
    if (res.queued >= table.policy.waitersPerResourceMax) {
      freeIfUnused(res);
      throw this.m.limitError('waitersPerResourceMax', table.policy.waitersPerResourceMax, owner, table.policy.name, name);
    }
    try {
      this.m.checkCanWait(owner, table.policy.name, name);
    } catch (err) {
      freeIfUnused(res);
      throw err;
    }
    lock.stack ??= this.m.captureFor(true, site);
    const wait = new DlmWait(lock.id, owner, this.m.clock.now(), lock.stack, lock, false);
    lock.wait = wait;
    (res.waiting ??= new LinkedList<DlmLock>()).push(lock);
    const promise = startWait<DlmLock>(this.m, wait, timeoutMs, signal);
    notifyBlocking(this.m, res, lock, rq, range);
    return promise;
  }

  /**
   * A reclaim after a restart: granted at once, or refused. Two clients
   * reclaiming conflicting locks cannot both be right; the second is refused
   * (EINVAL) and nothing changes.
   */
  private reclaim(
    owner: Owner, table: ResourceTable<DlmResource>, name: string, rq: number, range: Range | null,
    lvb: Uint8Array | null, lvbSeq: number | null, site: RequestSite, cache: boolean,
  ): Promise<DlmLock> {
    const existing = table.get(name);
    if (existing !== undefined) {
      for (const q of [existing.granted, existing.converting]) {
        for (let g = q?.head ?? null; g !== null; g = g.next) {
          if (conflicts(g, rq, range)) {
            throw this.m.error('EINVAL', `reclaim of ${modeName(rq)} on ${name} conflicts with ${g.owner.name}'s reclaimed ${modeName(g.grMode)}`, owner, table.policy.name, name);
          }
        }
      }
    }
    const res = table.getOrCreate(name);
    const lock = new DlmLock(this.m.nextId(), owner, res, rq, range, this.m.captureFor(false, site));
    if (table.policy.lvbBytes > 0 || cache) lock.ensureExtra();
    if (cache) lock.extra!.cache = { tokenLast: 0, confirmed: false, use: null };
    if (table.policy.lvbBytes > 0) restoreLvb(res, rq === PW || rq === EX ? 'writer' : rq === PR || rq === CW ? 'reader' : 'stale', lvb, lvbSeq);
    grant(this.m, lock, rq, this.m.clock.now());
    this.m.grace.reclaimed();
    return Promise.resolve(lock);
  }

  /** lock.convert(): in place, queued on the convert queue, or refused (dlm-convert.ts). */
  convert(lock: DlmLock, mode: unknown, options: ConvertOptions | undefined, site: RequestSite): Promise<DlmLock> {
    return convert(this.m, lock, mode, options, site);
  }

  /** lock.release(): idempotent; cancels a pending conversion first. */
  release(lock: DlmLock, options: ReleaseOptions | undefined): void {
    if (lock.st === St.Released || lock.st === St.Lost) return;
    if (lock.st === St.Waiting) throw invalid('lock', 'a granted lock (this request is still waiting)');
    const o = checkOptions(options, 'options', RELEASE_KEYS);
    const lvb = o === undefined ? null : checkLvbWrite(lock, o.lvb, lock.grMode === PW || lock.grMode === EX, 'options.lvb');
    if (lvb !== null) writeLvb(lock.res, lvb);
    this.drop(lock, 'released');
  }

  /**
   * Take a lock away (operator break, lost session, failed node): a PW/EX
   * holder's loss invalidates the value block, since its last write is unknown.
   */
  revoke(lock: DlmLock, reason: Exclude<LossReason, 'released'>): void {
    if (lock.st === St.Released || lock.st === St.Lost) return;
    if (lock.st === St.Waiting) {
      failWait(this.m, lock.wait!, this.m.waitError(lock.wait!, 'EREVOKED', `request revoked (${reason})`, reason));
      return;
    }
    if ((lock.grMode === PW || lock.grMode === EX) && lock.res.lvb !== null) lock.res.lvb.valid = false;
    lock.ensureExtra().lostReason = reason;
    this.drop(lock, reason);
  }

  private drop(lock: DlmLock, reason: LossReason): void {
    const res = lock.res;
    if (lock.st === St.Converting) {
      const code = reason === 'released' ? 'ECANCELED' : 'EREVOKED';
      failWait(this.m, lock.wait!, this.m.waitError(lock.wait!, code, `conversion cancelled: lock ${reason}`, reason === 'released' ? undefined : reason), true);
    }
    res.granted.remove(lock);
    lock.st = reason === 'released' ? St.Released : St.Lost;
    lock.owner.removeDlmLock(lock);
    this.m.lockReleased(lock, reason);
    afterChange(this.m, res);
  }

  /** Waiter.unqueue for dlm: a conversion returns to the granted queue in its old mode. */
  unqueue(wait: DlmWait): void {
    const lock = wait.lock;
    lock.wait = null;
    lock.list!.remove(lock);
    if (wait.conversion) {
      lock.st = St.Granted;
      lock.rqMode = lock.grMode;
      lock.res.granted.push(lock);
    } else {
      lock.st = St.Lost;
    }
  }

  /** Something left or weakened: grant what can be granted now, then tidy up (dlm-grant.ts). */
  afterChange(res: DlmResource): void {
    afterChange(this.m, res);
  }

  /** K1: the holder of a cached grant says it is in use (dlm-blocking.ts). */
  confirmCached(lock: DlmLock): boolean {
    return confirmCached(this.m, lock);
  }
}

