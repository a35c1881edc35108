/**
 * Web pages in open mode (no token configured; loopback only). A browser
 * sends requests to 127.0.0.1 on behalf of any page it shows, so without
 * these checks any web site the operator visits could take and break locks,
 * read the state and take dumps: by a WebSocket (no same-origin rule), a
 * form or `no-cors` POST (CSRF), or DNS rebinding (a name of the attacker's
 * that resolves to 127.0.0.1, which makes the page same-origin with us).
 * Rules O1–O3 of server/README.md ("Web pages and open mode"):
 *
 *   O1. The Host header names a loopback host (`localhost`, `*.localhost`,
 *       127.x.x.x, [::1]): a rebound name is refused.
 *   O2. An Origin header, when sent, is this server's own origin
 *       (`http://` + the Host); `null` (sandboxed frames, files) is refused.
 *       Node clients and curl send none.
 *   O3. A request that can change state (any method but GET, HEAD,
 *       OPTIONS) is `Content-Type: application/json`: a page on another
 *       origin cannot send that without a CORS preflight, which this
 *       server never grants.
 *
 * With tokens none of this applies: the token travels in a header or in
 * socket.io's `auth`, never sent by a browser on its own (no cookie), so a
 * foreign page has nothing to replay; and the server may then sit behind any
 * host name.
 */

import type { IncomingMessage } from 'node:http';
import { LockError } from '../src/index.js';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A loopback address or name: where createServer listens without tokens, and what O1 admits. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The host part of a Host header (`name:port`, `[v6]:port`), lowercased; null if it is not one. */
function hostName(host: string): string | null {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::[0-9]{1,5})?$/i.exec(host);
  if (m === null) return null;
  const name = m[1]!.toLowerCase();
  return name.startsWith('[') ? name.slice(1, -1) : name;
}

function loopbackHost(host: string | undefined): boolean {
  // HTTP/1.0 and some tools send no Host: nothing a browser does.
  if (host === undefined) return true;
  const name = hostName(host);
  return name !== null && (isLoopback(name) || name.endsWith('.localhost'));
}

/**
 * Why a request must be refused in open mode (O1–O3), or null. `changes`:
 * the request may change state (HTTP only; a socket.io handshake is a GET
 * that opens a session, covered by O1 and O2).
 */
export function openModeRefusal(req: IncomingMessage, changes: boolean): LockError | null {
  const host = req.headers.host;
  if (!loopbackHost(host)) return new LockError('EPERM', 'open mode answers loopback host names only (Host)');
  const origin = req.headers.origin;
  if (origin !== undefined && (host === undefined || origin.toLowerCase() !== `http://${host.toLowerCase()}`)) {
    return new LockError('EPERM', 'open mode answers pages of its own origin only (Origin)');
  }
  if (changes && !SAFE_METHODS.has(req.method ?? 'GET')) {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json') return new LockError('EINVAL', 'a request that changes state must be application/json');
  }
  return null;
}
