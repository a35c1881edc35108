/**
 * The dlm kind: six modes, three queues per resource, the Linux/VMS grant
 * rules (src/README.md, "Grant rules", numbered there), conversions with
 * conversion-deadlock handling, value blocks and blocking notifications.
 */

import type { ConvertOptions, LockOptions, Range, ReleaseOptions } from './api.js';
import { assert } from './assert.js';
import { DlmLock, St } from './dlm-lock.js';
import type { ResourceTable } from './domain.js';
import { DeadlockError, invalid, LockError } from './errors.js';
import { CACHE_TOKEN_RUN, OFFSET_MAX } from './limits.js';
import { LinkedList } from './list.js';
import type { EngineHost } from './host.js';
import { CW, EX, isDownConversion, modeIndex, modeName, NL, PR, PW, writesLvb } from './modes.js';
import type { Owner } from './owner.js';
import { captureStack, formatStack, type RequestSite } from './stacks.js';
import { checkBoolean, checkDuration, checkEnum, checkFunction, checkOptions, checkSignal } from './validate.js';
import { conflicts, DlmResource, DlmWait, overlaps, parseMode, parseRange } from './dlm-resource.js';
import { checkLvbWrite, readLvb, restoreLvb, writeLvb } from './lvb.js';
import { ALT_MODES, CONV_POLICIES, NO_LOCK_OPTIONS, parseLockOptions } from './dlm-options.js';
import type { CycleEntry, DomainPolicy, LossReason } from './shapes.js';

// The resource and request classes live in dlm-resource.ts; most of the core imports them from here.
export { DlmResource, DlmWait, overlaps, parseMode };

const CONVERT_KEYS = new Set(['timeoutMs', 'signal', 'noQueue', 'quecvt', 'alt', 'convDeadlock', 'lvb']);
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
    if (expedite || (this.queuesClear(res, range) && this.blocker(res, lock, rq, range) === null)) grantMode = rq;
    else if (alt >= 0 && this.queuesClear(res, range) && this.blocker(res, lock, alt, range) === null) grantMode = alt;
    if (grantMode >= 0) {
      this.grant(lock, grantMode, this.m.clock.now());
      if (res.queued > 0) this.m.resourceChanged(res);
      return Promise.resolve(lock);
    }
    if (noQueue || timeoutMs === 0) {
      // K3: a cached grant in the way is called back even so, so that a retry finds it given up.
      this.notifyCached(res, lock, rq, range);
      this.freeIfUnused(res);
      const code = noQueue ? 'EAGAIN' : 'ETIMEDOUT';
      return Promise.reject(this.m.error(code, `${modeName(rq)} on ${name} would have to wait`, owner, table.policy.name, name));
    }
    if (res.queued >= table.policy.waitersPerResourceMax) {
      this.freeIfUnused(res);
      throw this.m.limitError('waitersPerResourceMax', table.policy.waitersPerResourceMax, owner, table.policy.name, name);
    }
    try {
      this.m.checkCanWait(owner, table.policy.name, name);
    } catch (err) {
      this.freeIfUnused(res);
      throw err;
    }
    lock.stack ??= this.m.captureFor(true, site);
    const wait = new DlmWait(lock.id, owner, this.m.clock.now(), lock.stack, lock, false);
    lock.wait = wait;
    (res.waiting ??= new LinkedList<DlmLock>()).push(lock);
    const promise = this.m.startWait<DlmLock>(wait, timeoutMs, signal);
    this.notifyBlocking(res, lock, rq, range);
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
    this.grant(lock, rq, this.m.clock.now());
    this.m.grace.reclaimed();
    return Promise.resolve(lock);
  }

  /** lock.convert(): in place, queued on the convert queue, or refused. */
  convert(lock: DlmLock, mode: unknown, options: ConvertOptions | undefined, site: RequestSite): Promise<DlmLock> {
    try {
      return this.convertOrThrow(lock, mode, options, site);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private convertOrThrow(lock: DlmLock, mode: unknown, options: ConvertOptions | undefined, site: RequestSite): Promise<DlmLock> {
    const res = lock.res;
    const policy = res.table.policy;
    const to = parseMode(mode);
    const o = checkOptions(options, 'options', CONVERT_KEYS) ?? {};
    const noQueue = checkBoolean(o.noQueue, 'options.noQueue');
    const quecvt = checkBoolean(o.quecvt, 'options.quecvt') || lock.extra?.quecvt === true;
    const timeoutMs = checkDuration(o.timeoutMs, 'options.timeoutMs', this.m.limits.timeoutMsMax);
    const signal = checkSignal(o.signal, 'options.signal');
    const a = checkEnum(o.alt, 'options.alt', ALT_MODES);
    const alt = a !== undefined ? modeIndex(a) : (lock.extra?.alt ?? -1);
    const policyName = checkEnum(o.convDeadlock, 'options.convDeadlock', CONV_POLICIES) ?? lock.extra?.convDeadlock ?? policy.convDeadlock;
    if (lock.st !== St.Granted) {
      const why = lock.st === St.Converting ? 'a conversion is already pending' : `the lock is ${lock.state}`;
      throw new LockError('EINVAL', `cannot convert: ${why}`, this.m.context(lock.owner, policy.name, res.name));
    }
    const from = lock.grMode;
    const lvb = checkLvbWrite(lock, o.lvb, writesLvb(from, to), 'options.lvb');
    if (signal?.aborted) throw this.m.error('ECANCELED', 'the signal was already aborted', lock.owner, policy.name, res.name);
    // An up-conversion is new state: not during grace. Giving up access always is.
    if (!isDownConversion(from, to) && this.m.gated) this.m.checkGrace(lock.owner, false, policy.name, res.name);
    // An up-conversion takes a new token (tokens.ts, T2); checked before the value block is written.
    if (!isDownConversion(from, to)) this.m.checkTokens();
    if (lvb !== null) writeLvb(res, lvb);
    if (isDownConversion(from, to)) {
      this.applyConversion(lock, to, false);
      this.afterChange(res);
      return Promise.resolve(lock);
    }
    const convClear = !quecvt || this.convertQueueClear(res, lock.range);
    let grantMode = -1;
    if (convClear && this.blocker(res, lock, to, lock.range) === null) grantMode = to;
    else if (alt >= 0 && convClear && this.blocker(res, lock, alt, lock.range) === null) grantMode = alt;
    if (grantMode >= 0) {
      this.applyConversion(lock, grantMode, true);
      this.afterChange(res);
      return Promise.resolve(lock);
    }
    if (noQueue || timeoutMs === 0) {
      const code = noQueue ? 'EAGAIN' : 'ETIMEDOUT';
      throw this.m.error(code, `conversion to ${modeName(to)} on ${res.name} would have to wait`, lock.owner, policy.name, res.name);
    }
    if (res.queued >= policy.waitersPerResourceMax) {
      throw this.m.limitError('waitersPerResourceMax', policy.waitersPerResourceMax, lock.owner, policy.name, res.name);
    }
    this.m.checkCanWait(lock.owner, policy.name, res.name);
    const partner = this.conversionDeadlockPartner(res, lock, to);
    if (partner !== null && policyName === 'error') {
      throw this.conversionDeadlock(lock, to, partner, 'error');
    }
    if (alt >= 0) lock.ensureExtra().alt = alt;
    return this.queueConversion(lock, to, partner, policyName, timeoutMs, signal, site);
  }

  private queueConversion(
    lock: DlmLock, to: number, partner: DlmLock | null, policyName: 'error' | 'demote' | 'notify',
    timeoutMs: number | undefined, signal: AbortSignal | undefined, site: RequestSite,
  ): Promise<DlmLock> {
    const res = lock.res;
    const stack = this.m.captureFor(true, site);
    res.granted.remove(lock);
    lock.rqMode = to;
    lock.st = St.Converting;
    (res.converting ??= new LinkedList<DlmLock>()).push(lock);
    const wait = new DlmWait(this.m.nextId(), lock.owner, this.m.clock.now(), stack ?? lock.stack, lock, true);
    lock.wait = wait;
    const promise = this.m.startWait<DlmLock>(wait, timeoutMs, signal);
    // A conversion queued under `notify` opts out of being broken by the detector (as NODLCKWT).
    if (policyName === 'notify') lock.ensureExtra().convDeadlock = 'notify';
    if (partner !== null) {
      // Reported before acting so the history shows the deadlock as it formed.
      this.conversionDeadlock(lock, to, partner, policyName);
      if (policyName === 'demote') {
        const from = lock.grMode;
        lock.grMode = NL;
        lock.ensureExtra().demoted = true;
        this.m.lockDemoted(lock, from);
        this.afterChange(res);
      } else {
        this.bast(partner, to);
      }
    }
    if (lock.st === St.Converting) this.notifyBlocking(res, lock, to, lock.range);
    return promise;
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
      this.m.failWait(lock.wait!, this.m.waitError(lock.wait!, 'EREVOKED', `request revoked (${reason})`, reason));
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
      this.m.failWait(lock.wait!, this.m.waitError(lock.wait!, code, `conversion cancelled: lock ${reason}`, reason === 'released' ? undefined : reason), true);
    }
    res.granted.remove(lock);
    lock.st = reason === 'released' ? St.Released : St.Lost;
    lock.owner.removeDlmLock(lock);
    this.m.lockReleased(lock, reason);
    this.afterChange(res);
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

  /** Something left or weakened: grant what can be granted now, then tidy up. */
  afterChange(res: DlmResource): void {
    if (res.queued > 0) {
      this.grantPending(res);
      if (res.queued > 0) this.m.resourceChanged(res);
    }
    this.freeIfUnused(res);
  }

  private freeIfUnused(res: DlmResource): void {
    if (res.granted.size === 0 && res.queued === 0 && !(res.lvb?.written ?? false)) res.table.release(res);
  }

  /**
   * Grant rules 3 and 4: conversions first, in order; new requests only once
   * no conversion is queued; FIFO in each queue. Without ranges only the head
   * of a queue can be granted; with ranges, a queued request waits only for
   * earlier requests whose ranges overlap its own.
   */
  grantPending(res: DlmResource): void {
    if (!res.table.policy.ranges) {
      const conv = res.converting;
      if (conv !== null) {
        for (let l = conv.head; l !== null; l = conv.head) {
          const mode = this.grantableMode(res, l);
          if (mode < 0) break;
          this.applyConversion(l, mode, true);
        }
      }
      const wq = res.waiting;
      if (wq !== null && (conv === null || conv.size === 0)) {
        // The clock is read once, and only if something is granted (a reading is 50–60 ns).
        let now: number | undefined;
        for (let l = wq.head; l !== null; l = wq.head) {
          const mode = this.grantableMode(res, l);
          if (mode < 0) break;
          this.grant(l, mode, (now ??= this.m.clock.now()));
        }
      }
    } else {
      this.grantPendingRanges(res, this.m.clock.now());
    }
    if (res.queued > 0) this.notifyHeads(res);
  }

  private grantPendingRanges(res: DlmResource, now: number): void {
    for (let progress = true; progress; ) {
      progress = false;
      const ahead: Range[] = [];
      for (const queue of [res.converting, res.waiting]) {
        if (queue === null) continue;
        for (const l of queue) {
          const blockedAhead = ahead.some((r) => overlaps(r, l.range));
          const mode = blockedAhead ? -1 : this.grantableMode(res, l);
          if (mode < 0) {
            ahead.push(l.range ?? { start: 0, end: OFFSET_MAX });
            continue;
          }
          if (l.st === St.Converting) this.applyConversion(l, mode, true);
          else this.grant(l, mode, now);
          progress = true;
        }
      }
    }
  }

  private grantableMode(res: DlmResource, l: DlmLock): number {
    if (this.blocker(res, l, l.rqMode, l.range) === null) return l.rqMode;
    const alt = l.extra?.alt ?? -1;
    if (alt >= 0 && this.blocker(res, l, alt, l.range) === null) return alt;
    return -1;
  }

  /** The first granted or converting lock (other than `self`) whose granted mode conflicts with `mode` over `range`. */
  blocker(res: DlmResource, self: DlmLock, mode: number, range: Range | null): DlmLock | null {
    for (let l = res.granted.head; l !== null; l = l.next) {
      if (l !== self && conflicts(l, mode, range)) return l;
    }
    const conv = res.converting;
    if (conv !== null) {
      for (let l = conv.head; l !== null; l = l.next) {
        if (l !== self && conflicts(l, mode, range)) return l;
      }
    }
    return null;
  }

  /** Grant rule 2: a new request is granted at once only if no queued request (overlapping it) is ahead. */
  private queuesClear(res: DlmResource, range: Range | null): boolean {
    if (res.queued === 0) return true;
    if (!res.table.policy.ranges) return false;
    return this.convertQueueClear(res, range) && !anyOverlap(res.waiting, range);
  }

  private convertQueueClear(res: DlmResource, range: Range | null): boolean {
    if (res.converting === null || res.converting.size === 0) return true;
    return res.table.policy.ranges && !anyOverlap(res.converting, range);
  }

  /** Two conversions each blocked by the other's granted mode (checked as the second one queues). */
  private conversionDeadlockPartner(res: DlmResource, lock: DlmLock, to: number): DlmLock | null {
    const conv = res.converting;
    if (conv === null) return null;
    for (let c = conv.head; c !== null; c = c.next) {
      if (c !== lock && conflicts(c, to, lock.range) && conflicts(lock, c.rqMode, c.range)) return c;
    }
    return null;
  }

  private conversionDeadlock(lock: DlmLock, to: number, partner: DlmLock, policy: 'error' | 'demote' | 'notify'): DeadlockError {
    const entry = (l: DlmLock, wanted: number): CycleEntry => ({
      owner: l.owner.name, domain: l.domain, resource: l.resource,
      held: modeName(l.grMode), wanted: modeName(wanted), stack: formatStack(l.wait?.stack ?? l.stack),
    });
    const cycle = [entry(lock, to), entry(partner, partner.rqMode)];
    this.m.recordDeadlock({ kind: 'conversion', cycle, victim: lock.owner.name, policy });
    return new DeadlockError(
      `conversion of ${lock.resource} to ${modeName(to)} deadlocks with ${partner.owner.name}'s conversion to ${modeName(partner.rqMode)}`,
      cycle, this.m.context(lock.owner, lock.domain, lock.resource),
    );
  }

  /** Grant a queued or brand-new request in `mode`. */
  private grant(lock: DlmLock, mode: number, now: number): void {
    // Preconditions (src/README.md, DlmLock invariants): a request not granted yet, on its waiting queue or on none (new).
    assert(lock.st === St.Waiting && lock.grMode === -1, 'grant: the lock is still a request');
    assert(lock.wait === null ? lock.list === null : lock.list === lock.res.waiting, 'grant: a queued request is on its waiting queue, a new one on none');
    assert(mode >= NL && mode <= EX, 'grant: a mode');
    // First, before anything changes: in a cluster with no token block left this throws ENOLCK (tokens.ts).
    const token = this.m.nextToken();
    const res = lock.res;
    const wait = lock.wait;
    if (wait !== null) {
      lock.wait = null;
      res.waiting!.remove(lock);
    }
    lock.grMode = mode;
    lock.rqMode = mode;
    lock.st = St.Granted;
    lock.tokenN = token;
    if (lock.extra?.cache) {
      // K5: granted while others wait, it would be called back at once: a plain lock instead.
      if (res.queued > 0) lock.extra.cache = null;
      else {
        lock.extra.cache.tokenLast = this.m.extendToken(CACHE_TOKEN_RUN);
        lock.extra.cache.confirmed = false;
      }
    }
    // Whole milliseconds: a Smi field, where a fractional double would be boxed per lock.
    lock.grantedAt = Math.floor(now);
    res.granted.push(lock);
    lock.owner.addDlmLock(lock);
    if (lock.extra !== null) {
      lock.extra.highBast = -1;
      if (res.table.policy.lvbBytes > 0) readLvb(lock);
    }
    if (wait !== null) this.m.settleWait(wait, lock);
    this.m.lockGranted(lock, wait);
  }

  /** Move a lock to `mode` in place (a granted or queued conversion). */
  private applyConversion(lock: DlmLock, mode: number, up: boolean): void {
    // Preconditions: a held lock, granted in place or queued on the convert queue; a down-conversion weakens it.
    assert(lock.st === St.Granted || lock.st === St.Converting, 'applyConversion: a held lock');
    assert(lock.wait === null ? lock.st === St.Granted && lock.list === lock.res.granted : lock.list === lock.res.converting, 'applyConversion: on the queue its state names');
    assert(up || isDownConversion(lock.grMode, mode), 'applyConversion: a conversion that is not up is down');
    const res = lock.res;
    const from = lock.grMode;
    // Before anything changes, as in grant().
    const token = up && mode !== from ? this.m.nextToken() : 0;
    const wait = lock.wait;
    if (wait !== null) {
      lock.wait = null;
      res.converting!.remove(lock);
      res.granted.push(lock);
    }
    lock.grMode = mode;
    lock.rqMode = mode;
    lock.st = St.Granted;
    if (lock.extra?.cache) lock.extra.cache.confirmed = false;
    if (up && mode !== from) {
      lock.tokenN = token;
      if (lock.extra?.cache) lock.extra.cache.tokenLast = this.m.extendToken(CACHE_TOKEN_RUN);
      if (lock.extra !== null && res.table.policy.lvbBytes > 0 && !isDownConversion(from, mode)) readLvb(lock);
    }
    if (lock.extra !== null) {
      lock.extra.highBast = -1;
      if (mode !== NL) lock.extra.demoted = false;
    }
    if (wait !== null) this.m.settleWait(wait, lock);
    this.m.lockConverted(lock, from, wait);
  }

  /** Tell holders that `mode` waits for them (the blocking AST), once per highest mode. */
  private notifyBlocking(res: DlmResource, requester: DlmLock, mode: number, range: Range | null): void {
    // Runs for every request that queues and after every handover: no array of the two queues.
    this.notifyFrom(res.granted.head, requester, mode, range);
    this.notifyFrom(res.converting?.head ?? null, requester, mode, range);
  }

  private notifyFrom(l: DlmLock | null, requester: DlmLock, mode: number, range: Range | null): void {
    for (; l !== null; l = l.next) {
      if (l.extra !== null && l !== requester && conflicts(l, mode, range)) this.bast(l, mode);
    }
  }

  /** K3: blocking callbacks to the cached grants that conflict with `mode` (a request that will not wait). */
  private notifyCached(res: DlmResource, requester: DlmLock, mode: number, range: Range | null): void {
    for (const q of [res.granted, res.converting]) {
      for (let l = q?.head ?? null; l !== null; l = l.next) {
        if (l.extra?.cache && l !== requester && conflicts(l, mode, range)) this.bast(l, mode);
      }
    }
  }

  /**
   * K1: the holder of cached grant `lock` says it is in use (its answer to a
   * blocking callback): from now on waits on it are edges of the wait-for
   * graph, so the waits on its resource are checked again. False when the lock
   * is not a cached grant or no longer held.
   */
  confirmCached(lock: DlmLock): boolean {
    const c = lock.extra?.cache;
    if (c === undefined || c === null || (lock.st !== St.Granted && lock.st !== St.Converting)) return false;
    if (c.confirmed) return true;
    c.confirmed = true;
    if (lock.res.queued > 0) this.m.resourceChanged(lock.res);
    this.m.lockCacheUse(lock);
    return true;
  }

  private notifyHeads(res: DlmResource): void {
    const head = res.converting?.head ?? res.waiting?.head ?? null;
    if (head !== null) this.notifyBlocking(res, head, head.rqMode, head.range);
  }

  private bast(l: DlmLock, mode: number): void {
    const x = l.extra;
    if (x === null || x.onBlocking === null || x.highBast >= mode) return;
    x.highBast = mode;
    const cb = x.onBlocking;
    const name = modeName(mode);
    // Asynchronous, like an AST: user code never runs inside a lock operation.
    queueMicrotask(() => {
      if (l.st === St.Granted || l.st === St.Converting) this.m.callUser(cb, name);
    });
  }
}

type LockExtra = import('./dlm-lock.js').LockExtra;


function anyOverlap(queue: LinkedList<DlmLock> | null, range: Range | null): boolean {
  if (queue === null) return false;
  for (let l = queue.head; l !== null; l = l.next) if (overlaps(l.range, range)) return true;
  return false;
}

