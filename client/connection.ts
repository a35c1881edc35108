/**
 * The client's connection: one transport (transport.ts: a plain WebSocket or
 * socket.io), one server session, and every call in flight. The shared probe
 * reconnects it (reconnect.ts); each connection presents the session id
 * again (the handshake is read anew each time).
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
import { LockError } from '../src/errors.js';
import { BATCHED_EVENTS } from './protocol.js';
import { Batcher } from './batch.js';
import type { BatchedEvent, CallEvent, ClientItem, ClientReportFailure, ClientSelfReport, ClusterView, DirectEvent, HandshakeAuth, MessageOf, Reply, ReplyOf, ServerItem, SessionInfo, WireError } from './protocol.js';
import * as reconnect from './reconnect.js';
import { fromWire, isWireError, toWire } from './wire.js';
import { DEFAULT_TRANSPORT, QUEUED_CALLS_MAX } from './limits.js';
import type { DropCause, Transport, TransportEvents } from './transport.js';
import { IoTransport } from './transport-io.js';
import { WsTransport } from './transport-ws.js';
import { CallTable, type Call, type CallOptions } from './calls.js';
import type { ConnectionHooks, ConnectionOptions, ConnectionState } from './connection-shapes.js';
export type { ConnectionHooks, ConnectionOptions, ConnectionState } from './connection-shapes.js';

/**
 * Requests sent in one turn leave together (one `m` message), up to MESSAGE_ITEMS_MAX and MESSAGE_BYTES_MAX (protocol.ts).
 * An owner's registration goes with its first request; after a restart, with the reclaim (reclaim.ts, the same bounds).
 */
const BATCHED: ReadonlySet<string> = new Set(BATCHED_EVENTS);

function isBatched(event: CallEvent): event is BatchedEvent {
  return BATCHED.has(event);
}

/**
 * A call as it goes: a batch's item, or the transport's call for one sent
 * on its own. Connection.call takes a call's event and message as one
 * event's (protocol.ts, MessageOf); the table that holds the calls of every
 * event keeps the message as any event's, so send() is where the two are
 * paired again, once for each way.
 */
type SendOne = (event: DirectEvent, message: MessageOf<CallEvent>, answer: (reply: Reply<unknown>) => void) => void;

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
  private readonly calls = new CallTable();
  private readonly link: Transport;
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
    const transport = { url, auth: () => this.handshake() };
    const events: TransportEvents = {
      reached: () => reconnect.reached(url, this.member),
      unreachable: () => this.unreachable(),
      session: (info) => this.onSession(info),
      refused: (data) => this.onRefused(data),
      closing: (reason) => { this.closedBy = reason; },
      items: (items) => { for (const item of items) this.receive(item); },
      report: (answer) => this.report(answer),
      dropped: (cause) => this.onDropped(cause),
    };
    this.link = (options.transport ?? DEFAULT_TRANSPORT) === 'ws' ? new WsTransport(transport, events) : new IoTransport(transport, events);
    this.out = new Batcher(this.link);
  }

  /** What this client presents on each connection (the session to resume, once it has one). */
  private handshake(): HandshakeAuth {
    const o = this.options;
    return {
      name: o.name, host: o.host ?? os.hostname(), pid: process.pid,
      ...(o.token === undefined ? {} : { token: o.token }),
      ...(this.sessionId === null ? {} : { session: this.sessionId }),
      clientId: o.clientId,
      secret: o.secret,
    };
  }

  private unreachable(): void {
    if (this.state !== 'closed') reconnect.unreachable(this.url, this.member);
  }

  private report(answer: (report: ClientSelfReport | ClientReportFailure) => void): void {
    // Never throw into the transport: a failed report is still an answer the dump can record.
    try {
      answer(this.hooks.report());
    } catch (err) {
      answer({ client: this.options.name, error: String(err) });
    }
  }

  private onDropped(cause: DropCause): void {
    if (this.state === 'ready' || this.state === 'reclaiming') {
      this.state = 'away';
      this.hooks.away?.();
    }
    // Dropped by the server on purpose: never retried, and the session is no longer this client's.
    if (cause === 'server') return this.closedByServer();
    // Dropped by this client: no retry either.
    if (this.state !== 'closed' && cause === 'network') reconnect.unreachable(this.url, this.member);
  }

  /** One item of the server's batch, in order. */
  private receive(item: ServerItem): void {
    switch (item[0]) {
      case 'ack': this.calls.get(item[1])?.settle(item[2]); break;
      case 'reply': this.calls.request(item[1].req)?.settle(item[1].reply); break;
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
        this.link.disconnect();
        reject(new LockError('ETIMEDOUT', `no session from the server within ${timeoutMs} ms`));
      }, timeoutMs);
      this.firstSession = {
        resolve: () => { clearTimeout(timer); resolve(); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this.link.connect();
    });
  }

  /** Try to connect now (the shared probe's call; a no-op while an attempt is under way). */
  private attempt(): void {
    if (this.state !== 'closed' && !this.link.connected) this.link.connect();
  }

  /** The server refused the handshake (or, when `data` is no WireError, the attempt failed as a network error). */
  private onRefused(data: unknown): void {
    // A network error: the server is not there (yet); retried through the shared probe.
    if (!isWireError(data)) {
      this.unreachable();
      return;
    }
    // A refusal by the server (bad token, limit) is final for this client, but the server is up: the others go.
    reconnect.reached(this.url, this.member);
    reconnect.leave(this.url, this.member);
    const e = fromWire(data);
    if (this.firstSession !== null) {
      this.firstSession.reject(e);
      this.firstSession = null;
      this.link.disconnect();
      return;
    }
    // Refused on a reconnect (a token withdrawn, the server full): the transport does not retry, so this
    // client is finished; its calls fail with the refusal and its handles are lost.
    this.state = 'closed';
    this.calls.settleAll({ error: data });
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
    this.calls.settleAll({ error });
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
    for (const c of this.calls.all()) {
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
    this.calls.requeue();
  }

  /** The replay of `epoch` is done: everything held back goes to the new session. */
  reclaimDone(epoch: number): void {
    if (epoch !== this.reclaimEpoch || epoch !== this.epoch) return;
    this.reclaimEpoch = 0;
    if (this.state !== 'reclaiming') return;
    this.state = 'ready';
    for (const c of this.calls.all()) if (c.sentOn !== this.conn) this.send(c);
  }

  /** Requests whose reply may have been lost with the connection: resend those the server never received. */
  private sync(calls: Call[]): void {
    const conn = this.conn;
    const byReq = new Map(calls.map((c) => [c.req!, c]));
    this.out.flush();
    this.link.call('sync', { reqs: [...byReq.keys()] }, (reply) => {
      if (!('ok' in reply) || this.conn !== conn) return;
      for (const req of reply.ok.unknown) {
        const c = byReq.get(req);
        if (c !== undefined && this.calls.request(req) === c) this.send(c);
      }
    });
  }

  /** The old session is gone: its waits fail, its releases are moot, the rest goes to the new one. */
  private loseSession(): void {
    this.calls.loseSession();
    this.hooks.sessionLost('session-expired');
  }

  /**
   * Send a message and resolve with its reply's value (or reject with its
   * LockError). `req` marks a request the server may keep waiting.
   */
  call<E extends CallEvent>(event: E, message: () => MessageOf<E>, opts: CallOptions = {}): Promise<ReplyOf<E>> {
    if (this.state === 'closed') return Promise.reject(this.closedWith === null ? new LockError('ECANCELED', 'the client is closed') : fromWire(this.closedWith));
    if (this.calls.size >= QUEUED_CALLS_MAX) {
      return Promise.reject(new LockError('ENOLCK', `limit queuedCallsMax (${QUEUED_CALLS_MAX}) reached`, { limit: 'queuedCallsMax' }));
    }
    return new Promise<ReplyOf<E>>((resolve, reject) => {
      const call = this.calls.open(event, message, opts, resolve, reject);
      if (this.mayGo(call)) this.send(call);
    });
  }

  private send(c: Call): void {
    c.sentOn = this.conn;
    try {
      const message = c.message();
      this.out.numberSites(message);
      if (isBatched(c.event)) {
        this.out.enqueue([c.key, c.event, message] as ClientItem);
      } else {
        this.out.flush();
        (this.link.call as SendOne)(c.event, message, (r) => c.settle(r));
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
    const c = this.calls.request(req);
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
    this.calls.failAll(error);
  }

  /** Calls sent or queued and not answered yet. */
  get pendingCount(): number {
    return this.calls.size;
  }

  nextReq(): number {
    return this.calls.nextReq();
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
          this.link.call('bye', {}, () => resolve());
        }),
        new Promise<void>((resolve) => setTimeout(resolve, 1000).unref()),
      ]);
    }
    this.state = 'closed';
    reconnect.leave(this.url, this.member);
    this.link.disconnect();
    this.calls.settleAll({ error: this.closedWith ?? toWire(new LockError('ECANCELED', 'the client closed')) });
  }

  get connected(): boolean {
    return this.state === 'ready';
  }

  /**
   * Failures on purpose (the demo's incidents, tests): `cut` drops the
   * connection as the network would (the client comes back and resumes its
   * session); `vanish` goes silent without a goodbye and never comes back,
   * so the server expires the session after its lease.
   */
  cut(): void {
    this.link.cut();
  }

  vanish(): void {
    this.link.disconnect();
  }
}
