/**
 * Fencing tokens: one counter for the whole manager, so a token is strictly
 * greater than every token issued before it, per resource included. Across
 * restarts the counter resumes above a durably recorded block: it calls
 * `reserve(upTo)`, which must record `upTo` durably before returning, and
 * never issues past the last `upTo` that returned; a restarted manager starts
 * at the recorded value. At most one block is skipped per crash; no token is
 * ever issued twice.
 *
 * Token rules (src/README.md, "Fencing tokens"):
 *   T1. The next block is reserved once half of the current one is used, not
 *       when it is used up: a reservation that fails (a full or read-only
 *       disk) leaves half a block to issue from while requests that need a
 *       new token are refused (`check`) and the reservation is retried.
 *   T2. A grant never runs out in the middle: `check()` refuses a request
 *       that may grant (EIO while reservations fail and taking a token would
 *       leave no more than a quarter block, ENOLCK `tokenMax` at the counter's end) before
 *       it changes anything; only waiters queued before that can still take
 *       a token, from the headroom.
 *   T3. The counter ends at Number.MAX_SAFE_INTEGER: past it `++` would give
 *       the same double again (2^53 + 1 === 2^53), so it refuses instead of
 *       repeating a token.
 *   T4. In a cluster (`external: true`) tokens come only from blocks handed
 *       in with `advanceTo` (reserved in etcd by server/cluster/token-blocks.ts,
 *       each above every block reserved before, by any node). A block handed
 *       in while the current one still has tokens is used when it runs out,
 *       or at once with `now` (a block reserved after a view change: the rest
 *       of the older block is skipped). With no token left, `check()` refuses
 *       with ENOLCK `tokenBlock` rather than issue a token nobody reserved;
 *       the cluster reserves the next block when half of one is used
 *       (`remaining`).
 *   T5. A cached grant takes, right after its own token, a run of the next
 *       ones (`extend`): its holder hands them out to local re-grants, so
 *       they still increase per resource, and every later grant anywhere is
 *       above them. The run stops short of the headroom T2 keeps.
 */

import { LockError } from './errors.js';
import { checkFunction, checkInteger, checkOptions } from './validate.js';

const TOKEN_KEYS = new Set(['start', 'block', 'reserve', 'external']);

/** The last token that can be issued: past it a double no longer counts by one (T3). */
export const TOKEN_MAX = Number.MAX_SAFE_INTEGER;

/** Tokens reserved per durable write by default: one `reserve` (a server's fsync) per this many grants. */
export const TOKEN_BLOCK_DEFAULT = 10_000;

export interface TokenOptions {
  start?: number;
  /** Tokens one `reserve` covers. Default TOKEN_BLOCK_DEFAULT. */
  block?: number;
  reserve?: (upTo: number) => void;
  /** Tokens only from blocks handed in with advanceTo (a cluster, T4). */
  external?: boolean;
}

export class TokenCounter {
  private seq: number;
  private reservedTo: number;
  private readonly block: number;
  private readonly reserve: ((upTo: number) => void) | null;
  /** The last reservation's failure, until one succeeds (T1). */
  private reserveError: unknown = null;
  private readonly external: boolean;
  /** The next block, handed in before the current one ran out (T4). */
  private queued: { first: number; last: number } | null = null;

  constructor(options: unknown) {
    const t = checkOptions(options, 'options.tokens', TOKEN_KEYS) ?? {};
    this.seq = t.start === undefined ? 0 : checkInteger(t.start, 'options.tokens.start', 0, TOKEN_MAX);
    this.reserve = checkFunction<(upTo: number) => void>(t.reserve, 'options.tokens.reserve') ?? null;
    this.block = t.block === undefined ? TOKEN_BLOCK_DEFAULT : checkInteger(t.block, 'options.tokens.block', 1, 1e9);
    this.external = t.external === true;
    this.reservedTo = this.reserve === null && !this.external ? TOKEN_MAX : this.seq;
  }

  /**
   * Before a request that may grant (T2): throws what `next()` would, so the
   * request is refused before it changes anything. Reserves the next block
   * first when the headroom is short.
   */
  check(): void {
    if (this.seq >= TOKEN_MAX) throw exhausted();
    if (this.external) {
      if (this.remaining > 0) return;
      throw new LockError('ENOLCK', 'no fencing-token block is reserved on this node yet: retry shortly', { limit: 'tokenBlock' });
    }
    if (this.headroomOk()) return;
    this.tryReserve();
    if (this.headroomOk()) return;
    throw new LockError('EIO', 'fencing tokens cannot be reserved (the state directory cannot be written): retry later', {}, { cause: this.reserveError });
  }

  next(): number {
    if (this.seq >= TOKEN_MAX) throw exhausted();
    if (this.seq >= this.reservedTo && this.queued !== null) {
      this.seq = Math.max(this.seq, this.queued.first - 1);
      this.reservedTo = this.queued.last;
      this.queued = null;
    }
    if (this.reservedTo - this.seq <= this.block / 2) this.tryReserve();
    if (this.seq >= this.reservedTo) {
      // Only a waiter queued before check() began refusing gets here, and only once half a block is spent (T2).
      throw new LockError('EIO', 'no fencing token is reserved (the state directory cannot be written)', {}, { cause: this.reserveError });
    }
    return ++this.seq;
  }

  /**
   * T5: after next(), up to `n` more tokens of the current block for the
   * same grant (a cached grant's block, src/README.md "Cached grants"):
   * never a reservation, never past a quarter block of headroom (T2), never
   * into a queued block. Returns the last token now issued (next()'s own when
   * none could be added).
   */
  extend(n: number): number {
    const keep = this.reservedTo >= TOKEN_MAX ? 0 : Math.max(1, Math.floor(this.block / 4));
    const take = Math.max(0, Math.min(n, this.reservedTo - this.seq - keep, TOKEN_MAX - this.seq));
    this.seq += take;
    return this.seq;
  }

  /** T4: tokens first..last (inclusive) may be issued — after the current block's, or from the next one on with `now`. */
  advanceTo(first: number, last: number, now = false): void {
    if (!(this.external && Number.isSafeInteger(first) && Number.isSafeInteger(last) && first <= last && first > this.seq)) {
      throw new LockError('EINVAL', `a token block must lie above the tokens issued (${this.seq}): got ${first}..${last}`);
    }
    if (now || this.seq >= this.reservedTo) {
      this.seq = first - 1;
      this.reservedTo = last;
      if (this.queued !== null && this.queued.first <= last) this.queued = null;
    } else {
      this.queued = { first, last };
    }
  }

  /** Tokens that can still be issued without another block (external mode). */
  get remaining(): number {
    return this.reservedTo - this.seq + (this.queued === null ? 0 : this.queued.last - this.queued.first + 1);
  }

  /** The highest token issued. */
  get highWater(): number {
    return this.seq;
  }

  /** How far tokens are durably reserved (Infinity-like TOKEN_MAX without a `reserve`). */
  get reserved(): number {
    return this.reservedTo;
  }

  /**
   * Whether a request may take a token and still leave a quarter block,
   * reserved and not issued, for waiters already queued (T2). Reserved to the
   * end (or nothing to reserve), any token left will do.
   */
  private headroomOk(): boolean {
    const left = this.reservedTo - this.seq;
    if (this.reservedTo >= TOKEN_MAX) return left >= 1;
    return left > Math.max(1, Math.floor(this.block / 4));
  }

  private tryReserve(): void {
    if (this.reserve === null || this.reservedTo >= TOKEN_MAX) return;
    const upTo = Math.min(TOKEN_MAX, Math.max(this.reservedTo, this.seq) + this.block);
    try {
      this.reserve(upTo);
    } catch (err) {
      // Not durable: nothing past the old block may be issued. Retried on the next token (the store paces its writes).
      this.reserveError = err;
      return;
    }
    this.reserveError = null;
    this.reservedTo = upTo;
  }
}

function exhausted(): LockError {
  return new LockError('ENOLCK', `fencing tokens are used up (limit tokenMax, ${TOKEN_MAX}): no token can be issued without repeating one`, { limit: 'tokenMax' });
}
