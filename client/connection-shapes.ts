/**
 * The connection's shapes (connection.ts): its states, what the client
 * gives it (options) and what it calls back (hooks), and one call in
 * flight. Types only.
 */

import type { ClientSelfReport, ClientToServerEvents, ClusterView, Reply, ServerToClientEvents, WireError } from './protocol.js';

export type ConnectionState = 'connecting' | 'ready' | 'reclaiming' | 'away' | 'closed';

/** One message the client is waiting on a reply for. */
export interface Call {
  /** Its number on this client: a batched request's reply comes back under it. */
  key: number;
  event: keyof ClientToServerEvents;
  /** Built at send time, so an owner registration can go first on a new session. */
  message: () => unknown;
  /** Request number: the server keeps such a request across reconnections. */
  req: number | null;
  /** Connection number it was last sent on (0: not yet). */
  sentOn: number;
  settle(reply: Reply<unknown>): void;
  /** What to do when the session is gone: fail with this error, succeed, or (null) send again on the new one. */
  onSessionLost: WireError | 'succeed' | null;
  /** The caller gave up (signal, client-side timeout): the server is told whenever this call reaches it. */
  cancelled: boolean;
  /** Sent while the connection is reclaiming, too (the replay itself, owner registrations). */
  early: boolean;
}

export interface ConnectionOptions {
  token?: string;
  name: string;
  host?: string;
  /** This client's identity for reclaims, the same on every connection. */
  clientId: string;
  /** The secret that proves the session and the client id are this client's (never shown, never logged). */
  secret: string;
  /** Longest wait for the first connection. */
  connectTimeoutMs?: number;
}

export interface ConnectionHooks {
  blocking(id: number, mode: string): void;
  lost(id: number, reason: string): void;
  update(msg: Parameters<ServerToClientEvents['update']>[0]): void;
  /** The session is gone (expired while away, taken over, closed by the server): every handle is lost with this reason. */
  sessionLost(reason: 'session-expired' | 'session-taken-over' | 'session-closed'): void;
  /** The server restarted and lets this client reclaim: replay, then call reclaimDone(epoch). */
  restarted(epoch: number): void;
  /** The server's grace period started or ended. */
  grace(active: boolean): void;
  /** A hang-dump on the server asks for this client's own report. */
  report(): ClientSelfReport;
  /** A cluster node pushed the membership view it adopted. */
  view?(v: ClusterView): void;
  /** The connection dropped (it is being retried). */
  away?(): void;
}
