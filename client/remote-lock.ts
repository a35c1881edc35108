/**
 * RemoteLock: the client's handle on a dlm lock held on the server. It
 * mirrors the server's lock (mode, token, value block, state) from replies
 * and pushes, and has the core handle's API, with release() returning a
 * Promise (it takes a round trip). Its id is the server's: after a server
 * restart and a successful reclaim it is the reclaimed lock's new id.
 */

import type { ConvertOptions, LockHandle, LockState, Range, ReleaseOptions } from '../src/api.js';
import { invalid, LockError, type LossReason } from '../src/errors.js';
import type { DlmMode } from '../src/modes.js';
import type { ReclaimedLock, WireLock } from './protocol.js';
import type { RemoteOwner } from './remote-owner.js';
import { captureSite, checkWireable, fromBase64, toBase64 } from './wire.js';
import { MOVE_POLL_MS, MOVE_WAIT_MAX_MS } from './limits.js';


const CONVERT_LOCAL = new Set(['signal', 'lvb']);
const RELEASE_KEYS = new Set(['lvb']);

export class RemoteLock implements LockHandle {
  private serverId: number;
  readonly domain: string;
  readonly resource: string;
  readonly range: Range | null;
  mode!: DlmMode;
  state!: LockState;
  private tokenText = '0';
  private tokenLastText: string | null = null;
  /** A cached grant's hook (cache.ts, C5): the lock was reclaimed after a restart or moved by a failover. */
  onReclaimed: (() => void) | null = null;
  /** A cached grant's local use, for this client's report to a hang-dump (cache.ts). */
  cacheUse: (() => { inUse: boolean; mode?: string; site?: string; token?: string }) | null = null;
  private lvbBytes: Uint8Array | null = null;
  lvbValid = false;
  lvbSeq = 0;
  demoted = false;
  lostReason: LossReason | null = null;
  onBlocking: ((mode: DlmMode) => void) | null = null;
  /** Where the lock was requested (the stack sent with it), sent again with a reclaim; null without stacks. */
  site: string | null = null;
  private releasing: Promise<void> | null = null;
  /** In a cluster: being reclaimed on its resource's new master (failover.ts); release and convert wait for it. */
  moving: Promise<void> | null = null;

  /** The owner on the node that holds the lock (in a cluster, the application's owner's owner on that node). */
  owner: RemoteOwner;

  constructor(owner: RemoteOwner, w: WireLock) {
    this.owner = owner;
    this.serverId = w.id;
    this.domain = w.domain;
    this.resource = w.resource;
    this.range = w.range;
    this.apply(w);
  }

  get id(): number {
    return this.serverId;
  }

  /** A release is on its way to the server (a reclaim skips such a lock). */
  get releasePending(): boolean {
    return this.releasing !== null;
  }

  /** Re-established on a restarted server: its new id, token and value block (mode and range are as they were). */
  reclaimed(r: ReclaimedLock): void {
    this.serverId = r.id;
    this.tokenText = r.token;
    this.tokenLastText = null;
    const hook = this.onReclaimed;
    if (hook !== null) queueMicrotask(hook);
    if (r.lvb !== undefined) this.lvbBytes = fromBase64(r.lvb);
    this.lvbValid = r.lvbValid ?? false;
    this.lvbSeq = r.lvbSeq ?? 0;
  }

  /**
   * In a cluster: reclaimed on the resource's new master, by `owner` (the
   * application owner's owner on that node). The handle leaves the old
   * node's client and joins the new one under the new id.
   */
  moveTo(owner: RemoteOwner, r: ReclaimedLock): void {
    this.owner.handles.delete(this);
    if (this.owner.client.handles.get(this.serverId) === this) this.owner.client.handles.delete(this.serverId);
    this.owner = owner;
    this.reclaimed(r);
    owner.handles.add(this);
    owner.client.handles.set(this.serverId, this);
  }

  /** A message about this lock is being built: a lock lost or released meanwhile (around a restart) must not send its stale id. */
  private current(code: 'EREVOKED' | 'ENOENT'): number {
    if (this.state === 'released') throw new LockError(code === 'ENOENT' ? 'ENOENT' : 'EINVAL', 'the lock was released', { domain: this.domain, resource: this.resource });
    if (this.state === 'lost') {
      throw new LockError(code, `the lock was lost (${this.lostReason ?? 'unknown'})`, { domain: this.domain, resource: this.resource, ...(this.lostReason === null ? {} : { reason: this.lostReason }) });
    }
    return this.serverId;
  }

  get token(): bigint {
    return BigInt(this.tokenText);
  }

  /** A cached grant's last fencing token (cache.ts, K2); null for any other lock. */
  get tokenLast(): bigint | null {
    return this.tokenLastText === null ? null : BigInt(this.tokenLastText);
  }

  get lvb(): Uint8Array | null {
    return this.lvbBytes === null ? null : this.lvbBytes.slice();
  }

  /** Take the server's view of this lock. */
  apply(w: WireLock): void {
    this.mode = w.mode;
    this.state = w.state;
    this.tokenText = w.token;
    this.tokenLastText = w.tokenLast ?? null;
    if (w.lvb !== null) this.lvbBytes = fromBase64(w.lvb);
    this.lvbValid = w.lvbValid;
    this.lvbSeq = w.lvbSeq;
    this.demoted = w.demoted;
  }

  /** A change pushed by the server without a reply (a queued or demoted conversion). */
  update(m: { mode: DlmMode; state: LockState; demoted: boolean }): void {
    if (this.state === 'released' || this.state === 'lost') return;
    this.mode = m.mode;
    this.state = m.state;
    this.demoted = m.demoted;
  }

  /** The server took the lock away (or the session expired). */
  lose(reason: LossReason): void {
    if (this.state === 'released' || this.state === 'lost') return;
    this.state = 'lost';
    this.lostReason = reason;
    this.owner.forget(this);
  }

  /** Released by its owner (release() or releaseAll()). */
  markReleased(): void {
    if (this.state === 'released' || this.state === 'lost') return;
    this.state = 'released';
    this.lostReason = 'released';
    this.owner.forget(this);
  }

  convert(mode: DlmMode, options?: ConvertOptions): Promise<RemoteLock> {
    if (this.moving !== null) return this.moving.then(() => this.convert(mode, options));
    try {
      if (this.state !== 'granted') {
        const why = this.state === 'converting' ? 'a conversion is already pending' : `the lock is ${this.state}`;
        throw new LockError('EINVAL', `cannot convert: ${why}`, { domain: this.domain, resource: this.resource });
      }
      const wire = checkWireable(options, 'options', CONVERT_LOCAL) ?? {};
      if (options?.lvb !== undefined) wire.lvb = toBase64(options.lvb, 'options.lvb');
      const site = this.owner.client.stacks ? captureSite(RemoteLock.prototype.convert) : undefined;
      return this.owner.client.request('convert', options?.signal, options?.timeoutMs, wire, (req, o) => ({
        req, id: this.current('EREVOKED'), mode, options: o, ...(site === undefined ? {} : { site }),
      }))
        .then(
          (w) => {
            this.apply(w);
            return this;
          },
          (err: LockError) => {
            if (this.owner.client.member !== null && (err.code === 'ESTALE' || (err.code === 'EREVOKED' && err.reason === 'node-moved'))) {
              // In a cluster, a conversion queued on a node that died or stopped mastering the resource moves with its
              // lock (failover.ts F1): the lock is reclaimed in its granted mode, then the conversion is asked again
              // of the new master. (What the old master says of the lock now is moot.)
              if (this.state === 'converting') this.state = 'granted';
              return this.afterMove(err).then(() => this.convert(mode, options));
            }
            const w = (err as { serverLock?: WireLock }).serverLock;
            if (w !== undefined) this.apply(w);
            if (err.code === 'EREVOKED' && err.reason !== undefined) this.lose(err.reason);
            else if (this.state === 'converting') this.state = 'granted';
            throw err;
          },
        );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * A cluster's failover moves this lock (F1): settles once it has moved (or
   * rejects with `err` when it was lost, released, or not moved in time).
   */
  private async afterMove(err: LockError): Promise<void> {
    const from = this.owner;
    const deadline = Date.now() + MOVE_WAIT_MAX_MS;
    while (Date.now() < deadline) {
      if (this.moving !== null) await this.moving;
      if (this.state !== 'granted') throw err;
      if (this.owner !== from) return;
      await new Promise((resolve) => setTimeout(resolve, MOVE_POLL_MS));
    }
    throw err;
  }

  /** Idempotent: a second call returns the first one's promise; a lost lock releases as a no-op. */
  release(options?: ReleaseOptions): Promise<void> {
    if (this.state === 'released' || this.state === 'lost') return Promise.resolve();
    if (this.releasing !== null) return this.releasing;
    if (this.moving !== null) return this.moving.then(() => this.release(options));
    try {
      if (options !== undefined) {
        if (options === null || typeof options !== 'object') throw invalid('options', 'an options object', options);
        for (const k of Object.keys(options)) if (!RELEASE_KEYS.has(k)) throw invalid(`options.${k}`, 'one of the known options (lvb)');
      }
      const lvb = options?.lvb === undefined ? undefined : toBase64(options.lvb, 'options.lvb');
      const p = this.owner.client.conn.call('release', () => ({ id: this.current('ENOENT'), ...(lvb === undefined ? {} : { lvb }) }), { onSessionLost: 'succeed' });
      this.releasing = p.then(
        () => {
          this.releasing = null;
          this.markReleased();
        },
        (err: LockError) => {
          this.releasing = null;
          // ENOENT: the server holds nothing by that id (a loss on its way to us, or a node that restarted under the
          // same address): nothing left to release, and the handle must not stay granted (a later failover pass
          // would reclaim a lock its owner let go of).
          if (err.code !== 'ENOENT') throw err;
          this.markReleased();
        },
      );
      return this.releasing;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}
