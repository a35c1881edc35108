/**
 * The client's connection: one socket.io socket, one server session, and
 * every call in flight. socket.io reconnects by itself; each connection
 * presents the session id again (socket.io `auth` is read anew each time).
 *
 * Calls are sent only once the server has confirmed the session on the
 * current connection; until then they wait in order. When the session is
 * resumed, calls that need no server-side state are sent again if their
 * reply was lost, and replies to waits that completed meanwhile arrive as
 * `reply` messages. When it expired, the waits and handles of the old
 * session fail with EREVOKED, reason `session-expired`.
 *
 * When the server restarted and lets this client reclaim (it is in the
 * server's durable record and a grace period is on), the connection is
 * `reclaiming`: the client replays its locks (reclaim.ts), and only those
 * messages go out; everything else (new calls, and the requests the dead
 * server had: waits are re-queued, not failed) waits until the replay is
 * done and then goes to the new session.
 *
 * States: connecting → ready ⇄ away → closed; a restart: away → reclaiming → ready.
 */

import os from 'node:os';
import { io, type Socket } from 'socket.io-client';
import { LockError } from '../src/errors.js';
import { BATCHED_EVENTS } from './protocol.js';
import { Batcher } from './batch.js';
import type { BatchedEvent, ClientToServerEvents, Reply, ServerItem, ServerToClientEvents, SessionInfo, WireError, ClusterView } from './protocol.js';
import * as reconnect from './reconnect.js';
import { fromWire, isWireError, toWire } from './wire.js';
import { QUEUED_CALLS_MAX } from './limits.js';
import type { Call, ConnectionHooks, ConnectionOptions, ConnectionState } from './connection-shapes.js';
export type { ConnectionHooks, ConnectionOptions, ConnectionState } from './connection-shapes.js';

/**
 * Requests sent in one turn leave together (one `m` message), up to MESSAGE_ITEMS_MAX and MESSAGE_BYTES_MAX (protocol.ts).
 * An owner's registration goes with its first request; after a restart, with the reclaim (reclaim.ts, the same bounds).
 */
const BATCHED: ReadonlySet<string> = new Set(BATCHED_EVENTS);

export class Connection {
  state: ConnectionState = 'connecting';
  sessionId: string | null = null;
  leaseMs = 0;
  /** Incremented for every new (not resumed) session: owners register once per epoch. */
  epoch = 0;
  /** The server is in a grace period (new requests get EGRACE until it ends). */
  grace = false;
  /** Epoch whose reclaim is not done yet (0: none); survives a connection drop in the middle of it. */
  private reclaimEpoch = 0;
  private conn = 0;
  private seq = 0;
  private readonly calls = new Map<number, Call>();
  private readonly byReq = new Map<number, Call>();
  private readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  private firstSession: { resolve: () => void; reject: (e: Error) => void } | null = null;
  /** Why the server said it is dropping this connection (its `closed` notice), until the disconnect that follows. */
  private closedBy: 'session-taken-over' | 'session-closed' | null = null;
  /** This turn's batch and the sites numbered on the current connection (batch.ts). */
  private readonly out: Batcher;
  /** This connection in its server's shared reconnection probe (reconnect.ts). */
  private readonly member: reconnect.ReconnectMember;

  /** The membership view a cluster node sent when the session opened (null from a single server). */
  clusterView: ClusterView | null = null;

  constructor(private readonly url: string, private readonly options: ConnectionOptions, private readonly hooks: ConnectionHooks) {
    this.member = { name: options.name, attempt: () => this.attempt() };
    this.socket = io(url, {
      autoConnect: false,
      // One connection per client: socket.io would otherwise share one among clients of the same server,
      // and a session is one client's.
      forceNew: true,
      transports: ['websocket'],
      // Retries are driven by the probe this process shares among the clients of this server (reconnect.ts),
      // on socket.io's own backoff (first retry soon, then up to 2 s: well within a lease).
      reconnection: false,
      auth: (cb) => cb({
        name: options.name, host: options.host ?? os.hostname(), pid: process.pid,
        ...(options.token === undefined ? {} : { token: options.token }),
        ...(this.sessionId === null ? {} : { session: this.sessionId }),
        clientId: options.clientId,
        secret: options.secret,
      }),
    });
    const s = this.socket;
    this.out = new Batcher(s);
    s.on('session', (info) => this.onSession(info));
    s.on('connect', () => reconnect.reached(url, this.member));
    s.on('closed', (m) => {
      this.closedBy = m?.reason === 'session-taken-over' ? 'session-taken-over' : 'session-closed';
    });
    s.on('disconnect', (reason) => {
      if (this.state === 'ready' || this.state === 'reclaiming') {
        this.state = 'away';
        this.hooks.away?.();
      }
      // Dropped by the server on purpose: socket.io never retries, and the session is no longer this client's.
      if (reason === 'io server disconnect') return this.closedByServer();
      // Dropped by this client: no retry either.
      if (this.state !== 'closed' && reason !== 'io client disconnect') reconnect.unreachable(url, this.member);
    });
    s.on('connect_error', (err) => this.onConnectError(err));
    s.on('m', (items) => {
      for (const item of items) this.receive(item);
    });
    s.on('report', (_m, ack) => {
      // Never throw into socket.io: a failed report is still an answer the dump can record.
      try {
        ack(hooks.report());
      } catch (err) {
        ack({ client: options.name, error: String(err) });
      }
    });
  }

  /** One item of the server's batch, in order. */
  private receive(item: ServerItem): void {
    switch (item[0]) {
      case 'ack': this.calls.get(item[1])?.settle(item[2]); break;
      case 'reply': this.byReq.get(item[1].req)?.settle(item[1].reply); break;
      case 'blocking': this.hooks.blocking(item[1].id, item[1].mode); break;
      case 'lost': this.hooks.lost(item[1].id, item[1].reason); break;
      case 'update': this.hooks.update(item[1]); break;
      case 'grace': this.setGrace(item[1].active === true); break;
      case 'view': this.hooks.view?.(item[1]); break;
    }
  }

  private setGrace(active: boolean): void {
    this.grace = active;
    this.hooks.grace(active);
  }

  open(): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs ?? 10_000;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.firstSession = null;
        reconnect.leave(this.url, this.member);
        this.socket.disconnect();
        reject(new LockError('ETIMEDOUT', `no session from the server within ${timeoutMs} ms`));
      }, timeoutMs);
      this.firstSession = {
        resolve: () => { clearTimeout(timer); resolve(); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this.socket.connect();
    });
  }

  /** Try to connect now (the shared probe's call; a no-op while an attempt is under way). */
  private attempt(): void {
    if (this.state !== 'closed' && !this.socket.connected) this.socket.connect();
  }

  private onConnectError(err: Error & { data?: unknown }): void {
    const data = err.data;
    // A network error: the server is not there (yet); retried through the shared probe.
    if (!isWireError(data)) {
      if (this.state !== 'closed') reconnect.unreachable(this.url, this.member);
      return;
    }
    // A refusal by the server (bad token, limit) is final for this client, but the server is up: the others go.
    reconnect.reached(this.url, this.member);
    reconnect.leave(this.url, this.member);
    const e = fromWire(data);
    if (this.firstSession !== null) {
      this.firstSession.reject(e);
      this.firstSession = null;
      this.socket.disconnect();
      return;
    }
    // Refused on a reconnect (a token withdrawn, the server full): socket.io will not retry, so this
    // client is finished; its calls fail with the refusal and its handles are lost.
    this.state = 'closed';
    for (const c of [...this.calls.values()]) c.settle({ error: data });
    this.hooks.sessionLost('session-closed');
  }

  /**
   * The server dropped this connection on purpose, having said why
   * (`closed`: the session was resumed by another connection, or is gone):
   * the client is finished, like one refused on a reconnect. Every call
   * fails EREVOKED with the reason and every handle is lost with it, at once,
   * instead of a handle saying `granted` for a lock that is no longer ours.
   */
  private closedByServer(): void {
    if (this.state === 'closed') return;
    const reason = this.closedBy ?? 'session-closed';
    this.state = 'closed';
    reconnect.leave(this.url, this.member);
    const error: WireError = { code: 'EREVOKED', message: `the server closed this client's session (${reason})`, reason };
    this.firstSession?.reject(fromWire(error));
    this.firstSession = null;
    for (const c of [...this.calls.values()]) c.settle({ error });
    this.hooks.sessionLost(reason);
  }

  private onSession(info: SessionInfo): void {
    const wasKnown = this.sessionId !== null;
    if (info.cluster !== undefined) this.clusterView = info.cluster;
    this.sessionId = info.id;
    this.leaseMs = info.leaseMs;
    this.conn++;
    // A new connection has no numbered sites on the server; a batch built for the old one is stale (its calls go again below).
    this.out.newConnection();
    if (!info.resumed) {
      this.epoch++;
      this.reclaimEpoch = 0;
      if (wasKnown && info.reclaim === true) this.requeue();
      else if (wasKnown) this.loseSession();
    }
    this.state = this.reclaimEpoch === 0 ? 'ready' : 'reclaiming';
    this.setGrace(info.grace === true);
    const unanswered: Call[] = [];
    for (const c of [...this.calls.values()]) {
      if (c.sentOn === this.conn || !this.mayGo(c)) continue;
      // A request the server may hold is asked about (sync); anything else is sent (again).
      if (c.sentOn !== 0 && c.req !== null && info.resumed) unanswered.push(c);
      else this.send(c);
    }
    if (unanswered.length > 0) this.sync(unanswered);
    // Given up while away: the server still holds them; the cancel goes after the sync, in order.
    for (const c of unanswered) if (c.cancelled) this.out.enqueue([0, 'cancel', { req: c.req! }]);
    this.firstSession?.resolve();
    this.firstSession = null;
    if (this.reclaimEpoch === this.epoch && !info.resumed) this.hooks.restarted(this.epoch);
  }

  private mayGo(c: Call): boolean {
    return this.state === 'ready' || (this.state === 'reclaiming' && c.early);
  }

  /**
   * The server restarted and this client may reclaim: what the dead server
   * had is not failed. Releases and registrations are moot (it holds nothing
   * now); every other request is sent again once the replay is done (a wait
   * queued there is queued here). A replay cut short by another restart is
   * abandoned: the next one starts over from the handles.
   */
  private requeue(): void {
    this.reclaimEpoch = this.epoch;
    for (const c of [...this.calls.values()]) {
      if (c.sentOn === 0) continue;
      if (c.early && c.onSessionLost !== null && c.onSessionLost !== 'succeed') c.settle({ error: c.onSessionLost });
      else if (c.onSessionLost === 'succeed') c.settle({ ok: null });
      else c.sentOn = 0;
    }
  }

  /** The replay of `epoch` is done: everything held back goes to the new session. */
  reclaimDone(epoch: number): void {
    if (epoch !== this.reclaimEpoch || epoch !== this.epoch) return;
    this.reclaimEpoch = 0;
    if (this.state !== 'reclaiming') return;
    this.state = 'ready';
    for (const c of [...this.calls.values()]) if (c.sentOn !== this.conn) this.send(c);
  }

  /** Requests whose reply may have been lost with the connection: resend those the server never received. */
  private sync(calls: Call[]): void {
    const conn = this.conn;
    const byReq = new Map(calls.map((c) => [c.req!, c]));
    this.out.flush();
    this.socket.emit('sync', { reqs: [...byReq.keys()] }, (reply) => {
      if (!('ok' in reply) || this.conn !== conn) return;
      for (const req of reply.ok.unknown) {
        const c = byReq.get(req);
        if (c !== undefined && this.byReq.get(req) === c) this.send(c);
      }
    });
  }

  /** The old session is gone: its waits fail, its releases are moot, the rest goes to the new one. */
  private loseSession(): void {
    for (const c of [...this.calls.values()]) {
      if (c.sentOn === 0 || c.onSessionLost === null) continue;
      if (c.onSessionLost === 'succeed') c.settle({ ok: null });
      else c.settle({ error: c.onSessionLost });
    }
    this.hooks.sessionLost('session-expired');
  }

  /**
   * Send a message and resolve with its reply's value (or reject with its
   * LockError). `req` marks a request the server may keep waiting.
   */
  call<T>(
    event: keyof ClientToServerEvents, message: () => unknown, opts: { req?: number; onSessionLost?: WireError | 'succeed' | null; early?: boolean } = {},
  ): Promise<T> {
    if (this.state === 'closed') return Promise.reject(this.closedWith === null ? new LockError('ECANCELED', 'the client is closed') : fromWire(this.closedWith));
    if (this.calls.size >= QUEUED_CALLS_MAX) {
      return Promise.reject(new LockError('ENOLCK', `limit queuedCallsMax (${QUEUED_CALLS_MAX}) reached`, { limit: 'queuedCallsMax' }));
    }
    return new Promise<T>((resolve, reject) => {
      const key = ++this.seq;
      const call: Call = {
        key, event, message, req: opts.req ?? null, sentOn: 0, onSessionLost: opts.onSessionLost ?? null, cancelled: false, early: opts.early ?? false,
        settle: (reply) => {
          if (!this.calls.delete(key)) return;
          if (call.req !== null) this.byReq.delete(call.req);
          if ('ok' in reply) {
            resolve(reply.ok as T);
            return;
          }
          const e = fromWire(reply.error);
          // A failed conversion carries the lock's state after it, for the handle's mirror.
          if (reply.error.lock !== undefined) Object.defineProperty(e, 'serverLock', { value: reply.error.lock });
          reject(e);
        },
      };
      this.calls.set(key, call);
      if (call.req !== null) this.byReq.set(call.req, call);
      if (this.mayGo(call)) this.send(call);
    });
  }

  private send(c: Call): void {
    c.sentOn = this.conn;
    let message: unknown;
    try {
      message = c.message();
      this.out.numberSites(message);
      if (BATCHED.has(c.event)) {
        this.out.enqueue([c.key, c.event as BatchedEvent, message]);
      } else {
        this.out.flush();
        (this.socket.emit as (e: string, m: unknown, ack: (r: Reply<unknown>) => void) => void)(c.event, message, (r) => c.settle(r));
      }
      if (c.cancelled && c.req !== null) this.out.enqueue([0, 'cancel', { req: c.req }]);
    } catch (err) {
      c.settle({ error: toWire(err instanceof LockError ? err : new LockError('EINVAL', String(err))) });
    }
  }

  /**
   * Give up a request: one not sent yet fails here and never goes; one the
   * server has gets a `cancel` (now, or once the connection is back).
   */
  cancel(req: number, error: WireError): void {
    const c = this.byReq.get(req);
    if (c === undefined) return;
    if (c.sentOn === 0) {
      c.settle({ error });
      return;
    }
    c.cancelled = true;
    if (this.state === 'ready' || this.state === 'reclaiming') this.out.enqueue([0, 'cancel', { req }]);
  }

  /**
   * The node is gone for good (a cluster member that left the view): every
   * call ends now, releases as done (the node holds nothing any more), the
   * rest with `error`, which a cluster client routes again.
   */
  failPending(error: WireError): void {
    for (const c of [...this.calls.values()]) c.settle(c.onSessionLost === 'succeed' ? { ok: null } : { error });
  }

  /** Calls sent or queued and not answered yet. */
  get pendingCount(): number {
    return this.calls.size;
  }

  nextReq(): number {
    return ++this.seq;
  }

  /** How calls made or pending at close fail (null: ECANCELED): a cluster client retiring a node's connection routes them again. */
  private closedWith: WireError | null = null;

  /** Say goodbye (the server releases this session's locks at once), then disconnect; calls end with `error` if given. */
  async close(error?: WireError, bye = true): Promise<void> {
    if (error !== undefined) this.closedWith = error;
    if (this.state === 'closed') return;
    if (bye && (this.state === 'ready' || this.state === 'reclaiming')) {
      await Promise.race([
        new Promise<void>((resolve) => {
          this.out.flush();
          this.socket.emit('bye', {}, () => resolve());
        }),
        new Promise<void>((resolve) => setTimeout(resolve, 1000).unref()),
      ]);
    }
    this.state = 'closed';
    reconnect.leave(this.url, this.member);
    this.socket.disconnect();
    for (const c of [...this.calls.values()]) c.settle({ error: this.closedWith ?? toWire(new LockError('ECANCELED', 'the client closed')) });
  }

  get connected(): boolean {
    return this.state === 'ready';
  }
}
