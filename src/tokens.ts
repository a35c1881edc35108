/**
 * Fencing tokens: one counter for the whole manager, so a token is strictly
 * greater than every token issued before it, per resource included. Across
 * restarts the counter resumes above a durably recorded block: before
 * issuing past its reserved block it calls `reserve(upTo)`, which must record
 * `upTo` durably before returning; a restarted manager starts at the
 * recorded value. At most one block is skipped per crash; no token is ever
 * issued twice.
 *
 * In a cluster (`external: true`) tokens come only from blocks handed in
 * with `advanceTo` (reserved in etcd by server/cluster/token-blocks.ts, each
 * above every block reserved before, by any node). A block handed in while
 * the current one still has tokens is used when the current one runs out;
 * `remaining` tells the cluster when to reserve the next one. With no block
 * left, issuing fails with ENOLCK rather than issue a token nobody reserved.
 */

import { LockError } from './errors.js';
import { checkFunction, checkInteger, checkOptions } from './validate.js';

const TOKEN_KEYS = new Set(['start', 'block', 'reserve', 'external']);

export interface TokenOptions {
  start?: number;
  block?: number;
  reserve?: (upTo: number) => void;
  /** Tokens only from blocks handed in with advanceTo (a cluster). */
  external?: boolean;
}

export class TokenCounter {
  private seq: number;
  private reservedTo: number;
  private readonly block: number;
  private readonly reserve: ((upTo: number) => void) | null;
  /** The next block, handed in before the current one ran out (external mode). */
  private queued: { first: number; last: number } | null = null;

  constructor(options: unknown) {
    const t = checkOptions(options, 'options.tokens', TOKEN_KEYS) ?? {};
    this.seq = t.start === undefined ? 0 : checkInteger(t.start, 'options.tokens.start', 0, Number.MAX_SAFE_INTEGER - 1);
    this.reserve = checkFunction<(upTo: number) => void>(t.reserve, 'options.tokens.reserve') ?? null;
    this.block = t.block === undefined ? 10_000 : checkInteger(t.block, 'options.tokens.block', 1, 1e9);
    this.reservedTo = this.reserve === null && t.external !== true ? Infinity : this.seq;
  }

  next(): number {
    let t = ++this.seq;
    if (t > this.reservedTo) {
      if (this.reserve !== null) {
        const upTo = t + this.block - 1;
        this.reserve(upTo);
        this.reservedTo = upTo;
      } else if (this.queued !== null) {
        t = this.seq = Math.max(t, this.queued.first);
        this.reservedTo = this.queued.last;
        this.queued = null;
      } else {
        this.seq--;
        throw new LockError('ENOLCK', 'no fencing-token block is reserved on this node yet: retry shortly', { limit: 'tokenBlock' });
      }
    }
    return t;
  }

  /**
   * External mode: tokens first..last (inclusive) may be issued — after the
   * current block's, or at once with `now` (the rest of the current block is
   * skipped: a cluster's block reserved after a view change must be used
   * from the next grant on).
   */
  advanceTo(first: number, last: number, now = false): void {
    if (!(Number.isSafeInteger(first) && Number.isSafeInteger(last) && first <= last && first > this.seq)) {
      throw new LockError('EINVAL', `a token block must lie above the tokens issued (${this.seq}): got ${first}..${last}`);
    }
    if (now || this.seq >= this.reservedTo) {
      this.seq = first - 1;
      this.reservedTo = last;
      if (now && this.queued !== null && this.queued.first <= last) this.queued = null;
    } else {
      this.queued = { first, last };
    }
  }

  /** External mode with no token left: a request is refused before it changes anything (manager.checkGrace). */
  get exhausted(): boolean {
    return this.reserve === null && this.reservedTo !== Infinity && this.remaining === 0;
  }

  /** Tokens that can still be issued without another block. */
  get remaining(): number {
    return this.reservedTo - this.seq + (this.queued === null ? 0 : this.queued.last - this.queued.first + 1);
  }

  /** The highest token issued. */
  get highWater(): number {
    return this.seq;
  }
}
