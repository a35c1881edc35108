/**
 * A client's requests that the server may keep waiting (lock, setlk,
 * convert): numbered so a resumed session can ask what became of them,
 * cancellable through their signal, failed by the client too if the server
 * stays silent past their timeout (plus TIMEOUT_SLACK_MS), failed EREVOKED
 * (ESTALE in a cluster, which routes them again) if the session is lost
 * meanwhile, and sent again after the server's grace period when refused
 * with EGRACE, within their timeout.
 */

import { invalid, LockError } from '../src/errors.js';
import type { Connection } from './connection.js';
import { GRACE_RETRY_FIRST_MS, GRACE_RETRY_MAX_MS, TIMEOUT_SLACK_MS } from './limits.js';
import type { CallEvent, MessageOf, ReplyOf } from './protocol.js';

/** How a request pending when the session expired fails (a plain object: no stack to capture per request). */
const SESSION_EXPIRED = { code: 'EREVOKED', message: 'the session expired while the request was pending', reason: 'session-expired' } as const;
/** In a cluster, the router sends such a request again, to its resource's master under the newest view. */
const NODE_SESSION_LOST = { code: 'ESTALE', message: 'the node lost this client\'s session while the request was pending' } as const;
const ABORTED = { code: 'ECANCELED', message: 'the signal was aborted' } as const;
const NO_ANSWER = { code: 'ETIMEDOUT', message: 'no answer from the lock server within timeoutMs' } as const;

export class Requests {
  /** Requests refused with EGRACE, waiting for the grace period to end. */
  private readonly waiters = new Set<() => void>();

  /** `inCluster`: whether the client is one node's client of a cluster client (read at each request). */
  constructor(private readonly conn: Connection, private readonly inCluster: () => boolean) {}

  /** Requests refused with EGRACE waiting for the end of grace now. */
  get waitingForGrace(): number {
    return this.waiters.size;
  }

  /** The server said its grace period ended: the requests refused with EGRACE go again now. */
  graceEnded(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /**
   * A request the server may keep waiting: numbered, cancellable through
   * its signal, failed by the client too if the server stays silent past
   * its timeout, and failed EREVOKED if the session is lost meanwhile.
   */
  request<E extends CallEvent>(
    event: E, signal: AbortSignal | undefined, timeoutMs: unknown, wire: Record<string, unknown>,
    build: (req: number, options: Record<string, unknown> | undefined) => MessageOf<E>,
  ): Promise<ReplyOf<E>> {
    if (signal !== undefined && !(signal instanceof AbortSignal)) return Promise.reject(invalid('options.signal', 'an AbortSignal', signal));
    if (signal?.aborted) return Promise.reject(new LockError('ECANCELED', 'the signal was already aborted'));
    if (signal !== undefined) wire.abortable = true;
    return this.retryAfterGrace(event, signal, timeoutMs, wire, build);
  }

  /**
   * EGRACE means "not yet": the request goes again once the server's grace
   * period is over, within the caller's timeoutMs (what is left of it is
   * what the next attempt may wait) and until its signal fires.
   */
  private async retryAfterGrace<E extends CallEvent>(
    event: E, signal: AbortSignal | undefined, timeoutMs: unknown, wire: Record<string, unknown>,
    build: (req: number, options: Record<string, unknown> | undefined) => MessageOf<E>,
  ): Promise<ReplyOf<E>> {
    const deadline = typeof timeoutMs === 'number' && Number.isFinite(timeoutMs) && timeoutMs >= 0 ? Date.now() + timeoutMs : null;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.requestOnce(event, signal, timeoutMs, wire, build);
      } catch (err) {
        if (!(err instanceof LockError) || err.code !== 'EGRACE') throw err;
        await this.graceOver(attempt, signal, deadline);
        if (deadline !== null) timeoutMs = wire.timeoutMs = Math.max(0, deadline - Date.now());
      }
    }
  }

  /** Resolves when the server says grace ended or after a backoff; fails on the signal or past the deadline. */
  private graceOver(attempt: number, signal: AbortSignal | undefined, deadline: number | null): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const backoff = Math.min(GRACE_RETRY_MAX_MS, GRACE_RETRY_FIRST_MS * 2 ** Math.min(attempt, 10)) * (0.5 + Math.random() / 2);
      const late = deadline !== null && Date.now() + backoff > deadline;
      const finish = (err: LockError | null): void => {
        clearTimeout(timer);
        this.waiters.delete(wake);
        signal?.removeEventListener('abort', onAbort);
        if (err === null) resolve();
        else reject(err);
      };
      const wake = (): void => finish(null);
      const onAbort = (): void => finish(new LockError('ECANCELED', 'the signal was aborted'));
      const timer = setTimeout(
        () => finish(late ? new LockError('ETIMEDOUT', 'the server stayed in its grace period past timeoutMs') : null),
        late ? Math.max(0, deadline - Date.now()) : backoff,
      );
      this.waiters.add(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
  }

  /** One attempt of a request. */
  private requestOnce<E extends CallEvent>(
    event: E, signal: AbortSignal | undefined, timeoutMs: unknown, wire: Record<string, unknown>,
    build: (req: number, options: Record<string, unknown> | undefined) => MessageOf<E>,
  ): Promise<ReplyOf<E>> {
    if (signal?.aborted) return Promise.reject(new LockError('ECANCELED', 'the signal was already aborted'));
    const req = this.conn.nextReq();
    const options = Object.keys(wire).length === 0 ? undefined : wire;
    const p = this.conn.call(event, () => build(req, options), { req, onSessionLost: this.inCluster() ? NODE_SESSION_LOST : SESSION_EXPIRED });
    const onAbort = (): void => this.conn.cancel(req, ABORTED);
    signal?.addEventListener('abort', onAbort, { once: true });
    let timer: NodeJS.Timeout | null = null;
    const backstop = typeof timeoutMs === 'number' && Number.isFinite(timeoutMs) && timeoutMs >= 0 && timeoutMs < 2 ** 31 - TIMEOUT_SLACK_MS
      ? new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            reject(new LockError('ETIMEDOUT', 'no answer from the lock server within timeoutMs'));
            this.conn.cancel(req, NO_ANSWER);
          }, timeoutMs + TIMEOUT_SLACK_MS);
        })
      : null;
    const done = (): void => {
      signal?.removeEventListener('abort', onAbort);
      if (timer !== null) clearTimeout(timer);
    };
    const result = backstop === null ? p : Promise.race([p, backstop]);
    return result.then((v) => { done(); return v; }, (e: unknown) => { done(); throw e; });
  }
}
