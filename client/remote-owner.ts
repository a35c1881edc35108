/**
 * RemoteOwner: an owner that lives on the lock server, with exactly the
 * core owner's API. It registers itself with the server lazily, once per
 * session (a new session after an expiry needs it again).
 */

import type { LockOptions, LockOwner, OwnerOptions, PosixLockInfo, PosixRequest, SetlkOptions, SetlkResult } from '../src/api.js';
import { invalid, LockError } from '../src/errors.js';
import type { DlmMode } from '../src/modes.js';
import type { LockClient } from './index.js';
import { PosixMirror } from './posix-mirror.js';
import { RemoteLock } from './remote-lock.js';
import type { ClusterRouter } from './cluster.js';
import { captureRawSite, captureSite, checkWireable, siteText } from './wire.js';
import type { CachedLock, CacheEntry } from './cache.js';

const LOCK_LOCAL = new Set(['signal', 'onBlocking']);
const SETLK_LOCAL = new Set(['signal']);

export class RemoteOwner implements LockOwner {
  /** Session epoch this owner is registered in (0: never). */
  epoch = 0;
  /** Why the server refused this owner (bad name, meta), reported by every request. */
  error: LockError | null = null;
  readonly handles = new Set<RemoteLock>();
  /** The posix ranges the server confirmed this owner holds: what it reclaims after a restart. */
  readonly posix = new PosixMirror();
  /** Posix requests on their way to the server, per `domain NUL resource`: a failover reads the mirror only once they settled (F6). */
  readonly posixPending = new Map<string, Set<Promise<void>>>();
  /** In a cluster: the router that sends this owner's requests to each resource's master (cluster.ts). */
  router: ClusterRouter | null = null;
  /** In a cluster: the application's owner this one stands for on one node (null: this is the application's). */
  parent: RemoteOwner | null = null;
  /** This owner's cached grants by `domain NUL resource` (cache.ts); made at the first one. */
  cached: Map<string, CacheEntry> | undefined = undefined;

  constructor(
    readonly client: LockClient,
    readonly oid: number,
    readonly name: string,
    readonly options: OwnerOptions | undefined,
  ) {}

  /**
   * Register on the current session if not yet; called as a message is sent,
   * so it goes first (during a reclaim too: it is sent only ahead of a message
   * that is itself going now).
   */
  ensureRegistered(): void {
    const conn = this.client.conn;
    if (this.epoch === conn.epoch) return;
    this.epoch = conn.epoch;
    this.client.watchOwner(this);
    const o = this.options ?? {};
    const msg = {
      oid: this.oid, name: this.name, ...(o.meta === undefined ? {} : { meta: o.meta }), ...(o.priority === undefined ? {} : { priority: o.priority }),
      ...(this.parent === null ? {} : { gid: this.parent.oid }),
    };
    conn.call('owner', () => msg, { onSessionLost: 'succeed', early: true }).then(
      () => {
        this.error = null;
      },
      (err: LockError) => {
        this.error = err;
      },
    );
  }

  private failed(err: unknown): never {
    // The server answers ENOENT for an owner it refused; the refusal itself is the better answer.
    throw this.error ?? err;
  }

  lock(domain: string, resource: string, mode: DlmMode, options?: LockOptions): Promise<RemoteLock | CachedLock> {
    // Captured here, in the caller's synchronous frame: a cluster client routes after an await, where it is gone.
    const raw = this.client.stacks ? captureRawSite(RemoteOwner.prototype.lock) : undefined;
    const cache = options?.cache === true ? this.client.grantCache() : this.client.cache;
    if (cache !== null && this.parent === null && cache.eligible(options)) {
      // A local re-grant keeps its site unformatted until a report reads it (wire.ts, RawSite).
      return cache.lock(this, raw, domain, resource, mode, options, (o, hook) => {
        const text = raw === undefined ? undefined : siteText(raw);
        return this.router !== null
          ? this.router.lock(this, this.options, domain, resource, mode, o, text, hook)
          : this.lockAt(text, domain, resource, mode, o, hook);
      });
    }
    // Not one the cache serves: it still goes to the server after this client's waits there (C9).
    if (cache !== null && this.parent === null) cache.queues.toServer(`${domain}\0${resource}`);
    const site = raw === undefined ? undefined : siteText(raw);
    if (this.router !== null) return this.router.lock(this, this.options, domain, resource, mode, options, site);
    return this.lockAt(site, domain, resource, mode, options);
  }

  /**
   * `lock` with the caller's site captured already (`site`; undefined: stacks off). `hook`: the handle's
   * blocking callback in place of options.onBlocking, without asking the server for pushes (a cached
   * grant's, cache.ts: the server pushes for a cached grant by itself).
   */
  lockAt(site: string | undefined, domain: string, resource: string, mode: DlmMode, options?: LockOptions, hook?: (mode: DlmMode) => void): Promise<RemoteLock> {
    try {
      const wire = checkWireable(options, 'options', LOCK_LOCAL) ?? {};
      const asked = options?.onBlocking;
      if (asked !== undefined && typeof asked !== 'function') throw invalid('options.onBlocking', 'a function', asked);
      if (asked !== undefined) wire.blocking = true;
      const onBlocking = hook ?? asked;
      return this.client
        .request('lock', options?.signal, options?.timeoutMs, wire, (req, o) => {
          this.ensureRegistered();
          return { req, oid: this.oid, domain, resource, mode, options: o, ...(site === undefined ? {} : { site }) };
        })
        .then((w) => this.client.adopt(this, w, onBlocking ?? null, site ?? null), (err: unknown) => this.failed(err));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  setlk(domain: string, resource: string, request: PosixRequest, options?: SetlkOptions): Promise<SetlkResult | null> {
    const site = this.client.stacks ? captureSite(RemoteOwner.prototype.setlk) : undefined;
    if (this.router !== null) return this.router.setlk(this, this.options, domain, resource, request, options, site);
    return this.setlkAt(site, domain, resource, request, options);
  }

  /** `setlk` with the caller's site captured already. */
  setlkAt(site: string | undefined, domain: string, resource: string, request: PosixRequest, options?: SetlkOptions): Promise<SetlkResult | null> {
    try {
      const wire = checkWireable(options, 'options', SETLK_LOCAL) ?? {};
      const p = this.client
        .request('setlk', options?.signal, options?.timeoutMs, wire, (req, o) => {
          this.ensureRegistered();
          return { req, oid: this.oid, domain, resource, request, options: o, ...(site === undefined ? {} : { site }) };
        })
        .then((r) => {
          this.posixApply(domain, resource, request, site ?? null);
          return r === null ? null : { token: BigInt(r.token) };
        }, (err: unknown) => this.failed(err));
      this.trackPosix(`${domain}\0${resource}`, p);
      return p;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  getlk(domain: string, resource: string, request: PosixRequest): Promise<PosixLockInfo | null> {
    if (this.router !== null) return this.router.getlk(this, this.options, domain, resource, request);
    return this.client.conn
      .call('getlk', () => {
        this.ensureRegistered();
        return { oid: this.oid, domain, resource, request };
      })
      .catch((err: unknown) => this.failed(err));
  }

  /** Everything this owner holds is released; its pending requests fail with ECANCELED (on the server). */
  releaseAll(): Promise<void> {
    if (this.router !== null) return this.router.releaseAll(this);
    if (this.epoch === 0) return Promise.resolve();
    return this.client.conn
      .call('releaseAll', () => {
        this.ensureRegistered();
        return { oid: this.oid };
      }, { onSessionLost: 'succeed' })
      .then(() => {
        for (const h of [...this.handles]) h.markReleased();
        this.posix.clear();
        this.client.posixOwners.delete(this);
      });
  }

  /** F6: a posix request in flight keeps its owner among the client's posix owners until it settles. */
  private trackPosix(key: string, p: Promise<unknown>): void {
    let set = this.posixPending.get(key);
    if (set === undefined) this.posixPending.set(key, (set = new Set()));
    const settled = p.then(() => {}, () => {});
    set.add(settled);
    this.client.posixOwners.add(this);
    void settled.then(() => {
      set.delete(settled);
      if (set.size === 0 && this.posixPending.get(key) === set) this.posixPending.delete(key);
      if (this.posix.empty && this.posixPending.size === 0) this.client.posixOwners.delete(this);
    });
  }

  /** The server applied a setlk of this owner (or refused its reclaim: an unlock here); `site`: the setlk's. */
  posixApply(domain: string, resource: string, request: PosixRequest, site: string | null = null): void {
    this.posix.apply(domain, resource, request, site);
    // Owners holding posix ranges are kept reachable, as the server keeps them.
    if (this.posix.empty && this.posixPending.size === 0) this.client.posixOwners.delete(this);
    else this.client.posixOwners.add(this);
  }

  forget(h: RemoteLock): void {
    this.handles.delete(h);
    this.client.handles.delete(h.id);
  }
}
