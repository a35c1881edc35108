/**
 * Owners of one client waiting for each other in the client (cache.ts, C9):
 * a request that conflicts with a cached grant another owner of this client
 * uses, or with another owner's request for the resource already on its way
 * to the server, waits here, first come first served, and is handed the
 * grant at its user's release, in place and without a round trip (the
 * server learns the new owner from `adopt`, K6). A wait that lasts
 * LOCAL_WAIT_REPORT_MS sends its own request to the server too, so the
 * wait-for graph has its edge: what waits long enough to be part of a
 * deadlock or a hang is seen there, a few milliseconds late.
 *
 * Preconditions: one server (no cluster router); what the request waits for
 * conflicts with it on the server and, granted and handed over, serves it.
 */

import type { LockOptions } from '../src/api.js';
import { LockError } from '../src/errors.js';
import { MODES, type DlmMode } from '../src/modes.js';
import type { CachedLock } from './cache-entry.js';
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
