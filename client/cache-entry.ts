/**
 * One cached grant (CacheEntry) and a local use of it (CachedLock, the
 * handle `lock()` returns): the rules they keep are cache.ts's C2, C3, C5 and
 * C6.
 */

import type { ConvertOptions, LockHandle, LockState, ReleaseOptions } from '../src/api.js';
import { invalid, LockError, type LossReason } from '../src/errors.js';
import { compatible, MODES, modeIndex, type DlmMode } from '../src/modes.js';
import type { GrantCache } from './cache.js';
import type { RemoteLock } from './remote-lock.js';
import type { RemoteOwner } from './remote-owner.js';
import { callUser, siteText, type RawSite } from './wire.js';

/** Conversion options a local conversion can serve (C2). */
const LOCAL_CONVERT_KEYS = new Set(['timeoutMs', 'signal', 'noQueue']);

/** `a` covers `b`: everything compatible with `a` is compatible with `b` (the lattice NL < CR < CW|PR < PW < EX). */
export function covers(a: number, b: number): boolean {
  for (let x = 0; x < MODES.length; x++) if (compatible(a, x) && !compatible(b, x)) return false;
  return true;
}

/** The weakest mode that covers both (CW and PR: PW). */
export function join(a: number, b: number): number {
  for (let x = 0; x < MODES.length; x++) if (covers(x, a) && covers(x, b)) return x;
  return MODES.length - 1;
}

/** One cached grant: the owner's server lock, and its local use. */
export class CacheEntry {
  /** The local handle using it now (null: idle). */
  user: CachedLock | null = null;
  /** Highest mode a blocking callback named (-1: none). */
  blocked = -1;
  /** When the first blocking callback came: local handovers (C9) stop a minimum hold after it. */
  blockedAt = 0;
  /** When the server granted (or up-converted) it: the minimum hold counts from here. */
  grantedAt = Date.now();
  lastUsed = Date.now();
  nextToken: bigint;
  tokenLast: bigint;
  /** A value block written by a local release or down-conversion, not yet on the server. */
  lvbDirty: Uint8Array | null = null;
  /** Being given up: settles once the server released it. */
  giving: Promise<void> | null = null;
  /** Reclaimed or moved (C5): never re-granted locally again. */
  uncached = false;
  /** Converted on the server for a new local use: not idle, not servable. */
  busy = false;
  private holdTimer: NodeJS.Timeout | null = null;

  /** The owner whose grant it is (it changes when the grant is handed to another owner of the client, cache.ts C4). */
  owner: RemoteOwner;

  constructor(readonly cache: GrantCache, owner: RemoteOwner, readonly key: string, readonly lock: RemoteLock) {
    this.owner = owner;
    this.nextToken = lock.token;
    this.tokenLast = lock.tokenLast ?? lock.token;
  }

  /** The server up-converted the lock: a fresh token run and minimum hold (a callback pending stays pending). */
  regranted(): void {
    this.nextToken = this.lock.token;
    this.tokenLast = this.lock.tokenLast ?? this.lock.token;
    this.grantedAt = Date.now();
  }

  /** C2. */
  canServe(mode: number): boolean {
    return this.user === null && !this.busy && this.giving === null && !this.uncached && this.blocked < 0 && this.lock.state === 'granted'
      && this.lock.moving === null && this.nextToken <= this.tokenLast && covers(modeIndex(this.lock.mode), mode);
  }

  /**
   * C9: the grant may pass to an owner of this client waiting for it:
   * granted and still cached, tokens left, and no callback, or one that
   * came less than the minimum hold ago (then another client waits, and
   * gets it once the hold is over: local owners cannot starve it).
   */
  passable(): boolean {
    return !this.busy && this.giving === null && !this.uncached && this.lock.state === 'granted' && !this.lock.demoted
      && this.lock.moving === null && this.nextToken <= this.tokenLast
      && (this.blocked < 0 || Date.now() - this.blockedAt < this.cache.options.minHoldMs);
  }

  /**
   * Who takes this grant on its server when it passes to `to`: `to` itself
   * on one server; in a cluster, `to`'s owner on the grant's node, if `to`
   * has one there now (null: it has none, and the grant cannot pass in
   * place: it is given up, and `to` asks the master).
   */
  takerFor(to: RemoteOwner): RemoteOwner | null {
    if (to.router !== null) return to.router.ownerHolding(this.lock, to);
    return this.lock.owner.client === to.client ? to : null;
  }

  /**
   * C4: this grant becomes `to`'s: here at once, on the server with `adopt`
   * (the core's handOver, K6) naming `taker` (takerFor), which goes before
   * anything later on that connection. A refusal (a limit of the taker)
   * leaves the server naming the old owner: the grant is then given up at
   * its next release.
   */
  passTo(to: RemoteOwner, taker: RemoteOwner): void {
    const l = this.lock;
    const from = this.owner;
    if (from.cached?.get(this.key) === this) from.cached.delete(this.key);
    this.owner = to;
    (to.cached ??= new Map()).set(this.key, this);
    l.owner.handles.delete(l);
    taker.handles.add(l);
    l.owner = taker;
    void taker.client.conn.call('adopt', () => {
      taker.ensureRegistered();
      return { id: l.id, oid: taker.oid };
    }, { onSessionLost: 'succeed' }).catch(() => {
      this.uncached = true;
    });
  }

  /** The server's blocking callback (C3). */
  onBlocking(mode: DlmMode): void {
    const m = modeIndex(mode);
    if (this.blocked < 0) this.blockedAt = Date.now();
    if (m > this.blocked) this.blocked = m;
    if (this.user !== null || this.busy) {
      this.cache.send(this, true);
      this.user?.blocking(mode);
    } else {
      this.giveUpLater();
    }
  }

  /** Given up once the minimum hold since the grant has passed (C3). */
  giveUpLater(): void {
    if (this.giving !== null || this.holdTimer !== null) return;
    const wait = this.cache.options.minHoldMs - (Date.now() - this.grantedAt);
    if (wait <= 0) return void this.giveUp();
    this.holdTimer = setTimeout(() => {
      this.holdTimer = null;
      if (this.user === null && !this.busy) void this.giveUp();
    }, wait);
  }

  /** Release the server's grant (with the value block written locally); settles when the server let it go. */
  giveUp(): Promise<void> {
    if (this.giving !== null) return this.giving;
    if (this.holdTimer !== null) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    this.cache.forget(this);
    const lvb = this.lvbDirty;
    const writes = lvb !== null && (this.lock.mode === 'PW' || this.lock.mode === 'EX');
    this.giving = (writes ? this.lock.release({ lvb }) : this.lock.release())
      // A value block the domain refuses must not keep the lock: released without it.
      .catch(() => (writes ? this.lock.release() : undefined))
      .catch(() => {});
    return this.giving;
  }
}

/**
 * A local use of a cached grant: the handle `lock()` returns. Mode, token
 * and value block are this use's; release() is local (no message) unless a
 * callback is pending.
 */
export class CachedLock implements LockHandle {
  private st: 'granted' | 'converting' | 'released' = 'granted';
  /** A conversion went through the server: mode, state and demotion are the server lock's from then on. */
  private mirror = false;
  private localMode: number;
  private tokenN: bigint;
  private lvbBytes: Uint8Array | null;

  constructor(
    private readonly entry: CacheEntry,
    mode: number,
    private readonly rawSite: RawSite | null,
    private readonly onBlockingFn: ((mode: DlmMode) => void) | null,
  ) {
    this.localMode = mode;
    this.tokenN = entry.nextToken++;
    this.lvbBytes = entry.lvbDirty ?? entry.lock.lvb;
  }

  get id(): number {
    return this.entry.lock.id;
  }
  /** Where this use was asked for (formatted on first read); null without stacks. */
  get site(): string | null {
    return this.rawSite === null ? null : siteText(this.rawSite);
  }
  get domain(): string {
    return this.entry.lock.domain;
  }
  get resource(): string {
    return this.entry.lock.resource;
  }
  get range(): null {
    return null;
  }
  get mode(): DlmMode {
    return this.mirror ? this.entry.lock.mode : MODES[this.localMode]!;
  }
  /** C6: a lost grant is a lost use. */
  get state(): LockState {
    if (this.st === 'released') return 'released';
    const server = this.entry.lock.state;
    return server === 'lost' ? 'lost' : this.mirror && server === 'converting' ? 'converting' : this.st;
  }
  get token(): bigint {
    return this.tokenN;
  }
  get lvb(): Uint8Array | null {
    return this.lvbBytes === null ? null : this.lvbBytes.slice();
  }
  get lvbValid(): boolean {
    return this.entry.lvbDirty !== null || this.entry.lock.lvbValid;
  }
  /** A value block written here and not yet on the server counts as the one write its give-up will make (never read back lower). */
  get lvbSeq(): number {
    return this.entry.lock.lvbSeq + (this.entry.lvbDirty === null ? 0 : 1);
  }
  get demoted(): boolean {
    return this.mirror && this.entry.lock.demoted;
  }
  get lostReason(): LossReason | null {
    if (this.st === 'released') return 'released';
    return this.entry.lock.state === 'lost' ? this.entry.lock.lostReason : null;
  }
  /** The server grant under this use: mode, token run, state (what diagnostics show). */
  get grant(): RemoteLock {
    return this.entry.lock;
  }

  /** The grant under this use was reclaimed (restart, failover): C5. */
  reclaimed(): void {
    this.tokenN = this.entry.lock.token;
    this.lvbBytes = this.entry.lock.lvb ?? this.lvbBytes;
  }

  /** The server's callback, passed on to the application's onBlocking. */
  blocking(mode: DlmMode): void {
    callUser(this.onBlockingFn, mode);
  }

  /** Local: no message, unless a callback is pending or the grant is no longer cached (then it is given up). */
  release(options?: ReleaseOptions): Promise<void> {
    if (this.st === 'released') return Promise.resolve();
    const e = this.entry;
    if (e.lock.state === 'lost') {
      this.st = 'released';
      e.user = null;
      return Promise.resolve();
    }
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') return Promise.reject(invalid('options', 'an options object', options));
      for (const k of Object.keys(options)) if (k !== 'lvb') return Promise.reject(invalid(`options.${k}`, 'one of the known options (lvb)'));
      if (options.lvb !== undefined) {
        // The core's rules (src/lvb.ts), checked here since the write stays local until the grant is given up (C3).
        const size = e.lock.lvb?.length ?? 0;
        const arg = 'options.lvb';
        if (size === 0) return Promise.reject(invalid(arg, `absent: domain ${this.domain} has no value block (lvbBytes: 0)`));
        if (!(options.lvb instanceof Uint8Array) || options.lvb.length > size) return Promise.reject(invalid(arg, `a Uint8Array of at most ${size} bytes`, options.lvb));
        if (this.mode !== 'PW' && this.mode !== 'EX') return Promise.reject(invalid(arg, `written only when leaving PW or EX (the lock holds ${this.mode})`));
        const padded = new Uint8Array(size);
        padded.set(options.lvb);
        e.lvbDirty = padded;
      }
    }
    this.st = 'released';
    e.user = null;
    e.lastUsed = Date.now();
    e.cache.used(e);
    const passed = e.cache.handOver(e);
    if (passed === 'handed') return Promise.resolve();
    // A conversion still pending on the server (or a demoted grant) is not worth keeping: given up, which cancels it.
    if (passed === 'give-up' || e.blocked >= 0 || e.uncached || e.lock.state !== 'granted' || e.lock.demoted) return e.giveUp();
    return Promise.resolve();
  }

  /** Released and its grant given up at once (a grant nobody wants any more: local-wait.ts). */
  discard(): Promise<void> {
    if (this.st !== 'released') {
      this.st = 'released';
      if (this.entry.user === this) this.entry.user = null;
    }
    return this.entry.giveUp();
  }

  /**
   * Local when nothing else is asked for: within the grant's mode, no
   * callback pending, a token left for an up-conversion (C2). Anything else
   * (a value block, quecvt, alt, a conversion-deadlock policy, a mode past
   * the grant's, a callback pending) converts the server's grant to exactly
   * that mode, and this use mirrors the server's lock from then on.
   */
  async convert(mode: DlmMode, options?: ConvertOptions): Promise<CachedLock> {
    if (this.state !== 'granted') {
      const why = this.state === 'converting' ? 'a conversion is already pending' : `the lock is ${this.state}`;
      throw new LockError('EINVAL', `cannot convert: ${why}`, { domain: this.domain, resource: this.resource });
    }
    const to = modeIndex(mode);
    if (to < 0) throw invalid('mode', `one of ${MODES.join(', ')}`, mode);
    const e = this.entry;
    const simple = options === undefined || Object.keys(options).every((k) => LOCAL_CONVERT_KEYS.has(k));
    const up = !covers(this.localMode, to);
    // Owners of this client waiting here (C9) are let in by the server's conversion, not a local one: they go there first.
    const waited = e.cache.queues.has(e.key);
    if (waited) e.cache.queues.toServer(e.key);
    if (simple && !waited && !this.mirror && e.blocked < 0 && !e.uncached && covers(modeIndex(e.lock.mode), to) && (!up || e.nextToken <= e.tokenLast)) {
      if (up) this.tokenN = e.nextToken++;
      this.localMode = to;
      return this;
    }
    this.mirror = true;
    this.st = 'converting';
    try {
      const before = e.lock.token;
      await e.lock.convert(mode, options);
      if (e.lock.token !== before) {
        e.regranted();
        this.tokenN = e.nextToken++;
      }
      this.lvbBytes = e.lock.lvb;
      if (options?.lvb !== undefined) e.lvbDirty = null;
      return this;
    } finally {
      this.st = 'granted';
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

