/**
 * Sessions: one per client, kept across reconnections for the length of its
 * lease. Lifecycle (`state`):
 *
 *   live ──disconnect──▶ disconnected ──lease passes──▶ expired
 *    ▲                        │
 *    └────────reconnect───────┘        (bye: ended at once, locks released)
 *
 * An expired session's owners lose everything with reason `session-expired`
 * (their waits fail EREVOKED); its id is remembered for a while so that a
 * client that comes back is told, instead of silently starting over.
 * Invariants: a session in the table is live or disconnected; `link` is
 * non-null exactly when it is live; a disconnected session has a timer;
 * a session counts once in its principal's quota and, with a client id,
 * once in that id's binding.
 *
 * Who may resume a session or use a client id: the rules S1–S6 of
 * server/README.md ("Sessions"). In short, a session is resumed only with
 * the secret it was opened with, and a client id is bound to the secret of
 * the session that presented it first.
 */

import { randomUUID } from 'node:crypto';
import type { DlmLock, LockManager, LossReason, Owner } from '../src/index.js';
import { LockError } from '../src/index.js';
import type { Reply, ServerItem, ServerToClientEvents } from '../client/protocol.js';
import { sameVerifier, type Principal } from './auth.js';
import { assert } from '../src/assert.js';
import { outboxOf } from './outbox.js';
import { serverLimits, type AdjustableServerLimits } from './limits.js';
import { dropInSlices } from './slices.js';
import type { LockLink } from './sockets.js';

export type SessionState = 'live' | 'disconnected' | 'expired';

export interface ClientIdentity {
  client: string;
  host: string;
  pid: number | null;
  /** The client's reclaim identity (stable across its reconnections and server restarts), if it gave one. */
  clientId: string | null;
}

export class Session {
  state: SessionState = 'live';
  /** The connection, on either transport (sockets.ts). */
  link: LockLink | null = null;
  readonly owners = new Map<number, Owner>();
  /** This session's granted dlm locks, by lock id. */
  readonly locks = new Map<number, DlmLock>();
  /** Pending requests by the client's request number; the controller when the client may cancel. */
  readonly pending = new Map<number, AbortController | null>();
  /** Replies to requests that completed while the client was away. */
  repliesAway: { req: number; reply: Reply<unknown> }[] = [];
  /**
   * The latest replies sent, by request number: a reply can be lost with the
   * connection that carried it, and the client asks again (`sync`) after it
   * reconnects. Oldest first (a Map keeps insertion order), bounded.
   */
  readonly recent = new Map<number, Reply<unknown>>();
  /** Locks taken away while the client was away, told when it returns. */
  lostAway: { id: number; reason: LossReason }[] = [];
  timer: NodeJS.Timeout | null = null;
  /** A request of this session was refused EGRACE in the current grace period: the client waits for its end. */
  heldByGrace = false;
  readonly createdAt = Date.now();

  constructor(
    readonly id: string,
    readonly principal: Principal,
    readonly who: ClientIdentity,
    /** The verifier of the secret the session was opened with (auth.ts verifierOf); null: no secret, never resumable. Never shown. */
    readonly verifier: string | null,
  ) {}

  /**
   * Holds, waits for and has pending nothing: ending it loses the client
   * nothing but its session id. A session with more than idleScanMax owners
   * counts as busy, so the answer costs at most that many looks.
   */
  get idle(): boolean {
    if (this.pending.size > 0 || this.locks.size > 0 || this.owners.size > serverLimits.idleScanMax) return false;
    for (const o of this.owners.values()) if (o.holding > 0 || o.waiting > 0) return false;
    return true;
  }

  /** A message to the client, if it is connected now (pushes are not kept while it is away). */
  push<E extends ServerItem[0] & keyof ServerToClientEvents>(event: E, msg: Parameters<ServerToClientEvents[E]>[0]): void {
    const s = this.link;
    if (s !== null && s.connected) outboxOf(s).push([event, msg] as ServerItem);
  }

  /** Write what is queued for the client now instead of at the end of the turn. */
  sendNow(): void {
    const s = this.link;
    if (s !== null && s.connected) outboxOf(s).flush();
  }

  /**
   * Reply to a request that arrived on `origin`: through its acknowledgement
   * while that connection lasts, else on the current connection, else kept
   * for the client's return (bounded like the pending table it came from).
   */
  deliver(origin: LockLink, req: number, ack: ((r: Reply<unknown>, ended?: boolean) => void) | null, reply: Reply<unknown>): void {
    if (this.state === 'expired') return;
    this.recent.set(req, reply);
    if (this.recent.size > serverLimits.recentRepliesMax) this.recent.delete(this.recent.keys().next().value!);
    if (this.link === origin && origin.connected) {
      ack?.(reply, true);
    } else if (this.link !== null && this.link.connected) {
      outboxOf(this.link).push(['reply', { req, reply }]);
    } else if (this.repliesAway.length < serverLimits.pendingPerSessionMax) {
      this.repliesAway.push({ req, reply });
    }
  }

  /** A lock of this session was taken away: tell the client now, or when it comes back. */
  lost(id: number, reason: LossReason): void {
    const s = this.link;
    if (s !== null && s.connected) outboxOf(s).push(['lost', { id, reason }]);
    else if (this.state !== 'expired' && this.lostAway.length < serverLimits.pendingPerSessionMax) this.lostAway.push({ id, reason });
  }

  owner(oid: number): Owner {
    const o = this.owners.get(oid);
    if (o === undefined) throw new LockError('ENOENT', `no owner ${oid} in this session`);
    return o;
  }
}

export interface SessionEvents {
  created(s: Session): void;
  resumed(s: Session): void;
  disconnected(s: Session): void;
  expired(s: Session): void;
  ended(s: Session): void;
}

/** Sessions told per turn that grace is over, after those waiting for it (see tellGraceOver). */
const GRACE_NOTICES_PER_TURN = 100;

/**
 * Every connected client is told that grace is over (a restart's, or a
 * cluster's): first, at once, those with requests refused EGRACE (they retry
 * on this), then the others a hundred per turn, so that a thousand notices
 * (a write each) do not hold up the retries they are for.
 */
export function tellGraceOver(sessions: Iterable<Session>): void {
  const rest: Session[] = [];
  for (const s of sessions) {
    if (!s.heldByGrace) {
      rest.push(s);
      continue;
    }
    s.heldByGrace = false;
    s.push('grace', { active: false });
    s.sendNow();
  }
  const next = (): void => {
    for (const s of rest.splice(0, GRACE_NOTICES_PER_TURN)) s.push('grace', { active: false });
    if (rest.length > 0) setImmediate(next);
  };
  next();
}

export class SessionTable {
  private readonly sessions = new Map<string, Session>();
  /** Expired ids, oldest first (a Map keeps insertion order). */
  private readonly expiredIds = new Map<string, true>();
  /**
   * Per client id: its sessions in the table (a client may have an old one
   * not yet expired beside a new one) and the verifier it is bound to (S4).
   */
  private readonly perClient = new Map<string, { sessions: number; verifier: string | null }>();
  /** Per principal, its sessions oldest first (a Set keeps insertion order): the quota (S5) and whom to end at it. */
  private readonly perPrincipal = new Map<string, Set<Session>>();
  private closed = false;

  constructor(
    readonly lm: LockManager,
    readonly leaseMs: number,
    private readonly events: SessionEvents,
    private readonly bounds: Pick<AdjustableServerLimits, 'sessionsMax' | 'sessionsPerPrincipalMax'> = serverLimits,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  count(state: SessionState): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.state === state) n++;
    return n;
  }

  get(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  values(): IterableIterator<Session> {
    return this.sessions.values();
  }

  /**
   * The session for a new connection: the one presented, if it is still
   * here, belongs to the same principal and the secret's verifier matches
   * (S2), else a new one (and `expired` names the presented id whose locks
   * are gone). EPERM for a session or client id that is someone else's,
   * ENOLCK at a quota no idle session can make room in.
   */
  open(
    presented: string | undefined, principal: Principal, who: ClientIdentity, verifier: string | null,
  ): { session: Session; resumed: boolean; expired: string | null } {
    if (presented !== undefined) {
      const s = this.sessions.get(presented);
      const mine = s !== undefined && s.principal.name === principal.name && s.principal.role === principal.role && s.who.clientId === who.clientId;
      if (mine && sameVerifier(s.verifier, verifier)) return { session: s, resumed: true, expired: null };
      // One answer for "another principal's" and "not your secret": which of the two is none of the caller's business.
      if (s !== undefined) throw new LockError('EPERM', 'that session is not yours to resume');
    }
    if (who.clientId !== null) {
      const bound = this.perClient.get(who.clientId);
      if (bound !== undefined && !sameVerifier(bound.verifier, verifier)) throw new LockError('EPERM', 'that client id is in use by another client');
    }
    this.makeRoom(principal);
    const s = new Session(randomUUID(), principal, who, verifier);
    this.sessions.set(s.id, s);
    this.quotaOf(principal).add(s);
    if (who.clientId !== null) {
      const c = this.perClient.get(who.clientId);
      if (c === undefined) this.perClient.set(who.clientId, { sessions: 1, verifier });
      else c.sessions++;
    }
    this.events.created(s);
    return { session: s, resumed: false, expired: presented ?? null };
  }

  /**
   * Below the principal's quota and the table's bound, or made so by ending
   * the principal's oldest idle disconnected session (S5): a session that
   * holds nothing keeps only its id, and the client coming back is told it
   * expired, as after its lease.
   */
  private makeRoom(principal: Principal): void {
    const mine = this.quotaOf(principal);
    const b = this.bounds;
    const full = (): 'sessionsPerPrincipalMax' | 'sessionsMax' | null =>
      mine.size >= b.sessionsPerPrincipalMax ? 'sessionsPerPrincipalMax' : this.sessions.size >= b.sessionsMax ? 'sessionsMax' : null;
    const limit = full();
    if (limit === null) return;
    let looked = 0;
    for (const s of mine) {
      if (s.state !== 'disconnected') continue;
      if (++looked > serverLimits.idleScanMax) break;
      if (!s.idle) continue;
      this.expire(s);
      if (full() === null) return;
      break;
    }
    const reached = full()!;
    throw new LockError('ENOLCK', `limit ${reached} (${b[reached]}) reached`, { limit: reached });
  }

  private quotaOf(principal: Principal): Set<Session> {
    const key = `${principal.role}:${principal.name}`;
    let set = this.perPrincipal.get(key);
    if (set === undefined) this.perPrincipal.set(key, (set = new Set()));
    return set;
  }

  /** The verifier a client id is bound to while it has a session here (S4); undefined when it has none. */
  clientVerifier(clientId: string): string | null | undefined {
    return this.perClient.get(clientId)?.verifier;
  }

  /** Attach a connection; a previous one still attached is dropped (the client has moved on). */
  attach(s: Session, link: LockLink, resumed: boolean): void {
    const old = s.link;
    s.link = link;
    s.state = 'live';
    if (s.timer !== null) {
      clearTimeout(s.timer);
      s.timer = null;
    }
    if (old !== null && old !== link) closeConnection(old, 'session-taken-over');
    if (resumed) this.events.resumed(s);
  }

  /** Send what completed while the client was away. */
  flush(s: Session): void {
    const out = s.repliesAway;
    const lost = s.lostAway;
    s.repliesAway = [];
    s.lostAway = [];
    for (const item of out) s.push('reply', item);
    for (const item of lost) s.push('lost', item);
  }

  detach(s: Session, link: LockLink): void {
    if (this.closed || s.link !== link || s.state !== 'live') return;
    s.link = null;
    s.state = 'disconnected';
    s.timer = setTimeout(() => this.expire(s), this.leaseMs);
    this.events.disconnected(s);
  }

  /** The lease passed: everything the session's owners had is taken away. */
  expire(s: Session): void {
    if (s.state === 'expired') return;
    this.forget(s);
    s.state = 'expired';
    this.expiredIds.set(s.id, true);
    if (this.expiredIds.size > serverLimits.expiredSessionsRemembered) {
      this.expiredIds.delete(this.expiredIds.keys().next().value!);
    }
    dropInSlices(s.owners.values(), (o, max) => o.revokeSome('session-expired', max), () => this.events.expired(s), () => this.closed);
  }

  /** The client said goodbye: release (not revoke) everything, now. */
  end(s: Session): void {
    if (s.state === 'expired') return;
    this.forget(s);
    s.state = 'expired';
    dropInSlices(s.owners.values(), (o, max) => o.releaseSome(max), () => this.events.ended(s), () => this.closed);
  }

  wasExpired(id: string): boolean {
    return this.expiredIds.has(id);
  }

  private forget(s: Session): void {
    if (s.timer !== null) clearTimeout(s.timer);
    s.timer = null;
    s.link = null;
    if (!this.sessions.delete(s.id)) return;
    const key = `${s.principal.role}:${s.principal.name}`;
    const mine = this.perPrincipal.get(key);
    assert(mine?.delete(s) === true, 'a session in the table counts in its principal quota');
    if (mine!.size === 0) this.perPrincipal.delete(key);
    const id = s.who.clientId;
    if (id === null) return;
    const c = this.perClient.get(id);
    assert(c !== undefined && c.sessions > 0, 'a session with a client id counts in its binding');
    if (--c!.sessions === 0) this.perClient.delete(id);
  }

  /** Whether a session of this client is in the table (live or within its lease). O(1): recovery asks per ended session. */
  hasClient(clientId: string): boolean {
    return this.perClient.has(clientId);
  }

  /** Whether a session of this client is connected right now (not only within its lease). A scan: for diagnostics. */
  clientConnected(clientId: string): boolean {
    for (const s of this.sessions.values()) if (s.who.clientId === clientId && s.state === 'live') return true;
    return false;
  }

  /** Server shutdown: stop every lease timer (the manager is closed after). */
  close(): void {
    this.closed = true;
    for (const s of this.sessions.values()) if (s.timer !== null) clearTimeout(s.timer);
    this.sessions.clear();
    this.perClient.clear();
    this.perPrincipal.clear();
  }
}

/**
 * The server drops a connection on purpose (its session was resumed
 * elsewhere, or is gone): the client is told why first, in a message of its
 * own, since it never reconnects after a deliberate drop (socket.io's
 * server-side disconnect, the ws transport's close code 4000) and a client
 * not told would go on believing it holds its locks (S6). The notice is
 * written before the disconnect (both transports drain their buffer first).
 */
export function closeConnection(link: LockLink, reason: 'session-taken-over' | 'session-closed'): void {
  if (link.connected) {
    outboxOf(link).flush();
    link.emit('closed', { reason });
  }
  link.disconnect();
}
