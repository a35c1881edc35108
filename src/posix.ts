/**
 * The posix kind: fcntl-style advisory byte-range locks. Each owner holds a
 * PieceList per resource (ranges.ts). Requests do not queue behind each
 * other as dlm requests do: like fcntl, a request is granted whenever it
 * conflicts with no lock held by another owner, and blocked requests are
 * re-examined, in arrival order, only when some owner's set loosened.
 */

import type { PosixLockInfo, SetlkOptions, SetlkResult } from './api.js';
import type { ResourceTable } from './domain.js';
import { invalid, type LockError } from './errors.js';
import { OFFSET_MAX } from './limits.js';
import { LinkedList, type ListNode } from './list.js';
import type { EngineHost } from './host.js';
import type { Owner } from './owner.js';
import { applyRange, firstConflict, type Piece, type PieceList } from './ranges.js';
import { checkBoolean, checkDuration, checkEnum, checkInteger, checkOptions, checkSignal } from './validate.js';
import type { RequestSite } from './stacks.js';
import { Waiter } from './waiter.js';
import { failWait, settleWait, startWait } from './waits.js';
import type { LossReason } from './shapes.js';

export class PosixResource {
  readonly holders = new Map<Owner, PieceList>();
  readonly waiters = new LinkedList<PosixWait>();
  idle = false;
  constructor(
    readonly name: string,
    readonly table: ResourceTable<PosixResource>,
  ) {}
}

export class PosixWait extends Waiter implements ListNode<PosixWait> {
  prev: PosixWait | null = null;
  next: PosixWait | null = null;
  list: LinkedList<PosixWait> | null = null;
  constructor(
    id: number, owner: Owner, requestedAt: number, stack: object | null,
    readonly res: PosixResource,
    readonly start: number,
    readonly end: number,
    readonly write: boolean,
  ) {
    super(id, owner, requestedAt, stack);
  }
  get domain(): string {
    return this.res.table.policy.name;
  }
  get resource(): string {
    return this.res.name;
  }
  get wanted(): string {
    return this.write ? 'write' : 'read';
  }
  unqueue(): void {
    this.res.waiters.remove(this);
  }
  afterUnqueue(): void {
    // A waiter holds nothing, so its leaving frees nothing: only tidy up.
    this.owner.manager.posix.freeIfUnused(this.res);
  }
}

const REQUEST_KEYS = new Set(['type', 'start', 'len']);
const SETLK_KEYS = new Set(['wait', 'timeoutMs', 'signal', 'reclaim']);
const TYPES = ['read', 'write', 'unlock'] as const;

interface ParsedRequest {
  type: 'read' | 'write' | 'unlock';
  start: number;
  end: number;
}

export function parsePosixRequest(value: unknown, argument = 'request'): ParsedRequest {
  const r = checkOptions(value, argument, REQUEST_KEYS);
  if (r === undefined) throw invalid(argument, 'an object { type, start, len }');
  const type = checkEnum(r.type, `${argument}.type`, TYPES);
  if (type === undefined) throw invalid(`${argument}.type`, 'one of read, write, unlock');
  const start = checkInteger(r.start, `${argument}.start`, 0, OFFSET_MAX);
  const len = checkInteger(r.len, `${argument}.len`, 0, OFFSET_MAX);
  if (start + len > OFFSET_MAX) throw invalid(`${argument}.len`, `such that start + len <= ${OFFSET_MAX}`, len);
  return { type, start, end: len === 0 ? Infinity : start + len };
}

export function pieceInfo(owner: Owner, p: Piece): PosixLockInfo {
  const info: PosixLockInfo = { owner: owner.name, type: p.write ? 'write' : 'read', start: p.start, len: p.end === Infinity ? 0 : p.end - p.start };
  const pid = owner.meta?.pid;
  if (typeof pid === 'number') info.pid = pid;
  return info;
}

export class PosixEngine {
  constructor(private readonly m: EngineHost) {}

  setlk(owner: Owner, domain: unknown, resource: unknown, request: unknown, options: SetlkOptions | undefined, site: RequestSite): Promise<SetlkResult | null> {
    const table = this.m.posixTable(domain);
    const name = this.m.checkResource(resource);
    const rq = parsePosixRequest(request);
    const o = checkOptions(options, 'options', SETLK_KEYS) ?? {};
    const wait = checkBoolean(o.wait, 'options.wait');
    const timeoutMs = checkDuration(o.timeoutMs, 'options.timeoutMs', this.m.limits.timeoutMsMax);
    const signal = checkSignal(o.signal, 'options.signal');
    const reclaim = checkBoolean(o.reclaim, 'options.reclaim');
    const policy = table.policy;
    if (rq.type === 'unlock') {
      const res = table.get(name);
      if (res !== undefined) this.set(res, owner, rq.start, rq.end, null, 'released', null, this.m.nextId());
      return Promise.resolve(null);
    }
    if (signal?.aborted) throw this.m.error('ECANCELED', 'the signal was already aborted', owner, policy.name, name);
    this.m.checkGrace(owner, reclaim, policy.name, name);
    this.m.checkCanAdd(owner, policy.name, name);
    this.m.checkTokens();
    if (!reclaim) this.m.lockOrder?.onRequest(owner, policy.name, name, site);
    const res = table.getOrCreate(name);
    const write = rq.type === 'write';
    if (reclaim) {
      const clash = this.conflict(res, owner, rq.start, rq.end, write);
      if (clash !== null) {
        this.freeIfUnused(res);
        throw this.m.error('EINVAL', `reclaim of ${rq.type} on ${name} conflicts with ${clash.owner.name}'s reclaimed lock`, owner, policy.name, name);
      }
      const token = this.set(res, owner, rq.start, rq.end, write, 'released', this.m.captureFor(false, site), this.m.nextId());
      this.m.grace.reclaimed();
      return Promise.resolve({ token: BigInt(token) });
    }
    if (this.conflict(res, owner, rq.start, rq.end, write) === null) {
      const stack = this.m.captureFor(false, site);
      return Promise.resolve({ token: BigInt(this.set(res, owner, rq.start, rq.end, write, 'released', stack, this.m.nextId())) });
    }
    if (!wait || timeoutMs === 0) {
      this.freeIfUnused(res);
      const code = wait ? 'ETIMEDOUT' : 'EAGAIN';
      return Promise.reject(this.m.error(code, `${rq.type} lock on ${name} conflicts with a lock held by another owner`, owner, policy.name, name));
    }
    if (res.waiters.size >= policy.waitersPerResourceMax) {
      this.freeIfUnused(res);
      throw this.m.limitError('waitersPerResourceMax', policy.waitersPerResourceMax, owner, policy.name, name);
    }
    try {
      this.m.checkCanWait(owner, policy.name, name);
    } catch (err) {
      this.freeIfUnused(res);
      throw err;
    }
    const w = new PosixWait(this.m.nextId(), owner, this.m.clock.now(), this.m.captureFor(true, site), res, rq.start, rq.end, write);
    res.waiters.push(w);
    return startWait<SetlkResult>(this.m, w, timeoutMs, signal);
  }

  getlk(owner: Owner, domain: unknown, resource: unknown, request: unknown): Promise<PosixLockInfo | null> {
    const table = this.m.posixTable(domain);
    const name = this.m.checkResource(resource);
    const rq = parsePosixRequest(request);
    if (rq.type === 'unlock') throw invalid('request.type', 'read or write for getlk');
    const res = table.get(name);
    const hit = res === undefined ? null : this.conflict(res, owner, rq.start, rq.end, rq.type === 'write');
    return Promise.resolve(hit === null ? null : pieceInfo(hit.owner, hit.piece));
  }

  /** Drop every piece `owner` holds on `res` (releaseAll, a lost session). */
  dropOwner(res: PosixResource, owner: Owner, reason: LossReason = 'released'): void {
    this.set(res, owner, 0, Infinity, null, reason, null, this.m.nextId());
  }

  /**
   * The conflicting piece with the lowest start among other owners' locks,
   * so getlk answers deterministically.
   */
  conflict(res: PosixResource, owner: Owner, start: number, end: number, write: boolean): { owner: Owner; piece: Piece } | null {
    let best: { owner: Owner; piece: Piece } | null = null;
    for (const [other, pieces] of res.holders) {
      if (other === owner) continue;
      const p = firstConflict(pieces, start, end, write);
      if (p !== null && (best === null || p.start < best.piece.start)) best = { owner: other, piece: p };
    }
    return best;
  }

  /** Apply one change to an owner's set, then wake waiters if it loosened anything. Returns the token used. */
  private set(
    res: PosixResource, owner: Owner, start: number, end: number, write: boolean | null,
    reason: LossReason, stack: object | null, id: number,
  ): number {
    const { token, loosened } = this.apply(res, owner, start, end, write, reason, stack, id);
    if (loosened) this.wake(res);
    else this.freeIfUnused(res);
    // A new or widened lock can block waiters that were not blocked by it before.
    if (res.waiters.size > 0) this.m.resourceChanged(res);
    return token;
  }

  private apply(
    res: PosixResource, owner: Owner, start: number, end: number, write: boolean | null,
    reason: LossReason, stack: object | null, id: number,
  ): { token: number; loosened: boolean } {
    const before = res.holders.get(owner) ?? [];
    const token = write === null ? 0 : this.m.nextToken();
    const { pieces, loosened, changed } = applyRange(before, start, end, write, token, stack, write === null ? 0 : Math.floor(this.m.clock.now()));
    if (changed) {
      const delta = pieces.length - before.length;
      if (delta > 0) this.m.checkLockCount(owner, delta, res.table.policy.name, res.name);
      if (pieces.length === 0) res.holders.delete(owner);
      else res.holders.set(owner, pieces);
      owner.adjustPosix(res, delta, pieces.length > 0);
      this.m.posixChanged(owner, res, start, end, write, reason, id);
    }
    return { token, loosened };
  }

  /**
   * Grant, in arrival order, every waiter that no longer conflicts. A grant
   * can itself loosen its owner's set (a read replacing its own write), so
   * repeat until a pass grants nothing that loosened.
   */
  private wake(res: PosixResource): void {
    for (let again = true; again; ) {
      again = false;
      for (const w of res.waiters) {
        if (this.conflict(res, w.owner, w.start, w.end, w.write) !== null) continue;
        let granted: { token: number; loosened: boolean };
        try {
          granted = this.apply(res, w.owner, w.start, w.end, w.write, 'released', w.stack, w.id);
        } catch (err) {
          failWait(this.m, w, err as LockError, true);
          continue;
        }
        res.waiters.remove(w);
        settleWait(this.m, w, { token: BigInt(granted.token) });
        again ||= granted.loosened;
      }
    }
    this.freeIfUnused(res);
  }

  freeIfUnused(res: PosixResource): void {
    if (res.holders.size === 0 && res.waiters.size === 0) res.table.release(res);
  }
}
