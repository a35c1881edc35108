/**
 * Every failure lockscope reports is a LockError with a stable `code`.
 * The message may change between versions; the code may not (Node's rule).
 */

import type { CycleEntry, LossReason } from './shapes.js';

/** Their shapes live in shapes.ts; named here too because the remote client (client/) imports them from this file. */
export type { CycleEntry, LossReason } from './shapes.js';

export type LockErrorCode =
  | 'EDEADLK'
  | 'ETIMEDOUT'
  | 'EAGAIN'
  | 'ECANCELED'
  | 'EGRACE'
  | 'ENOGRACE'
  | 'EREVOKED'
  | 'ENOLCK'
  | 'ESTALE'
  | 'EINVAL'
  | 'ENOENT'
  | 'EPERM'
  | 'EIO';

export const LOCK_ERROR_CODES: readonly LockErrorCode[] = [
  'EDEADLK', 'ETIMEDOUT', 'EAGAIN', 'ECANCELED', 'EGRACE', 'ENOGRACE',
  'EREVOKED', 'ENOLCK', 'ESTALE', 'EINVAL', 'ENOENT', 'EPERM', 'EIO',
];

/** Where the failure happened, when it concerns one lock. */
export interface LockErrorContext {
  node?: string;
  domain?: string;
  resource?: string;
  owner?: string;
  /** For EREVOKED: why the lock was taken away. */
  reason?: LossReason;
  /** For ENOLCK: the name of the limit in limits.ts that was reached. */
  limit?: string;
  /** For ESTALE (a cluster): the generation of the membership view the refusing node acts on. */
  generation?: string;
}

export class LockError extends Error {
  readonly code: LockErrorCode;
  readonly node?: string;
  readonly domain?: string;
  readonly resource?: string;
  readonly owner?: string;
  readonly reason?: LossReason;
  readonly limit?: string;
  readonly generation?: string;

  constructor(code: LockErrorCode, message: string, context: LockErrorContext = {}, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'LockError';
    this.code = code;
    if (context.node !== undefined) this.node = context.node;
    if (context.domain !== undefined) this.domain = context.domain;
    if (context.resource !== undefined) this.resource = context.resource;
    if (context.owner !== undefined) this.owner = context.owner;
    if (context.reason !== undefined) this.reason = context.reason;
    if (context.limit !== undefined) this.limit = context.limit;
    if (context.generation !== undefined) this.generation = context.generation;
  }

  /** Plain JSON, for the wire and for dumps. */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { name: this.name, code: this.code, message: this.message };
    for (const key of ['node', 'domain', 'resource', 'owner', 'reason', 'limit', 'generation'] as const) {
      if (this[key] !== undefined) out[key] = this[key];
    }
    return out;
  }
}

/** The victim's error: carries the whole cycle as plain objects. */
export class DeadlockError extends LockError {
  readonly cycle: CycleEntry[];
  constructor(message: string, cycle: CycleEntry[], context: LockErrorContext = {}) {
    super('EDEADLK', message, context);
    this.name = 'DeadlockError';
    this.cycle = cycle;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), cycle: this.cycle };
  }
}

/** Bad input: names the argument and what is allowed. */
export function invalid(argument: string, allowed: string, got?: unknown): LockError {
  const shown = got === undefined ? '' : ` (got ${describe(got)})`;
  return new LockError('EINVAL', `${argument} must be ${allowed}${shown}`);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  if (Array.isArray(value)) return 'an array';
  return 'an object';
}

export function isLockError(value: unknown): value is LockError {
  return value instanceof LockError;
}
