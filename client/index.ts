/**
 * lockscope/client: owners on a lock server, with the same API as the
 * in-process manager's.
 *
 *   const client = await connect('http://127.0.0.1:7070', { token, name: 'web-1' });
 *   const owner = client.owner('job-42');
 *   await using lock = await owner.lock('lin', 'inode:1', 'EX', { timeoutMs: 5000 });
 *
 * After a server restart the client reclaims what it holds by itself
 * (reclaim.ts) and reports it (`client.on('reclaim', report => ...)`); a
 * request refused with EGRACE during the server's grace period is sent
 * again after it, never surfaced to the caller.
 */

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { OwnerOptions } from '../src/api.js';
import { invalid, type LossReason } from '../src/errors.js';
import type { DlmMode } from '../src/modes.js';
import { defaultLimits } from '../src/limits.js';
import { checkName } from '../src/validate.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { REPORT_BYTES_MAX, type CallEvent, type ClientSelfReport, type MessageOf, type ReplyOf, type WireLock } from './protocol.js';
import { replay, type ReclaimReport } from './reclaim.js';
import { RemoteLock } from './remote-lock.js';
import { RemoteOwner } from './remote-owner.js';
import { ClusterRouter } from './cluster.js';
import { callUser } from './wire.js';
import { CachedLock, checkCacheOptions, GrantCache, type CacheOptions } from './cache.js';
import { EARLY_NOTICES_MAX, RECLAIM_REPORTS_KEPT } from './limits.js';
import { Requests } from './requests.js';
import { TRANSPORTS, type TransportKind } from './transport.js';

export interface ConnectOptions {
  /** A token of role `client` (or `admin`); may be absent when the server has no tokens. */
  token?: string;
  /** This client's name: with host and pid, how the server and dashboard name its owners. */
  name?: string;
  /** Relay each request's call site to the server (one stack capture per request). Default true. */
  stacks?: boolean;
  connectTimeoutMs?: number;
  /**
   * Cached grants (cache.ts): a dlm lock stays granted on the server after its
   * owner releases it, and the owner's next compatible request is granted
   * without a message until another client needs it. Off by default; a
   * request's own `cache: true | false` overrides it.
   */
  cache?: boolean | CacheOptions;
  /**
   * How the client reaches the server (transport.ts): `ws`, the lock
   * protocol on a plain WebSocket, or `socket.io`. The same protocol, limits
   * and behaviour on both; default DEFAULT_TRANSPORT (limits.ts).
   */
  transport?: TransportKind;
}


/** Who a client is to the servers: its reclaim identity and the secret that proves it (never shown). */
export interface ClientIdentity {
  clientId: string;
  secret: string;
}

export interface ClientEvents {
  /** A reclaim after a server restart finished: how many locks came back, and which were lost. */
  reclaim: (report: ReclaimReport) => void;
}

export class LockClient {
  readonly conn: Connection;
  /** Requests the server may keep waiting (requests.ts). */
  private readonly requests: Requests;
  readonly stacks: boolean;
  readonly handles = new Map<number, RemoteLock>();
  /** This client's identity for reclaims: made once per connect(), presented on every connection. */
  readonly clientId: string;
  /** Owners that hold posix ranges (held here so the mirror of what they hold outlives the application's references, as on the server). */
  readonly posixOwners = new Set<RemoteOwner>();
  /** The latest reclaim reports, oldest first. */
  readonly reclaims: ReclaimReport[] = [];
  private readonly listeners = new Set<ClientEvents['reclaim']>();
  /**
   * Owners are not kept here: an application may make one per task. When one
   * is garbage collected the server is told, and forgets it if it holds and
   * waits for nothing (its handles refer to it, so a collected owner has none).
   */
  private readonly ownerGone = new FinalizationRegistry<{ oid: number; epoch: number }>((o) => {
    if (o.epoch === this.conn.epoch && this.conn.state === 'ready') void this.conn.call('dropOwner', () => ({ oid: o.oid }), { onSessionLost: 'succeed' }).catch(() => {});
  });
  private readonly early = new Map<number, { blocking?: DlmMode; lost?: LossReason }>();
  private oidSeq = 0;

  /**
   * `identity`: a cluster client's per-node clients share the identity of the
   * client the application got, so that every node records the same client
   * and a reclaim on a new master proves it is the holder (cluster.ts).
   */
  constructor(url: string, options: ConnectOptions = {}, identity?: ClientIdentity) {
    const name = options.name ?? `pid-${process.pid}`;
    checkName(name, 'options.name', defaultLimits.nameBytesMax);
    this.stacks = options.stacks ?? true;
    // Only the application's client caches: a cluster's per-node clients share its identity, not its cache.
    const cacheOptions = identity === undefined ? checkCacheOptions(options.cache) : null;
    this.clientId = identity?.clientId ?? `${name.slice(0, 96)}#${randomBytes(8).toString('hex')}`;
    // Proves the session and the client id are this client's (server/README.md, Sessions S2, S4): kept only
    // in the connection's options, never in a report, an event or a log line.
    const secret = identity?.secret ?? randomBytes(32).toString('base64url');
    this.identity = { clientId: this.clientId, secret };
    const co: ConnectionOptions = { name, clientId: this.clientId, secret, ...(options.token === undefined ? {} : { token: options.token }) };
    if (options.connectTimeoutMs !== undefined) co.connectTimeoutMs = options.connectTimeoutMs;
    if (options.transport !== undefined) {
      if (!TRANSPORTS.includes(options.transport)) throw invalid('options.transport', `one of ${TRANSPORTS.join(', ')}`, options.transport);
      co.transport = options.transport;
    }
    this.conn = new Connection(url, co, {
      blocking: (id, mode) => this.onBlocking(id, mode as DlmMode),
      lost: (id, reason) => {
        // In a cluster a lock moved to another master is reclaimed there, not lost (failover.ts).
        if (reason === 'node-moved' && this.member !== null) this.member.moved(this, id);
        else this.onLost(id, reason as LossReason);
      },
      update: (m) => this.handles.get(m.id)?.update(m),
      view: (v) => this.member?.accept(v),
      away: () => this.member?.away(this),
      sessionLost: (reason) => {
        // In a cluster the node's session is gone, not necessarily the locks: the router reclaims them where they are mastered now.
        if (reason === 'session-expired' && this.member !== null) return this.member.orphaned(this);
        for (const h of [...this.handles.values()]) h.lose(reason);
        for (const o of this.posixOwners) o.posix.clear();
        this.posixOwners.clear();
        this.early.clear();
      },
      restarted: (epoch) => void this.reclaim(epoch),
      grace: (active) => {
        if (active) return;
        this.requests.graceEnded();
      },
      // The lazy reports of cached grants go too (they follow the answer on the same connection).
      report: () => {
        this.cache?.flush();
        return this.selfReport(name);
      },
    });
    this.requests = new Requests(this.conn, () => this.member !== null);
    if (cacheOptions !== null) this.cache = new GrantCache(this, cacheOptions);
  }

  /** This client's cached grants (cache.ts); null while caching is off. */
  cache: GrantCache | null = null;

  /** The cache, made with the defaults for a request that asks for `cache: true` on a client without one. */
  grantCache(): GrantCache {
    return (this.cache ??= new GrantCache(this, checkCacheOptions(true)!));
  }

  /**
   * This client's side of a hang-dump: the locks its handles hold and its own
   * process report. Environment variables and network interfaces are left out
   * here, before anything leaves the process (the server redacts again).
   */
  private selfReport(name: string): ClientSelfReport {
    const all = [...this.handles.values()].map((h) => ({
      owner: h.owner.name, id: h.id, domain: h.domain, resource: h.resource, mode: h.mode, state: h.state, token: String(h.token),
      ...(h.cacheUse === null ? {} : { cached: h.cacheUse() }),
    }));
    const full = process.report.getReport() as unknown as Record<string, unknown>;
    const { environmentVariables: _env, ...rest } = full;
    const header = { ...(rest.header as Record<string, unknown> | undefined) };
    delete header.networkInterfaces;
    const report: ClientSelfReport = {
      client: name, clientId: this.clientId, host: os.hostname(), pid: process.pid, locks: [], locksTotal: all.length,
      pendingCalls: this.conn.pendingCount, process: { ...rest, header },
    };
    // The answer must fit one message: the server drops a bigger one, and the connection with it.
    const size = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));
    let room = REPORT_BYTES_MAX - size(report);
    if (room < 0) {
      report.process = { omitted: `the process report is larger than ${REPORT_BYTES_MAX} bytes` };
      room = REPORT_BYTES_MAX - size(report);
    }
    for (const l of all) {
      room -= size(l) + 1;
      if (room < 0) break;
      report.locks.push(l);
    }
    return report;
  }

  on<E extends keyof ClientEvents>(event: E, listener: ClientEvents[E]): this {
    if (event !== 'reclaim' || typeof listener !== 'function') throw invalid('event', 'reclaim, with a function');
    this.listeners.add(listener);
    return this;
  }

  off<E extends keyof ClientEvents>(_event: E, listener: ClientEvents[E]): this {
    this.listeners.delete(listener);
    return this;
  }

  private async reclaim(epoch: number): Promise<void> {
    this.early.clear();
    const report = await replay(this, epoch);
    if (report !== null) this.report(report);
  }

  /** A reclaim (after a restart, or a cluster failover) finished: kept, and told to the listeners. */
  report(report: ReclaimReport): void {
    this.reclaims.push(report);
    if (this.reclaims.length > RECLAIM_REPORTS_KEPT) this.reclaims.shift();
    for (const l of [...this.listeners]) {
      try {
        l(report);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /** After a reclaim: the handles still held, under their new server ids (the old ids mean nothing to the new server). */
  rekey(kept: RemoteLock[]): void {
    this.handles.clear();
    for (const h of kept) this.handles.set(h.id, h);
  }

  /** The server's id for this client's session. */
  get session(): string | null {
    return this.conn.sessionId;
  }

  owner(name: string, options?: OwnerOptions): RemoteOwner {
    const o = this.directOwner(name, options);
    // In a cluster the application's owner sends nothing itself: each request goes to its resource's master.
    o.router = this.router;
    return o;
  }

  /** An owner whose requests go to this client's own server (the router's owner on one node). */
  directOwner(name: string, options?: OwnerOptions): RemoteOwner {
    checkName(name, 'name', defaultLimits.nameBytesMax);
    if (options !== undefined && (options === null || typeof options !== 'object')) throw invalid('options', 'an options object', options);
    return new RemoteOwner(this, ++this.oidSeq, name, options);
  }

  /** In a cluster: routes each request to its resource's master (cluster.ts); null with a single server. */
  router: ClusterRouter | null = null;
  /** In a cluster: the router this client is the per-node client of (the attached one included). */
  member: ClusterRouter | null = null;
  /** The client id and secret, for the router's per-node clients. */
  readonly identity: ClientIdentity;

  /** Called when an owner registers on a session, so its collection can be reported to that session. */
  watchOwner(o: RemoteOwner): void {
    this.ownerGone.register(o, { oid: o.oid, epoch: o.epoch });
  }

  /** A round trip: everything sent before has been handled by the server when this resolves. */
  async ping(): Promise<void> {
    await this.conn.call('ping', () => ({}));
  }

  async close(): Promise<void> {
    this.cache?.close();
    await Promise.all([this.conn.close(), this.router?.close()]);
  }

  /**
   * A request the server may keep waiting: numbered, cancellable through
   * its signal, failed by the client too if the server stays silent past
   * its timeout, and failed EREVOKED if the session is lost meanwhile
   * (requests.ts).
   */
  request<E extends CallEvent>(
    event: E, signal: AbortSignal | undefined, timeoutMs: unknown, wire: Record<string, unknown>,
    build: (req: number, options: Record<string, unknown> | undefined) => MessageOf<E>,
  ): Promise<ReplyOf<E>> {
    return this.requests.request(event, signal, timeoutMs, wire, build);
  }

  /** A granted lock's reply becomes a handle (with any notice that outran it). */
  adopt(owner: RemoteOwner, w: WireLock, onBlocking: ((mode: DlmMode) => void) | null, site: string | null): RemoteLock {
    const h = new RemoteLock(owner, w);
    h.onBlocking = onBlocking;
    h.site = site;
    this.handles.set(h.id, h);
    owner.handles.add(h);
    const notice = this.early.get(h.id);
    if (notice !== undefined) {
      this.early.delete(h.id);
      if (notice.lost !== undefined) h.lose(notice.lost);
      else if (notice.blocking !== undefined) this.onBlocking(h.id, notice.blocking);
    }
    return h;
  }

  private onBlocking(id: number, mode: DlmMode): void {
    const h = this.handles.get(id);
    if (h === undefined) return this.remember(id, { blocking: mode });
    callUser(h.onBlocking, mode);
  }

  private onLost(id: number, reason: LossReason): void {
    const h = this.handles.get(id);
    if (h === undefined) this.remember(id, { lost: reason });
    else h.lose(reason);
  }

  private remember(id: number, notice: { blocking?: DlmMode; lost?: LossReason }): void {
    if (this.early.size >= EARLY_NOTICES_MAX) this.early.delete(this.early.keys().next().value!);
    this.early.set(id, { ...this.early.get(id), ...notice });
  }
}

/** Connect to a lock server; resolves once the server has opened a session. */
/**
 * A client of a lock server, or of a cluster: give it any node's URL (or
 * several: the first that answers is used). A cluster node says so when the
 * session opens, with its membership view; the client then sends each
 * request to its resource's master (cluster.ts), with the same owner API.
 */
export async function connect(url: string | readonly string[], options: ConnectOptions = {}): Promise<LockClient> {
  const urls = typeof url === 'string' ? [url] : [...url];
  if (urls.length === 0 || urls.some((u) => typeof u !== 'string')) throw invalid('url', 'a URL or a non-empty list of URLs', url);
  let last: unknown = null;
  for (const u of urls) {
    try {
      const client = await connectOne(u, options);
      const view = client.conn.clusterView;
      if (view !== null) client.router = client.member = new ClusterRouter(client, view, options, connectOne);
      return client;
    } catch (err) {
      last = err;
    }
  }
  throw last;
}

async function connectOne(url: string, options: ConnectOptions, identity?: ClientIdentity): Promise<LockClient> {
  const client = new LockClient(url, options, identity);
  await client.conn.open();
  return client;
}

export { RemoteLock, RemoteOwner, CachedLock };
/** What a remote owner's lock() gives: a handle on a server lock, or a local use of a cached grant (cache.ts). */
export type RemoteHandle = RemoteLock | CachedLock;
export type { CacheOptions } from './cache.js';
export type { LostLock, ReclaimReport } from './reclaim.js';
export type * from './protocol.js';
