/**
 * C9 (cache.ts's rules): owners of one client wait for each other in the
 * client. A request that the server would queue behind another owner's
 * cached grant in use, or behind its cached request on the way there, and
 * that the grant would serve, waits here, first come first served (behind
 * any other wait here), and is handed the grant at its user's release, in
 * place and without a round trip, as C4 does with an idle one (`adopt`, the
 * core's K6). Handovers go on while the grant is passable: tokens left, and
 * no other client's callback older than the minimum hold; then the first
 * waiter asks the server and the grant is given up, so another client waits
 * at most the minimum hold plus a round trip (GFS2's minimum hold on a
 * callback). A wait sends its own request to the server once it has lasted
 * LOCAL_WAIT_REPORT_MS, when the client flushes (before a dump) and before
 * any later request of this client on the resource goes there; the handover
 * cancels it.
 *
 * Why safe: the grant is this client's server lock throughout and passes
 * from one local use to the next with no moment held by two (exclusion;
 * tokens from its run, K2); `adopt` names the new owner on the server before
 * anything later on the connection (K6), so no edge names the old one
 * after; a wait is on the server's wait-for graph from LOCAL_WAIT_REPORT_MS
 * on, so a deadlock through it is found that much later and none is
 * invented; the server's queue keeps the client's order (a later request
 * never goes there before an earlier wait).
 *
 * In a cluster the same holds on the grant's node: `adopt` goes there and
 * names the waiter's owner on that node (C4); a waiter with no owner there
 * yet asks the server (through the router) at the release instead, and the
 * grant is given up, as when it may not pass. A grant being moved by a
 * failover is not passable (`moving`), and one moved is no longer cached
 * (C5), so a handover never races a move.
 *
 * Preconditions: what the request waits for conflicts with it on the server
 * and, granted and handed over, serves it.
 */

import type { LockOptions } from '../src/api.js';
import { LockError } from '../src/errors.js';
import { MODES, modeIndex, type DlmMode } from '../src/modes.js';
import { compatible } from '../src/modes.js';
import type { CacheEntry, CachedLock } from './cache-entry.js';
import { covers } from './cache-entry.js';
import { LOCAL_WAIT_REPORT_MS } from './limits.js';
import type { RemoteLock } from './remote-lock.js';
import type { RemoteOwner } from './remote-owner.js';
import type { RawSite } from './wire.js';

/** The request a wait sends once it has lasted a while (cache.ts's server path, with this signal; it sends no other wait first). */
export type ServerPath = (options: LockOptions | undefined) => Promise<RemoteLock | CachedLock>;

export class LocalWait {
  private done = false;
  /** Cancels the request sent to the server (null until it is sent). */
  private ctl: AbortController | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly reportTimer: NodeJS.Timeout;
  private readonly onAbort = (): void => {
    if (this.ctl === null) this.fail(new LockError('ECANCELED', 'the signal was aborted', this.context()));
  };
  private readonly startedAt = Date.now();
  private resolveFn!: (h: RemoteLock | CachedLock) => void;
  private rejectFn!: (e: unknown) => void;
  readonly promise: Promise<RemoteLock | CachedLock>;

  /** `queue`: this client's waits on the resource, in order; this one is added at its end. */
  constructor(
    private readonly queue: LocalWait[],
    readonly owner: RemoteOwner,
    private readonly domain: string,
    private readonly resource: string,
    readonly mode: number,
    readonly site: RawSite | null,
    readonly onBlocking: ((mode: DlmMode) => void) | null,
    private readonly options: LockOptions | undefined,
    private readonly server: ServerPath,
    /** Called when this wait leaves a queue it leaves empty. */
    private readonly emptied: () => void,
  ) {
    this.promise = new Promise((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    queue.push(this);
    const t = options?.timeoutMs;
    if (typeof t === 'number' && Number.isFinite(t) && t >= 0 && t < 2 ** 31) {
      this.timer = setTimeout(() => {
        if (this.ctl === null) this.fail(new LockError('ETIMEDOUT', `not granted within timeoutMs (${MODES[mode]} on ${resource})`, this.context()));
      }, t);
    }
    options?.signal?.addEventListener('abort', this.onAbort, { once: true });
    this.reportTimer = setTimeout(() => this.toServer(), LOCAL_WAIT_REPORT_MS);
  }

  /**
   * Waited LOCAL_WAIT_REPORT_MS, or what it waits for will not be handed
   * over, or a later request of this client on the resource is about to go
   * to the server (it must not overtake this one there): the server is
   * asked too, with what is left of timeoutMs; whichever answers first wins.
   */
  toServer(): void {
    if (this.done || this.ctl !== null) return;
    this.ctl = new AbortController();
    // Those that waited longer go first.
    for (const w of [...this.queue]) {
      if (w === this) break;
      w.toServer();
    }
    const user = this.options?.signal;
    const signal = user === undefined ? this.ctl.signal : AbortSignal.any([user, this.ctl.signal]);
    const t = this.options?.timeoutMs;
    const left = typeof t === 'number' && Number.isFinite(t) ? { timeoutMs: Math.max(0, t - (Date.now() - this.startedAt)) } : {};
    this.server({ ...this.options, ...left, signal }).then(
      (h) => {
        // Handed over meanwhile (its cancel crossed the grant): this second grant is not wanted, cached or not.
        if (this.done) void ('discard' in h ? h.discard() : h.release()).catch(() => {});
        else this.finish(h);
      },
      (err: unknown) => {
        if (!this.done) this.fail(err);
      },
    );
  }

  /** The grant is handed over to this wait: `use` makes the local use; the server's request, if sent, is cancelled. */
  grant(use: (w: LocalWait) => CachedLock, defer: boolean): void {
    const h = use(this);
    const ctl = this.ctl;
    this.finish(null);
    ctl?.abort();
    if (defer) setImmediate(() => this.resolveFn(h));
    else this.resolveFn(h);
  }

  private finish(h: RemoteLock | CachedLock | null): void {
    this.done = true;
    if (this.timer !== null) clearTimeout(this.timer);
    clearTimeout(this.reportTimer);
    this.options?.signal?.removeEventListener('abort', this.onAbort);
    const i = this.queue.indexOf(this);
    if (i >= 0) this.queue.splice(i, 1);
    if (this.queue.length === 0) this.emptied();
    if (h !== null) this.resolveFn(h);
  }

  private fail(err: unknown): void {
    this.finish(null);
    this.rejectFn(err);
  }

  private context(): { domain: string; resource: string; owner: string } {
    return { domain: this.domain, resource: this.resource, owner: this.owner.name };
  }
}

/** A grant of mode `g` makes a request of mode `m` wait on the server, and handed over serves it. */
function serves(g: number, m: number): boolean {
  return !compatible(g, m) && covers(g, m);
}

/** A client's waits among its owners by resource (`domain NUL resource`), and its cached requests on their way to the server. */
export class LocalQueues {
  private readonly waiting = new Map<string, LocalWait[]>();
  /** Modes of the cached requests in flight, by resource. */
  private readonly inflight = new Map<string, number[]>();

  /**
   * Whether the request waits here: the owner has no grant of
   * its own there, and the request would wait on the server for something
   * of this client that, granted and handed over, serves it: another
   * owner's grant in use (`inUse`) or request on its way there, whose mode
   * conflicts with the request's and covers it; or other owners of this
   * client wait here already (first come first served, as on the server).
   */
  mayWait(owner: RemoteOwner, key: string, m: number, options: LockOptions | undefined, inUse: CacheEntry | null): boolean {
    if (owner.cached?.get(key) !== undefined || options?.noQueue === true) return false;
    if (this.has(key)) return true;
    if (inUse !== null && inUse.user !== null && inUse.passable() && serves(modeIndex(inUse.lock.mode), m)) return true;
    const modes = this.inflight.get(key);
    if (modes !== undefined) for (const g of modes) if (serves(g, m)) return true;
    return false;
  }

  /** A new wait at the end of the resource's queue; its promise. */
  wait(key: string, owner: RemoteOwner, domain: string, resource: string, m: number, site: RawSite | null,
    onBlocking: ((mode: DlmMode) => void) | null, options: LockOptions | undefined, server: ServerPath): Promise<RemoteLock | CachedLock> {
    let q = this.waiting.get(key);
    if (q === undefined) this.waiting.set(key, (q = []));
    const queue = q;
    const emptied = (): void => {
      if (this.waiting.get(key) === queue) this.waiting.delete(key);
    };
    return new LocalWait(queue, owner, domain, resource, m, site, onBlocking, options, server, emptied).promise;
  }

  has(key: string): boolean {
    return (this.waiting.get(key)?.length ?? 0) > 0;
  }

  head(key: string): LocalWait | undefined {
    return this.waiting.get(key)?.[0];
  }

  /**
   * A request of this client on `key` is about to go to the server, or
   * nothing will be handed over there: the waits for it here go to the
   * server now, in their order, so that the server's queue keeps the order
   * in which this client's owners asked.
   */
  toServer(key: string): void {
    const q = this.waiting.get(key);
    if (q === undefined) return;
    for (const w of [...q]) w.toServer();
  }

  /** Every wait to the server (a flush: before a dump reads the tables, and in tests). */
  allToServer(): void {
    for (const key of [...this.waiting.keys()]) this.toServer(key);
  }

  /** A cached request of mode `m` on `key` left for the server (`on`) or came back. */
  flying(key: string, m: number, on: boolean): void {
    let modes = this.inflight.get(key);
    if (on) {
      if (modes === undefined) this.inflight.set(key, (modes = []));
      modes.push(m);
    } else if (modes !== undefined) {
      modes.splice(modes.indexOf(m), 1);
      if (modes.length === 0) this.inflight.delete(key);
    }
  }
}
