/**
 * One lock-protocol connection over a plain WebSocket (the `ws` library) as
 * a `LockLink` (sockets.ts): the frames of client/protocol-ws.ts (`WS_PATH`,
 * `WsFrame`), each one JSON array in a text frame. A call that wants its
 * answer carries an id, `[event, message, id]`, answered `["ack", id,
 * answer]`; the server's own asks (a hang-dump's `report`) go the same way
 * the other direction. Anything else on the wire (a binary frame, text that
 * is not such an array, a frame over the message bound: ws's `maxPayload`)
 * ends the connection as socket.io's parser does; the session lives on for
 * its lease (README.md, "Transports", rule A3).
 *
 * Lifecycle (`state`): hello ──admitted──▶ admitted ──▶ ended, or hello ──▶
 * ended (a refusal, no hello in time, a bad frame). Before admission every
 * frame goes to the server's hello handler (ws-server.ts); after it, to the
 * handlers the lock protocol registered. Once ended nothing more is
 * delivered either way, and the disconnect listeners have run, once.
 */

import type { Socket as NetSocket } from 'node:net';
import type { WebSocket } from 'ws';
import type { ClientToServerEvents, ServerToClientEvents, WireError } from '../client/protocol.js';
import { parseFrame, WS_CLOSE_BY_SERVER } from '../client/protocol-ws.js';
import type { Logger } from './log.js';
import type { LinkAck, LinkEvent, LockLink, SocketData } from './sockets.js';

/** Close codes of RFC 6455 the server uses besides WS_CLOSE_BY_SERVER; any of them, the client comes back. */
export const WS_GOING_AWAY = 1001;
const WS_UNSUPPORTED_DATA = 1003;
const WS_INVALID_PAYLOAD = 1007;
export const WS_POLICY_VIOLATION = 1008;

export type WsLinkState = 'hello' | 'admitted' | 'ended';

/** An ask of the server's waiting for its answer. */
interface Ask {
  cb: (err: Error | null, answer: unknown) => void;
  timer: NodeJS.Timeout;
}

export class WsLink implements LockLink {
  state: WsLinkState = 'hello';
  readonly data = {} as SocketData;
  /** Answered the server's last ping (ws-server.ts sends them). */
  alive = true;
  private readonly handlers = new Map<string, (raw: unknown, ack: LinkAck | null) => void>();
  private other: ((event: string, ack: LinkAck | null) => void) | null = null;
  /**
   * Asks waiting for their answer, by id. Each is removed at its deadline or
   * on its answer, and only a hang-dump asks, so it holds at most the dumps
   * of the last deadline.
   */
  private readonly asks = new Map<number, Ask>();
  private nextAsk = 1;
  private readonly ends: Array<() => void> = [];

  constructor(
    private readonly ws: WebSocket,
    /** The TCP connection under it (pinned once admitted). */
    readonly tcp: NetSocket,
    readonly address: string,
    /** Frames before admission: the hello, or a refusal. */
    private readonly beforeAdmission: (link: WsLink, event: string, msg: unknown) => void,
    private readonly log: Logger,
  ) {
    ws.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    ws.on('pong', () => {
      this.alive = true;
    });
    // ws's own refusals (a frame over maxPayload, text that is not UTF-8, a protocol error): ws closes with its code.
    ws.on('error', (err: Error & { code?: string }) => this.bad(err.code ?? err.message));
    ws.on('close', () => this.end());
  }

  get connected(): boolean {
    return this.state !== 'ended';
  }

  admitted(): void {
    if (this.state === 'hello') this.state = 'admitted';
  }

  on(event: keyof ClientToServerEvents, handler: (raw: unknown, ack: LinkAck | null) => void): void {
    this.handlers.set(event, handler);
  }

  onOther(handler: (event: string, ack: LinkAck | null) => void): void {
    this.other = handler;
  }

  emit<E extends LinkEvent>(event: E, msg: Parameters<ServerToClientEvents[E]>[0]): void {
    this.send([event, msg]);
  }

  ask(event: 'report', deadlineMs: number, cb: (err: Error | null, answer: unknown) => void): void {
    if (!this.connected) return cb(new Error('disconnected'), undefined);
    const id = this.nextAsk++;
    const timer = setTimeout(() => {
      this.asks.delete(id);
      cb(new Error(`no answer within ${deadlineMs} ms`), undefined);
    }, deadlineMs);
    this.asks.set(id, { cb, timer });
    this.send([event, {}, id]);
  }

  /** A deliberate drop (a session taken over or gone): WS_CLOSE_BY_SERVER, which the client does not retry. */
  disconnect(): void {
    this.close(WS_CLOSE_BY_SERVER);
  }

  onDisconnect(fn: () => void): void {
    if (this.state === 'ended') fn();
    else this.ends.push(fn);
  }

  /** The handshake refused: the client is told why, then dropped on purpose. */
  refuse(error: WireError): void {
    this.send(['refused', error]);
    this.close(WS_CLOSE_BY_SERVER);
  }

  /** Close with `code` (ws sends the close frame after what is queued, and ends the TCP connection within its closeTimeout). */
  close(code: number): void {
    if (this.state === 'ended') return;
    this.ws.close(code);
    this.end();
  }

  /** A heartbeat (ws-server.ts): a connection that did not answer the previous ping is ended at once, else pinged. */
  heartbeat(): void {
    if (this.state === 'ended') return;
    if (!this.alive) {
      this.ws.terminate();
      this.end();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  private send(frame: unknown[]): void {
    if (this.state !== 'ended') this.ws.send(JSON.stringify(frame));
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (this.state === 'ended') return;
    if (isBinary) return this.bad('binary frame', WS_UNSUPPORTED_DATA);
    const frame = parseFrame(data);
    if (typeof frame === 'string') return this.bad(frame, WS_INVALID_PAYLOAD);
    const [event, msg, id] = frame;
    if (this.state === 'hello') return this.beforeAdmission(this, event, msg);
    if (event === 'ack') return this.answered(id, msg);
    const ack = id === 0 ? null : (answer: unknown): void => this.send(['ack', id, answer]);
    const handler = this.handlers.get(event);
    if (handler !== undefined) handler(msg, ack);
    else this.other?.(event, ack);
  }

  /** An ask's answer; one that came after its deadline (or was never asked) is dropped. */
  private answered(id: number, answer: unknown): void {
    const ask = this.asks.get(id);
    if (ask === undefined) return;
    this.asks.delete(id);
    clearTimeout(ask.timer);
    ask.cb(null, answer);
  }

  /** A frame the protocol does not allow: logged, and the connection ends (with `code`; ws chose its own when it refused). */
  private bad(reason: string, code?: number): void {
    if (this.state === 'ended') return;
    this.log('warn', 'bad-frame', { address: this.address, ...(this.state === 'admitted' ? { session: this.data.sessionId } : {}), reason });
    if (code === undefined) this.end();
    else this.close(code);
  }

  /** The connection is over for the protocol: pending asks fail now, the disconnect listeners run, once. */
  private end(): void {
    if (this.state === 'ended') return;
    this.state = 'ended';
    for (const ask of this.asks.values()) {
      clearTimeout(ask.timer);
      ask.cb(new Error('disconnected'), undefined);
    }
    this.asks.clear();
    for (const fn of this.ends.splice(0)) fn();
  }
}
