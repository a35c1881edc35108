/**
 * Cached grants: a remote owner keeps a dlm lock granted on the server after
 * it releases it, and its next compatible request on that resource is
 * granted here, without a message, as GFS2 keeps glocks on a node. When
 * another request needs the resource, the server's blocking callback makes
 * this client give the grant up (writing the value block back) as soon as no
 * local use holds it, after a minimum hold so a lock does not bounce.
 *
 * The rules, and why each is safe (src/README.md, "Cached grants"):
 *   C1. A cached grant is the application owner's own server lock, so the
 *       server always names the right owner; what the client keeps locally
 *       is only whether that owner uses it now, and from which site.
 *   C2. A local re-grant needs the grant idle, its mode to cover the request
 *       (every mode compatible with the grant is compatible with the
 *       request), no callback pending, the grant not moved or reclaimed, and
 *       a fencing token left in the grant's run (K2). Anything else goes to
 *       the server, after giving the grant up if it is in the way.
 *   C3. On a callback the grant is in use or idle. In use: the client
 *       confirms it (`hold` with `confirm`, K1) before anything else, so the
 *       server's wait-for graph counts it, and re-grants nothing more from
 *       it; the last local release gives it up. Idle: given up once the
 *       minimum hold since its grant has passed.
 *   C4. Another owner of this client asking for the resource takes an
 *       idle grant of this client's there that covers its request, in place:
 *       `adopt` tells the server (its handOver, K6) in the same batch as
 *       anything later, and the owner is re-granted locally. An idle grant
 *       that does not cover it is given up first, and one in use makes it
 *       ask the server, where it queues like any request (the server's queue
 *       and deadlock detection see every owner). In a cluster `adopt` goes
 *       to the grant's node and names the new owner's owner there (whose
 *       `gid` is the new owner, so the cluster's detector sees the right
 *       one), and only when that owner exists already: the handover cannot
 *       wait for a registration; otherwise the grant is given up.
 *   C5. A grant reclaimed after a restart or moved by a cluster failover is
 *       no longer cached (the new master never agreed to call it back): it
 *       is given up when idle, or at its user's release.
 *   C6. A lost grant (session expired, revoked) takes its local use with it:
 *       the handle says `lost` with the reason, like any remote handle.
 *   C7. Local grants resolve without I/O; a program that only locks and
 *       releases cached grants would never let this client read its socket,
 *       and a callback another client waits for would never arrive. After
 *       LOCAL_GRANTS_PER_TURN local grants with no turn of the event loop,
 *       the next one waits for one (setImmediate).
 *   C8. A grant the server made plain (K5: granted while others waited) is
 *       returned as the plain handle it is: its release is a release.
 *   C9. Owners of this client wait for each other here, and a grant in
 *       use passes from one to the next at its release: local-wait.ts.
 */

import type { LockOptions } from '../src/api.js';
import { invalid, LockError, type LossReason } from '../src/errors.js';
import { MODES, modeIndex, type DlmMode } from '../src/modes.js';
import { CacheEntry, CachedLock, covers, join } from './cache-entry.js';
import type { CacheOptions } from './cache-options.js';
import type { LockClient } from './index.js';
import { LocalQueues } from './local-wait.js';
import type { RemoteLock } from './remote-lock.js';
import type { RemoteOwner } from './remote-owner.js';
import { callUser, type RawSite } from './wire.js';
import { CACHE_REPORT_MS, LOCAL_GRANTS_PER_TURN } from './limits.js';
export { CACHE_ENTRIES_DEFAULT, CACHE_ENTRIES_MAX, CACHE_IDLE_DEFAULT_MS, CACHE_MIN_HOLD_DEFAULT_MS, CACHE_MIN_HOLD_MAX_MS, CACHE_REPORT_MS, LOCAL_GRANTS_PER_TURN } from './limits.js';

/** Request options a cached grant can serve: with any other option set the request goes to the server uncached. */
const CACHEABLE_KEYS = new Set(['timeoutMs', 'signal', 'onBlocking', 'noQueue', 'cache']);

/** The owner's request to the server (remote-owner.ts), with the cached grant's callback hook. */
type ServerLock = (options: LockOptions, hook?: (mode: DlmMode) => void) => Promise<RemoteLock>;

/** A client's cached grants: by owner and resource, in least-recently-used order, with their lazy reports. */
export class GrantCache {
  /** Least recently used first. */
  private readonly lru = new Set<CacheEntry>();
  private readonly byKey = new Map<string, Set<CacheEntry>>();
  private readonly unreported = new Set<CacheEntry>();
  /** C9: this client's waits among its owners, and its cached requests on their way to the server. */
  readonly queues = new LocalQueues();
  /** Local grants since the event loop last turned (C7). */
  private localSinceTurn = 0;
  private reportTimer: NodeJS.Timeout | null = null;
  private readonly idleTimer: NodeJS.Timeout;

  constructor(readonly client: LockClient, readonly options: Required<CacheOptions>) {
    this.idleTimer = setInterval(() => this.sweep(), Math.max(50, Math.min(options.idleMs, 60_000) / 2));
    this.idleTimer.unref();
  }

  get size(): number {
    return this.lru.size;
  }

  /** Every cached grant, least recently used first (for reports and dumps). */
  entries(): IterableIterator<CacheEntry> {
    return this.lru.values();
  }

  /** Whether this request may be served from (or kept in) the cache. */
  eligible(options: LockOptions | undefined): boolean {
    if (options === undefined) return true;
    if (options === null || typeof options !== 'object') return false;
    if (options.cache === false) return false;
    for (const k of Object.keys(options)) if (!CACHEABLE_KEYS.has(k)) return false;
    return true;
  }

  /**
   * owner.lock() with the cache: a local re-grant when C2 holds, an idle
   * grant of another owner handed over (C4), a wait in the client for one in
   * use (C9), else a server request (the owner's grant converted, or a new
   * cached grant).
   */
  async lock(owner: RemoteOwner, site: RawSite | undefined, domain: string, resource: string, mode: DlmMode, options: LockOptions | undefined,
    serverLock: ServerLock): Promise<RemoteLock | CachedLock> {
    const m = modeIndex(mode);
    if (m < 0) return serverLock(options ?? {});
    const key = `${domain}\0${resource}`;
    const onBlocking = options?.onBlocking ?? null;
    if (onBlocking !== null && typeof onBlocking !== 'function') throw invalid('options.onBlocking', 'a function', onBlocking);
    if (options?.signal !== undefined && !(options.signal instanceof AbortSignal)) throw invalid('options.signal', 'an AbortSignal', options.signal);
    if (options?.signal?.aborted === true) throw new LockError('ECANCELED', 'the signal was already aborted', { domain, resource });
    const r = site ?? null;
    // Without a grant of its own here, nothing is awaited before a wait in the client is queued (C9): a flush() right
    // after this call finds it.
    const own = owner.cached?.get(key) === undefined ? null : await this.fromOwn(owner, key, m, r, options, onBlocking, serverLock);
    if (own !== null) return own;
    // C4: an idle grant of another owner of this client that covers the request is handed over to this owner (in a
    // cluster, when this owner is known on the grant's node); any other idle grant of another owner there is given up
    // first. C9: one in use that the request conflicts with and that would serve it, the request waits for in the client.
    const others = this.byKey.get(key);
    let inUse: CacheEntry | null = null;
    if (others !== undefined) {
      const giving: Promise<void>[] = [];
      for (const o of [...others]) {
        if (o.owner === owner) continue;
        if (o.user !== null) {
          inUse ??= o;
          continue;
        }
        const taker = o.canServe(m) && owner.cached?.get(key) === undefined ? o.takerFor(owner) : null;
        if (taker !== null) {
          o.passTo(owner, taker);
          return this.use(o, m, r, onBlocking);
        }
        giving.push(o.giveUp());
      }
      if (giving.length > 0) await Promise.all(giving);
    }
    if (this.queues.mayWait(owner, key, m, options, inUse)) {
      const server = (o: LockOptions | undefined) => this.fromServer(owner, key, m, r, o, onBlocking, serverLock, false);
      return this.queues.wait(key, owner, domain, resource, m, r, onBlocking, options, server);
    }
    return this.fromServer(owner, key, m, r, options, onBlocking, serverLock);
  }

  /** The owner's own cached grant: re-granted here (C2), converted on the server, or given up; null: none left. */
  private async fromOwn(owner: RemoteOwner, key: string, m: number, site: RawSite | null, options: LockOptions | undefined,
    onBlocking: ((mode: DlmMode) => void) | null, serverLock: ServerLock): Promise<RemoteLock | CachedLock | null> {
    let e = owner.cached?.get(key);
    if (e !== undefined && e.lock.state !== 'granted' && e.lock.state !== 'converting') {
      this.forget(e);
      e = undefined;
    }
    if (e === undefined) return null;
    if (e.canServe(m)) {
      // C7: local grants resolve in microtasks; a loop of them would never let this client read its socket (a
      // callback another client waits for). Past LOCAL_GRANTS_PER_TURN without a turn of the event loop, one is taken.
      if (this.countLocal()) await new Promise((resolve) => setImmediate(resolve));
      if (e.canServe(m)) return this.use(e, m, site, onBlocking);
    }
    // In use by another handle of this owner: a second, uncached lock (as without a cache), after this client's waits (C9).
    if (e.user !== null) {
      this.queues.toServer(key);
      return serverLock({ ...options, cache: false });
    }
    if (e.giving !== null) {
      await e.giving;
    } else if (!e.uncached && e.blocked < 0 && e.lock.state === 'granted' && e.lock.moving === null && !covers(modeIndex(e.lock.mode), m)) {
      // Idle but weaker: converted on the server to a mode that covers both (busy meanwhile: no local re-grant).
      e.busy = true;
      try {
        const { onBlocking: _cb, cache: _c, ...rest } = options ?? {};
        await e.lock.convert(MODES[join(modeIndex(e.lock.mode), m)]!, rest);
      } finally {
        e.busy = false;
      }
      e.regranted();
      return this.use(e, m, site, onBlocking);
    } else {
      await e.giveUp();
    }
    return null;
  }

  /** C7: one more grant made here without a turn of the event loop; true when it should wait for one. */
  private countLocal(): boolean {
    if (++this.localSinceTurn >= LOCAL_GRANTS_PER_TURN) return true;
    if (this.localSinceTurn === 1) setImmediate(() => { this.localSinceTurn = 0; });
    return false;
  }

  /** A new cached grant from the server (or a plain lock, K5); `after`: this client's waits on it go first (C9). */
  private async fromServer(owner: RemoteOwner, key: string, m: number, site: RawSite | null, options: LockOptions | undefined,
    onBlocking: ((mode: DlmMode) => void) | null, serverLock: ServerLock, after = true): Promise<RemoteLock | CachedLock> {
    if (after) this.queues.toServer(key);
    let entry: CacheEntry | null = null;
    // A callback can come with the grant's reply, before the entry exists: kept, and applied to it at once.
    let early: DlmMode | null = null;
    let plain = false;
    let lock: RemoteLock;
    this.queues.flying(key, m, true);
    try {
      lock = await serverLock({ ...options, cache: true }, (md) => {
        if (entry !== null) entry.onBlocking(md);
        else if (plain) callUser(onBlocking, md);
        else if (early === null || modeIndex(md) > modeIndex(early)) early = md;
      });
    } catch (err) {
      this.queues.flying(key, m, false);
      this.queues.toServer(key);
      throw err;
    }
    this.queues.flying(key, m, false);
    // K5: granted while others waited, the server made it a plain lock (it would be called back at once).
    if (lock.tokenLast === null) {
      plain = true;
      // Nothing to hand over at its release: this client's waits for it go to the server now (C9).
      this.queues.toServer(key);
      if (early !== null) callUser(onBlocking, early);
      return lock;
    }
    entry = new CacheEntry(this, owner, key, lock);
    this.add(entry);
    const made = entry;
    lock.cacheUse = () => {
      const u = made.user;
      return u === null ? { inUse: false } : { inUse: true, mode: u.mode, token: String(u.token), ...(u.site === null ? {} : { site: u.site }) };
    };
    lock.onReclaimed = () => {
      made.uncached = true;
      // The use now holds under the new server grant: its token is that grant's (above every token before it).
      if (made.user !== null) made.user.reclaimed();
      else void made.giveUp();
    };
    const h = this.use(entry, m, site, onBlocking);
    if (early !== null) entry.onBlocking(early);
    return h;
  }

  /**
   * C9: at its user's release, the grant passes to the first owner of this
   * client waiting for it, in place (`adopt`, as C4), with that wait's own
   * server request, if it was sent, cancelled in the same batch: 'handed'.
   * When the grant may not pass (CacheEntry.passable: out of tokens, or
   * another client called it back a minimum hold ago) or the first waiter
   * cannot take it, that waiter asks the server now and the grant is to be
   * given up ('give-up'): the others wait in the client for the waiter's new
   * grant, behind whatever the server grants first. 'none': nobody waits.
   */
  handOver(e: CacheEntry): 'handed' | 'give-up' | 'none' {
    const w = this.queues.head(e.key);
    if (w === undefined) return 'none';
    const taker = e.passable() && covers(modeIndex(e.lock.mode), w.mode) && w.owner.cached?.get(e.key) === undefined ? e.takerFor(w.owner) : null;
    if (taker === null) {
      w.toServer();
      return 'give-up';
    }
    e.passTo(w.owner, taker);
    w.grant((x) => this.use(e, x.mode, x.site, x.onBlocking), this.countLocal());
    return 'handed';
  }

  private use(e: CacheEntry, mode: number, site: RawSite | null, onBlocking: ((mode: DlmMode) => void) | null): CachedLock {
    const h = new CachedLock(e, mode, site, onBlocking);
    e.user = h;
    e.lastUsed = Date.now();
    this.used(e);
    return h;
  }

  private add(e: CacheEntry): void {
    (e.owner.cached ??= new Map()).set(e.key, e);
    let set = this.byKey.get(e.key);
    if (set === undefined) this.byKey.set(e.key, (set = new Set()));
    set.add(e);
    this.lru.add(e);
    if (this.lru.size > this.options.max) {
      for (const old of this.lru) {
        if (this.lru.size <= this.options.max) break;
        if (old.user === null && old !== e) void old.giveUp();
      }
    }
  }

  /** The entry's use changed: most recently used now, and reported lazily (K4). */
  used(e: CacheEntry): void {
    this.lru.delete(e);
    this.lru.add(e);
    this.unreported.add(e);
    if (this.reportTimer === null) {
      this.reportTimer = setTimeout(() => this.report(), CACHE_REPORT_MS);
      this.reportTimer.unref();
    }
  }

  /** No longer cached (given up, lost). */
  forget(e: CacheEntry): void {
    e.lock.cacheUse = null;
    if (e.owner.cached?.get(e.key) === e) e.owner.cached.delete(e.key);
    const set = this.byKey.get(e.key);
    if (set !== undefined) {
      set.delete(e);
      if (set.size === 0) this.byKey.delete(e.key);
    }
    this.lru.delete(e);
    this.unreported.delete(e);
  }

  /** A `hold` message about `e`: confirmed (K1, a callback's answer) or a lazy report (K4). */
  send(e: CacheEntry, confirm: boolean): void {
    const l = e.lock;
    if (l.state !== 'granted' && l.state !== 'converting') return;
    const u = e.user;
    const msg = {
      id: l.id, inUse: u !== null, ...(confirm ? { confirm: true } : {}),
      ...(u === null ? {} : { user: e.owner.name, ...(u.site === null ? {} : { site: u.site }) }),
    };
    void l.owner.client.conn.call('hold', () => ({ ...msg, id: l.id }), { onSessionLost: 'succeed' }).catch(() => {});
  }

  /** K4: what changed since the last report, once a second at most, off the lock path. */
  private report(): void {
    this.reportTimer = null;
    for (const e of this.unreported) this.send(e, false);
    this.unreported.clear();
  }

  /** Send every pending report now, and every wait in the client to the server (before a dump reads the tables, and in tests). */
  flush(): void {
    if (this.reportTimer !== null) clearTimeout(this.reportTimer);
    this.report();
    this.queues.allToServer();
  }

  private sweep(): void {
    const cutoff = Date.now() - this.options.idleMs;
    for (const e of [...this.lru]) {
      if (e.lastUsed > cutoff) break;
      if (e.user === null) void e.giveUp();
    }
  }

  /** Every idle grant given up (close, tests); settles once the server released them. */
  async drain(): Promise<void> {
    const all: Promise<void>[] = [];
    for (const e of [...this.lru]) if (e.user === null) all.push(e.giveUp());
    await Promise.all(all);
  }

  close(): void {
    clearInterval(this.idleTimer);
    if (this.reportTimer !== null) clearTimeout(this.reportTimer);
    this.reportTimer = null;
  }
}

export { CacheEntry, CachedLock, covers };
export { checkCacheOptions, type CacheOptions } from './cache-options.js';
export type { CacheEntry as CachedGrant };
export type { LossReason };
