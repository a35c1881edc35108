/**
 * The bound on the HTTP server's TCP connections (limits.ts
 * `connectionsMax`): without it, anyone who can reach the port (no token
 * needed) holds a file descriptor per half-sent request until the process
 * has none left, and `/healthz`, the lock protocol and the dashboard all
 * stop answering.
 *
 * Every connection is in one of three states:
 *
 *   idle ──request──▶ busy ──response done──▶ idle
 *   idle ──WebSocket upgrade──▶ idle (afresh) ──admitted (pin)──▶ pinned
 *
 * idle: accepted, no request in progress (a half-sent request, a keep-alive
 * between requests, or a WebSocket upgraded but not yet admitted: no token
 * shown yet). busy: a request is being answered (its body may still be
 * arriving). pinned: a WebSocket whose lock-protocol connection (on
 * socket.io or the ws transport) or feed connection was admitted (it
 * showed a token, or the server is open). At the bound a new
 * connection closes the connection idle longest, else the oldest busy one
 * whose request has not fully arrived (a body sent a byte at a time is a
 * half-sent request too), so a flood cannot keep out the next request (a
 * `/healthz`, a client's handshake): each new one pushes out the oldest of
 * the flood. With none of those to close (every connection answering a
 * whole request, or pinned: real load) the new connection is closed instead.
 *
 * Node's own timeouts (headersTimeout, requestTimeout, keepAliveTimeout,
 * set from limits.ts by server.ts) end idle connections by themselves well
 * before the bound matters in ordinary use.
 *
 * Invariants: idle and busy are disjoint subsets of open; a connection is
 * in `open` from its accept until its close or eviction.
 */

import type { Server as HttpServer, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { assert } from '../src/assert.js';

export interface ConnectionBound {
  /** Connections open now. */
  readonly size: number;
  /** An admitted WebSocket (socket.io's or the ws transport's): never closed to make room. */
  pin(socket: Socket): void;
  /** Connections closed to make room, and connections refused because none could be. */
  readonly evicted: number;
  readonly refused: number;
}

export function boundConnections(http: HttpServer, max: number): ConnectionBound {
  assert(Number.isInteger(max) && max >= 1, 'connectionsMax is a positive integer');
  const c = new Connections();
  const stats = { evicted: 0, refused: 0 };
  http.on('connection', (s: Socket) => {
    if (c.open.size >= max) {
      const old = c.victim();
      if (old === null) {
        stats.refused++;
        s.destroy();
        return;
      }
      c.forget(old);
      stats.evicted++;
      old.destroy();
    }
    c.open.add(s);
    c.idle.add(s);
    s.once('close', () => c.forget(s));
  });
  http.on('request', (req, res) => {
    const s = req.socket;
    c.idle.delete(s);
    c.busy.set(s, req);
    res.once('close', () => {
      c.busy.delete(s);
      c.becomeIdle(s);
    });
  });
  // An upgrade is not yet a client: it shows its token after this (socket.io's handshake, the ws transport's
  // hello). Until then it counts as idle, freshly so.
  http.on('upgrade', (_req, s: Socket) => c.becomeIdle(s));

  return {
    get size() {
      return c.open.size;
    },
    pin(s) {
      c.idle.delete(s);
      c.busy.delete(s);
      assert(!c.idle.has(s), 'a pinned connection is not idle');
    },
    get evicted() {
      return stats.evicted;
    },
    get refused() {
      return stats.refused;
    },
  };
}

/** The connections open now, by state (a pinned one is in `open` only). */
class Connections {
  readonly open = new Set<Socket>();
  /** Idle connections, idle longest first (a Set keeps insertion order; becoming idle again moves one to the end). */
  readonly idle = new Set<Socket>();
  /** Connections answering a request, oldest first, with that request (for `complete`: has all of it arrived?). */
  readonly busy = new Map<Socket, IncomingMessage>();

  /** Whom to close to make room: idle longest, else the oldest request still arriving; null when neither. */
  victim(): Socket | null {
    const oldest = this.idle.values().next();
    if (oldest.done !== true) return oldest.value;
    for (const [s, req] of this.busy) if (!req.complete) return s;
    return null;
  }

  becomeIdle(s: Socket): void {
    if (!this.open.has(s) || s.destroyed) return;
    this.idle.delete(s);
    this.idle.add(s);
  }

  forget(s: Socket): void {
    this.open.delete(s);
    this.idle.delete(s);
    this.busy.delete(s);
  }
}
