/**
 * Restart recovery on the server side (NFSv4's rules: src/README.md, "Grace
 * period and reclaim"): the durable client record kept current as clients come and go, the grace
 * period started when a restart finds records, reclaims admitted only from
 * recorded clients, clients told when grace ends (`/api/grace` is in
 * grace-api.ts).
 *
 * The record holds a client from its first lock request (written before the
 * request reaches the core, so no client can hold a lock the record does not
 * know) until its session ends, expires, or a grace period ends without it.
 * A record that outlives the client's locks only costs a grace period that
 * waits for it; a missing record would lose its locks, so we err that way.
 *
 * Grace lifecycle (the core's, src/grace.ts): none → in grace → over
 * (all-reclaimed | deadline | lifted). Clients that never came back are
 * dropped from the record when it ends.
 */

import { LockError, type GraceEvent, type LockManager, type LockManagerOptions } from '../src/index.js';
import { sameVerifier, type Principal } from './auth.js';
import type { Logger } from './log.js';
import { tellGraceOver, type Session } from './sessions.js';
import { StateStore } from './state.js';

export interface RecoveryOptions {
  stateDir: string;
  graceMs: number;
  leaseMs: number;
}

export class Recovery {
  readonly store: StateStore;
  /** Recorded clients the current grace period waits for. */
  private readonly expected = new Set<string>();

  constructor(
    private readonly options: RecoveryOptions,
    private readonly sessions: () => Iterable<Session>,
    /** Whether the session table holds a session of this client (SessionTable.hasClient). */
    private readonly hasClient: (clientId: string) => boolean,
    private readonly log: Logger,
  ) {
    this.store = new StateStore(options.stateDir);
    // Once when writes start failing and once when they work again: a full disk must not fill the log too.
    this.store.onStorage((h, err) => {
      if (h.writable) this.log('info', 'state-writable', { stateDir: options.stateDir });
      else this.log('error', 'state-unwritable', { stateDir: options.stateDir, code: h.code, error: (err as Error)?.message });
    });
  }

  /** The core's fencing-token options: resume above the recorded high-water, record each block (the core's default size) before issuing from it. */
  tokens(): NonNullable<LockManagerOptions['tokens']> {
    return { start: this.store.tokenStart, reserve: (upTo) => this.store.reserveTokens(upTo) };
  }

  /** Before the server listens: grace if an earlier run left clients that held locks. */
  begin(lm: LockManager): void {
    lm.on('grace', (e) => this.onGrace(e));
    const clients = this.store.recovered.map((r) => r.id);
    this.log('info', 'recovery', { stateDir: this.options.stateDir, clients: clients.length, tokenStart: this.store.tokenStart });
    if (clients.length === 0) return;
    for (const c of clients) this.expected.add(c);
    lm.beginGrace({ durationMs: this.options.graceMs, maxMs: 2 * this.options.leaseMs, clients });
  }

  /**
   * A connection presents a client id with its secret's verifier: a recorded
   * id must be its recorded principal's, presented with the recorded
   * secret (Sessions rule S4), or the connection is refused. A record from
   * before verifiers were kept (null) checks the principal only; such a
   * client is admitted but may not reclaim (see owns).
   */
  checkIdentity(clientId: string, principal: Principal, verifier: string): void {
    const r = this.store.get(clientId);
    if (r === undefined) return;
    if (r.principal !== principal.name || (r.verifier !== null && !sameVerifier(r.verifier, verifier))) {
      throw new LockError('EPERM', 'that client id is in use by another client');
    }
  }

  /** The session is the recorded client's own: same id, and the secret the record was made with. */
  private owns(s: Session): boolean {
    const id = s.who.clientId;
    if (id === null) return false;
    const r = this.store.get(id);
    return r !== undefined && sameVerifier(r.verifier, s.verifier);
  }

  /** May this session reclaim now? Its client must be recorded from before the restart (with its secret), in grace, and not done. */
  mayReclaim(lm: LockManager, s: Session): boolean {
    const id = s.who.clientId;
    return id !== null && this.expected.has(id) && this.owns(s) && lm.reclaimRefusal(id) === null;
  }

  /** The session's client says it is done reclaiming; only the recorded client itself may end its part of grace. */
  reclaimComplete(lm: LockManager, s: Session): void {
    const id = s.who.clientId;
    if (id !== null && lm.inGrace && this.owns(s)) lm.reclaimComplete(id);
  }

  /** Before a request that may grant: the client is recorded, durably, first, with its secret's verifier. */
  record(s: Session): void {
    const id = s.who.clientId;
    if (id !== null) this.store.add(id, s.principal.name, s.verifier);
  }

  /**
   * A session ended or expired (it has left the session table): its client's
   * record goes unless another session of it remains.
   */
  forget(s: Session): void {
    const id = s.who.clientId;
    if (id === null || !this.store.has(id) || this.hasClient(id)) return;
    // Still owed a reclaim in this grace period: it may come back on another connection.
    if (this.expected.has(id)) return;
    this.store.remove([id]);
  }

  /** Server shutdown: the record's pending removals are written and the state directory released. */
  close(): void {
    this.store.close();
  }

  private onGrace(e: GraceEvent): void {
    // Extended by every reclaim that arrives a millisecond later: not worth a log line each.
    if (e.phase === 'extend') return;
    const { state } = e;
    this.log('info', 'grace', {
      phase: e.phase, ended: state.ended, startedAt: state.startedAt, deadline: state.deadline, expected: state.expected.length,
      completed: state.completed.length, reclaims: state.reclaims, ...(e.missing === undefined ? {} : { missing: e.missing }),
    });
    if (e.phase === 'start') for (const s of this.sessions()) s.push('grace', { active: true });
    if (e.phase !== 'end') return;
    tellGraceOver(this.sessions());
    // Recorded clients without a session now never came back, or came back and left (their records were kept
    // for this grace period only): gone from the record. Those connected stay, whether or not they finished.
    const gone = [...this.expected].filter((id) => !this.hasClient(id));
    this.expected.clear();
    const missing = new Set(e.missing ?? []);
    const neverBack = gone.filter((id) => missing.has(id));
    if (neverBack.length > 0) this.log('warn', 'clients-dropped', { clients: neverBack });
    this.store.remove(gone);
  }
}
