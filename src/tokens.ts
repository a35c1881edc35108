/**
 * Fencing tokens: one counter for the whole manager, so a token is strictly
 * greater than every token issued before it, per resource included. Across
 * restarts the counter resumes above a durably recorded block: before
 * issuing past its reserved block it calls `reserve(upTo)`, which must record
 * `upTo` durably before returning; a restarted manager starts at the
 * recorded value. At most one block is skipped per crash; no token is ever
 * issued twice.
 */

import { checkFunction, checkInteger, checkOptions } from './validate.js';

const TOKEN_KEYS = new Set(['start', 'block', 'reserve']);

export interface TokenOptions {
  start?: number;
  block?: number;
  reserve?: (upTo: number) => void;
}

export class TokenCounter {
  private seq: number;
  private reservedTo: number;
  private readonly block: number;
  private readonly reserve: ((upTo: number) => void) | null;

  constructor(options: unknown) {
    const t = checkOptions(options, 'options.tokens', TOKEN_KEYS) ?? {};
    this.seq = t.start === undefined ? 0 : checkInteger(t.start, 'options.tokens.start', 0, Number.MAX_SAFE_INTEGER - 1);
    this.reserve = checkFunction<(upTo: number) => void>(t.reserve, 'options.tokens.reserve') ?? null;
    this.block = t.block === undefined ? 10_000 : checkInteger(t.block, 'options.tokens.block', 1, 1e9);
    this.reservedTo = this.reserve === null ? Infinity : this.seq;
  }

  next(): number {
    const t = ++this.seq;
    if (t > this.reservedTo) {
      const upTo = t + this.block - 1;
      this.reserve!(upTo);
      this.reservedTo = upTo;
    }
    return t;
  }

  /** The highest token issued. */
  get highWater(): number {
    return this.seq;
  }
}
