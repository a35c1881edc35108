/**
 * The connection's shapes (connection.ts): its states, what the client
 * gives it (options) and what it calls back (hooks). Types only.
 */

import type { LossReason } from '../src/errors.js';
import type { DlmMode } from '../src/modes.js';
import type { TransportKind } from './transport.js';
import type { ClientSelfReport, ClusterView, ServerToClientEvents } from './protocol.js';

export type ConnectionState = 'connecting' | 'ready' | 'reclaiming' | 'away' | 'closed';

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
  /** How the connection reaches the server (transport.ts; default DEFAULT_TRANSPORT, limits.ts). */
  transport?: TransportKind;
}

export interface ConnectionHooks {
  blocking(id: number, mode: DlmMode): void;
  lost(id: number, reason: LossReason): void;
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
