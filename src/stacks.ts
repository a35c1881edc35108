/**
 * Request-site stacks. Capturing is cheap when the trace is only recorded
 * (Error.captureStackTrace) and formatted later, on the rare occasion that
 * someone reads it (a snapshot, a dump, a deadlock report).
 */

import type { Waiter } from './waiter.js';

export type StackMode = 'all' | 'waits' | 'off';

interface StackHolder {
  stack?: string;
  /** formatStack's result, kept: snapshots and dumps read the same stacks again and again. */
  formatted?: string;
}

/**
 * Where a request comes from: the public API function to capture the stack
 * above (so the first frame is the caller's), or the stack text a remote
 * client captured itself and sent along.
 */
export type RequestSite = Function | string;

export function captureStack(site: RequestSite): object {
  if (typeof site === 'string') return { stack: `Error\n${site}` };
  const holder: StackHolder = {};
  Error.captureStackTrace(holder, site);
  return holder;
}

// The files whose frames can lie between a caller and a stack captured for it (a request made from an
// event listener or an onBlocking callback): the kinds' request paths, the manager's, the waits', the owner's.
const INTERNAL = /[/\\](lockscope[/\\](dist[/\\])?)?(src|server|collectors)[/\\](dlm|dlm-grant|dlm-convert|dlm-blocking|posix|owner|manager|manager-host|waits|waiter|stacks)\.[jt]s:/;

/** The captured stack as text: "at ..." lines, lockscope's own frames and the Error header removed. */
export function formatStack(holder: object | null): string | null {
  if (holder === null) return null;
  const h = holder as StackHolder;
  if (h.formatted !== undefined) return h.formatted;
  const raw = h.stack;
  if (typeof raw !== 'string') return null;
  const lines = raw.split('\n').slice(1).map((l) => l.trim());
  h.formatted = lines.filter((l) => !INTERNAL.test(l)).join('\n');
  return h.formatted;
}

/** Build an error without capturing a stack trace. */
export function noStack<E extends Error>(make: () => E): E {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return make();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Give an error the stack of the request it concerns, when one was captured. */
export function withRequestStack<E extends Error>(err: E, w: Waiter): E {
  const site = formatStack(w.stack);
  err.stack = site === null ? `${err.name}: ${err.message}` : `${err.name}: ${err.message}\n    ${site.split('\n').join('\n    ')}`;
  return err;
}
