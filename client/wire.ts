/**
 * Client-side encoding: errors from the wire back into LockErrors with the
 * same code, value blocks to and from base64, and the request-site stack the
 * client captures so the server can show where a remote program asked.
 */

import { DeadlockError, invalid, LockError, LOCK_ERROR_CODES, type CycleEntry, type LockErrorCode, type LockErrorContext } from '../src/errors.js';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SITE_CHARS_MAX, type WireError } from './protocol.js';

const CONTEXT_KEYS = ['node', 'domain', 'resource', 'owner', 'reason', 'limit', 'generation'] as const;

/** The LockError (DeadlockError for EDEADLK) a wire error stands for, with the same code and context. */
export function fromWire(e: WireError): LockError {
  const code: LockErrorCode = LOCK_ERROR_CODES.includes(e.code) ? e.code : 'EINVAL';
  const prefix = `${code}: `;
  const message = typeof e.message === 'string' ? (e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message) : code;
  const context: LockErrorContext = {};
  for (const k of CONTEXT_KEYS) if (typeof e[k] === 'string') (context as Record<string, string>)[k] = e[k] as string;
  if (code === 'EDEADLK' && Array.isArray(e.cycle)) return new DeadlockError(message, e.cycle as CycleEntry[], context);
  return new LockError(code, message, context);
}

/** A LockError as it travels: its toJSON has the code, the message and the context a WireError has. */
export function toWire(e: LockError): WireError {
  return e.toJSON() as WireError;
}

/** A refusal's data is a WireError once its code is a string (fromWire maps an unknown code to EINVAL). */
export function isWireError(x: unknown): x is WireError {
  return x !== null && typeof x === 'object' && typeof (x as { code?: unknown }).code === 'string';
}

export function toBase64(bytes: unknown, argument: string): string {
  if (!(bytes instanceof Uint8Array)) throw invalid(argument, 'a Uint8Array', bytes);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

export function fromBase64(s: string | null): Uint8Array | null {
  return s === null ? null : new Uint8Array(Buffer.from(s, 'base64'));
}

/** Frames of lockscope's own client code, left out of a relayed stack. */
const CLIENT_DIR = dirname(fileURLToPath(import.meta.url));
const CLIENT_FRAME = new RegExp(`${escapeRegExp(CLIENT_DIR)}[/\\\\][\\w-]+\\.[jt]s:|node:internal|[/\\\\]node_modules[/\\\\](socket\\.io|engine\\.io)`);

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The caller's stack above `fn`, as "at ..." lines (the format the core's lockAt takes). */
export function captureSite(fn: Function): string {
  return siteText(captureRawSite(fn));
}

/**
 * A stack captured and not formatted yet: V8 formats `stack` on first read,
 * and that is most of a capture's cost (~5 µs of ~6 here). A cached grant's
 * local re-grant (cache.ts) keeps its site raw until a report needs the text.
 */
export interface RawSite {
  stack?: string;
  text?: string;
}

export function captureRawSite(fn: Function): RawSite {
  const holder: RawSite = {};
  Error.captureStackTrace(holder, fn);
  return holder;
}

/** The site's text (formatted once). */
export function siteText(raw: RawSite): string {
  if (raw.text === undefined) {
    const lines = (raw.stack ?? '').split('\n').slice(1).filter((l) => !CLIENT_FRAME.test(l));
    const text = lines.join('\n');
    raw.text = text.length > SITE_CHARS_MAX ? text.slice(0, SITE_CHARS_MAX) : text;
  }
  return raw.text;
}

/**
 * Options that cannot travel as JSON are refused here, where the caller can
 * see them: JSON would silently drop a function or fail on a bigint.
 */
export function checkWireable(options: unknown, argument: string, local: ReadonlySet<string>): Record<string, unknown> | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw invalid(argument, 'an options object', options);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (local.has(k)) continue;
    if (typeof v === 'function' || typeof v === 'bigint' || typeof v === 'symbol') throw invalid(`${argument}.${k}`, 'a JSON value', v);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** An application callback: its exception surfaces as uncaught (as in the core) instead of breaking the caller. */
export function callUser<A>(cb: ((arg: A) => void) | null | undefined, arg: A): void {
  if (cb == null) return;
  try {
    cb(arg);
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}
