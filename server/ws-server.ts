/**
 * The lock protocol's plain WebSocket transport on the HTTP server (the
 * other is socket.io, handshake.ts): upgrades on WS_PATH (client/protocol-ws.ts)
 * taken after open mode's checks (origin.ts, rules O1 and O2), the client's
 * `hello` admitted as on socket.io (admission.ts), heartbeats, and the
 * connections closed when the server stops (README.md, "Transports",
 * rules A2, A4 and A5). Each connection is a WsLink (ws-link.ts).
 *
 * Upgrades on other paths are left alone: socket.io's engine.io handles
 * its own and ends any other upgrade that nothing answered within a second
 * (it ends only sockets with nothing written, and ours have their 101).
 *
 * Preconditions: the admission's parts are built (server.ts); nothing here
 * runs before an upgrade arrives.
 */

import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import { WebSocketServer, type ServerOptions, type WebSocket } from 'ws';
import { LockError } from '../src/index.js';
import { WS_PATH } from '../client/protocol-ws.js';
import type { Admission } from './admission.js';
import type { Auth } from './auth.js';
import { serverLimits } from './limits.js';
import type { Logger } from './log.js';
import { openModeRefusal } from './origin.js';
import { WS_GOING_AWAY, WS_POLICY_VIOLATION, WsLink } from './ws-link.js';

export interface LockServerWs {
  /** Stop taking upgrades and close every connection with a code the client retries (not WS_CLOSE_BY_SERVER). */
  close(): void;
}

/** The ws transport on `http`: upgrades on WS_PATH, hello, heartbeats every admission.heartbeatMs. */
export function lockServerWs(http: HttpServer, auth: Auth, admission: Admission, log: Logger): LockServerWs {
  const wss = new WebSocketServer({
    noServer: true, clientTracking: false, perMessageDeflate: false,
    // The same bound as socket.io's maxHttpBufferSize: ws closes a connection whose frame is longer (code 1009).
    maxPayload: serverLimits.messageBytesMax,
    // A peer that does not answer our close frame is cut off this soon, not after ws's 30 s (a stopping server waits for it).
    closeTimeout: serverLimits.wsCloseTimeoutMs,
  } as ServerOptions & { closeTimeout: number });
  const links = new Set<WsLink>();
  let stopped = false;

  const hello = (link: WsLink, event: string, msg: unknown): void => {
    try {
      if (event !== 'hello') throw new LockError('EINVAL', 'the first frame is ["hello", auth]');
      admission.admit(link.data, msg, link.address);
    } catch (err) {
      link.refuse(admission.refusal(err, link.address));
      return;
    }
    link.admitted();
    admission.start(link, link.tcp);
  };

  const opened = (ws: WebSocket, req: IncomingMessage): void => {
    const link = new WsLink(ws, req.socket, req.socket.remoteAddress ?? '', hello, log);
    links.add(link);
    // As socket.io's connectTimeout: a connection that shows no token in time holds no descriptor longer.
    const helloTimer = setTimeout(() => {
      if (link.state === 'hello') link.close(WS_POLICY_VIOLATION);
    }, serverLimits.headersTimeoutMs);
    link.onDisconnect(() => clearTimeout(helloTimer));
    ws.once('close', () => links.delete(link));
  };

  http.on('upgrade', (req: IncomingMessage, socket: NetSocket, head: Buffer) => {
    if (pathOf(req.url) !== WS_PATH) return;
    if (stopped) return void socket.destroy();
    if (auth.open && openModeRefusal(req, false) !== null) return forbid(socket);
    wss.handleUpgrade(req, socket, head, (ws) => opened(ws, req));
  });

  // A4: one sweep for every connection, each pinged every heartbeatMs and ended at the next sweep if it did not answer.
  const sweep = setInterval(() => {
    for (const link of links) link.heartbeat();
  }, admission.heartbeatMs);

  return {
    close() {
      if (stopped) return;
      stopped = true;
      clearInterval(sweep);
      for (const link of links) link.close(WS_GOING_AWAY);
    },
  };
}

function pathOf(url: string | undefined): string {
  const q = url?.indexOf('?') ?? -1;
  return url === undefined ? '' : q === -1 ? url : url.slice(0, q);
}

/** Open mode refused the upgrade: a 403, and the connection ends once it is written. */
function forbid(socket: NetSocket): void {
  // The HTTP server took its error listener off the upgraded socket: without one, a reset would end the process.
  socket.on('error', () => socket.destroy());
  socket.once('finish', () => socket.destroy());
  socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
}
