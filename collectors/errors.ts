/**
 * Errors of the dump code and the exit status of each, in one table, so the
 * CLI and the server map them the same way. Codes are stable; messages may change.
 */

export type DumpErrorCode =
  /** Bad arguments or options. */
  | 'EINVAL'
  /** The archive does not exist (or cannot be read). */
  | 'ENOENT'
  /** The archive ends early: a partial download or a crash while writing. */
  | 'ETRUNCATED'
  /** The archive is complete but a file does not match its manifest, or the data is damaged. */
  | 'ECORRUPT'
  /** Not a lockscope hang-dump. */
  | 'EFOREIGN'
  /** A lockscope dump of a newer format than this reader knows. */
  | 'EVERSION'
  /** The query matched nothing in the dump. */
  | 'ENOMATCH'
  /** A mode that needs something not available here (e.g. `dump --server` before the server exists). */
  | 'ENOTSUP'
  /** Writing the archive failed, or the server answered with an error of its own. */
  | 'EIO'
  /** A directory (or file) exists but this process may not read it (lockfiles scan/clean). */
  | 'EACCES'
  /** A server's answer broke the protocol (`dump --server`: an id that is not a dump id, an archive past any dump's size). */
  | 'EPROTO'
  /** `dump --server`: the server refused (no token, or not an admin's). */
  | 'EPERM'
  /** `dump --server`: the server could not be reached. */
  | 'EUNREACHABLE';

export const EXIT_STATUS: Readonly<Record<DumpErrorCode, number>> = Object.freeze({
  ENOMATCH: 1,
  EINVAL: 2,
  ENOENT: 3,
  ETRUNCATED: 4,
  ECORRUPT: 5,
  EFOREIGN: 6,
  EVERSION: 7,
  ENOTSUP: 8,
  EIO: 9,
  EACCES: 10,
  EPROTO: 11,
  EPERM: 12,
  EUNREACHABLE: 13,
});

export class DumpError extends Error {
  readonly code: DumpErrorCode;
  constructor(code: DumpErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'DumpError';
    this.code = code;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message };
  }
}

export function isDumpError(value: unknown): value is DumpError {
  return value instanceof DumpError;
}
