/** A lock-protocol client over a plain WebSocket, speaking client/protocol.ts's frames by hand, for the server's tests. */

import { WebSocket, type ClientOptions } from 'ws';
import type { HandshakeAuth } from '../../client/protocol.js';
import { WS_PATH } from '../../client/protocol-ws.js';
import type { LockServer } from '../../server/index.js';

export type Frame = unknown[];

export class WsPeer {
  readonly frames: Frame[] = [];
  /** The close code, once closed. */
  readonly closed: Promise<number>;
  private readonly waiters: Array<() => void> = [];
  private nextId = 1;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.frames.push(JSON.parse(String(data)) as Frame);
      for (const w of this.waiters.splice(0)) w();
    });
    ws.on('error', () => {});
    this.closed = new Promise((resolve) => ws.once('close', (code) => {
      resolve(code);
      for (const w of this.waiters.splice(0)) w();
    }));
  }

  /** Connects (resolves once the upgrade is answered); `path` and `options` for the tests that vary them. */
  static open(server: LockServer, options: ClientOptions = {}, path = WS_PATH): Promise<WsPeer> {
    const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}${path}`, options);
    const peer = new WsPeer(ws);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(peer));
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
  }

  /** `["hello", auth]`, answered by the `session` or `refused` frame. */
  async hello(auth: HandshakeAuth): Promise<Frame> {
    this.send(['hello', auth]);
    return this.next((f) => f[0] === 'session' || f[0] === 'refused');
  }

  send(frame: Frame): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** A call with an id; resolves with its answer. */
  async call(event: string, msg: unknown): Promise<any> {
    const id = this.nextId++;
    this.send([event, msg, id]);
    return (await this.next((f) => f[0] === 'ack' && f[1] === id))[2];
  }

  /** An `m` batch of [key, event, message] items; resolves with the answers of the keyed ones, by key. */
  async batch(items: [number, string, unknown][]): Promise<Map<number, any>> {
    this.send(['m', items]);
    const want = items.filter(([key]) => key !== 0).map(([key]) => key);
    const got = new Map<number, any>();
    await this.next(() => {
      for (const f of this.frames) {
        if (f[0] !== 'm') continue;
        for (const [e, key, reply] of f[1] as [string, number, unknown][]) if (e === 'ack' && want.includes(key)) got.set(key, reply);
      }
      return want.every((k) => got.has(k));
    }, false);
    return got;
  }

  /** The first frame received (from the start) that `match` accepts; with `take`, removed from the list. */
  async next(match: (f: Frame) => boolean, take = true, ms = 5000): Promise<Frame> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex(match);
      if (i !== -1) return take ? this.frames.splice(i, 1)[0]! : this.frames[i]!;
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error('closed before the frame came');
      const left = end - Date.now();
      if (left <= 0) throw new Error('frame not received in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.ws.terminate();
  }
}
