/**
 * The `ws` transport (transport.ts): the lock protocol's frames on a plain
 * WebSocket (protocol-ws.ts): `hello` with the handshake as soon as
 * the socket opens, `session` or `refused` back; calls numbered and
 * answered by `ack`; `m` batches both ways.
 *
 * Liveness: the server pings every `heartbeatMs` (SessionInfo). A
 * connection that hears no ping (nor anything else) for two heartbeats
 * plus WS_HEARTBEAT_SLACK_MS is dropped as a network failure: a server that
 * hangs or vanishes without a FIN is noticed within the lease. Until the
 * session arrives, the attempt itself is bounded by WS_ATTEMPT_MS.
 *
 * A close with WS_CLOSE_BY_SERVER is the server's deliberate drop (after
 * `closed`, or with `refused`): never retried. Any other close is a
 * network failure, retried by the connection's probe.
 */

import WebSocket from 'ws';
import { WS_ATTEMPT_MS, WS_HEARTBEAT_SLACK_MS } from './limits.js';
import { parseFrame, WS_CLOSE_BY_SERVER, WS_PATH, type ParsedFrame, type WsFrame } from './protocol-ws.js';
import type { ClientItem, DirectEvent, MessageOf, Reply, ReplyOf, ServerItem, SessionInfo } from './protocol.js';
import { closingReason, type Transport, type TransportEvents, type TransportOptions } from './transport.js';

/** The WebSocket URL of a server's base URL: http → ws, https → wss, on the protocol's path. */
export function wsUrl(base: string): string {
  const u = new URL(base);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.pathname = WS_PATH;
  return u.toString();
}

export class WsTransport implements Transport {
  private ws: WebSocket | null = null;
  private open = false;
  /** The server refused this attempt (its `refused` frame came): the close that follows is not a drop. */
  private refusedNow = false;
  private byClient = false;
  /** Answers awaited for this connection's calls, by id; dropped with the connection (the connection sends again). */
  private readonly answers = new Map<number, (reply: Reply<unknown>) => void>();
  private nextId = 0;
  private heartbeatMs = 0;
  private watchdog: NodeJS.Timeout | null = null;
  private readonly url: string;
  generation = 0;

  constructor(private readonly options: TransportOptions, private readonly events: TransportEvents) {
    this.url = wsUrl(options.url);
  }

  get connected(): boolean {
    return this.open;
  }

  connect(): void {
    if (this.ws !== null) return;
    this.refusedNow = false;
    this.byClient = false;
    this.heartbeatMs = 0;
    // Nagle off (ws does it on its socket): a lock request is one small frame that must leave now.
    const ws = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: WS_ATTEMPT_MS });
    this.ws = ws;
    this.watch(WS_ATTEMPT_MS);
    ws.on('open', () => {
      this.open = true;
      this.generation++;
      this.send(['hello', this.options.auth()]);
      this.events.reached();
    });
    ws.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    ws.on('ping', () => this.alive());
    // An error is followed by a close, which says what happened.
    ws.on('error', () => {});
    ws.on('close', (code) => this.closed(ws, code));
  }

  disconnect(): void {
    if (this.ws === null) return;
    this.byClient = true;
    this.ws.close(1000);
    // Stop the watchdog and forget the socket now: the close handshake needs no more of this client.
    this.closed(this.ws, 1000);
  }

  cut(): void {
    this.ws?.terminate();
  }

  batch(items: ClientItem[]): void {
    this.send(['m', items]);
  }

  call<E extends DirectEvent>(event: E, message: MessageOf<E>, answer: (reply: Reply<ReplyOf<E>>) => void): void {
    const id = ++this.nextId;
    // The server answers each event with its reply's shape (protocol.ts): the wire is not checked again here.
    this.answers.set(id, answer as (reply: Reply<unknown>) => void);
    this.send([event, message, id]);
  }

  private send(frame: WsFrame): void {
    if (this.ws !== null && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private receive(data: Buffer, isBinary: boolean): void {
    this.alive();
    const frame = isBinary ? 'binary' : parseFrame(data);
    // A server that sends what the protocol has no frame for is not one to talk to: drop and retry.
    if (typeof frame === 'string') {
      this.ws?.terminate();
      return;
    }
    this.dispatch(frame);
  }

  private dispatch([event, a, id]: ParsedFrame): void {
    switch (event) {
      case 'm': this.events.items(a as ServerItem[]); break;
      case 'ack': {
        const answer = this.answers.get(id);
        if (answer === undefined) break;
        this.answers.delete(id);
        answer(a as Reply<unknown>);
        break;
      }
      case 'session': {
        const info = a as SessionInfo;
        if (typeof info?.heartbeatMs === 'number' && info.heartbeatMs > 0) this.heartbeatMs = info.heartbeatMs;
        else this.stopWatch(); // a server that names no heartbeat: the connection lives until it closes
        this.alive();
        this.events.session(info);
        break;
      }
      case 'refused':
        this.refusedNow = true;
        this.events.refused(a);
        break;
      case 'closed':
        this.events.closing(closingReason(a));
        break;
      case 'report':
        if (id !== 0) this.events.report((report) => this.send(['ack', id, report]));
        break;
    }
  }

  /** Something came from the server: it is alive for two more heartbeats (or the rest of the attempt). */
  private alive(): void {
    if (this.heartbeatMs > 0) this.watch(2 * this.heartbeatMs + WS_HEARTBEAT_SLACK_MS);
  }

  private watch(ms: number): void {
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    const ws = this.ws;
    this.watchdog = setTimeout(() => ws?.terminate(), ms);
    this.watchdog.unref();
  }

  private stopWatch(): void {
    if (this.watchdog !== null) clearTimeout(this.watchdog);
    this.watchdog = null;
  }

  private closed(ws: WebSocket, code: number): void {
    if (this.ws !== ws) return;
    this.ws = null;
    this.stopWatch();
    this.answers.clear();
    const wasOpen = this.open;
    this.open = false;
    if (this.refusedNow) return;
    if (this.byClient) {
      if (wasOpen) this.events.dropped('client');
      return;
    }
    if (!wasOpen) this.events.unreachable();
    else this.events.dropped(code === WS_CLOSE_BY_SERVER ? 'server' : 'network');
  }
}
