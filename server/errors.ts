/**
 * The one place where a failure becomes a reply at the edge: LockError codes
 * map to HTTP statuses in one table, and to the `{ error }` acknowledgement
 * on the socket. Anything that is not a LockError is a bug in the server:
 * it is logged and reported without its details.
 */

import { LockError, type LockErrorCode } from '../src/index.js';
import type { WireError } from '../client/protocol.js';

export const HTTP_STATUS: Readonly<Record<LockErrorCode, number>> = Object.freeze({
  EINVAL: 400,
  EPERM: 403,
  ENOENT: 404,
  ETIMEDOUT: 408,
  EAGAIN: 409,
  EDEADLK: 409,
  ECANCELED: 409,
  EREVOKED: 410,
  ENOGRACE: 410,
  ENOLCK: 429,
  // Misdirected Request: this node does not master the resource under the client's view.
  ESTALE: 421,
  EGRACE: 503,
  // The state directory cannot be written (full, read-only): retry once it can (state.ts).
  EIO: 503,
});

/** An error for the wire; `internal` is called for anything that is not a LockError. */
export function toWireError(err: unknown, internal: (err: unknown) => void): WireError {
  if (err instanceof LockError) return err.toJSON() as unknown as WireError;
  // A server bug, not the caller's: a declared code that blames nobody, the stack in the server's log (internal).
  internal(err);
  return { code: 'EIO', message: 'EIO: the server failed to handle this request (its log has the error and its stack)' };
}

export function errorReply(err: unknown, internal: (err: unknown) => void): { error: WireError } {
  return { error: toWireError(err, internal) };
}

export function statusOf(code: LockErrorCode): number {
  return HTTP_STATUS[code] ?? 500;
}

export function denied(what: string): LockError {
  return new LockError('EPERM', what);
}
