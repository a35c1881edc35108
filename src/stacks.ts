/**
 * Request-site stacks. Capturing is cheap when the trace is only recorded
 * (Error.captureStackTrace) and formatted later, on the rare occasion that
 * someone reads it (a snapshot, a dump, a deadlock report).
 */

export type StackMode = 'all' | 'waits' | 'off';

interface StackHolder {
  stack?: string;
}

/** Record the stack above `boundary` (the public API function), so the first frame is the caller's. */
export function captureStack(boundary: Function): object {
  const holder: StackHolder = {};
  Error.captureStackTrace(holder, boundary);
  return holder;
}

const INTERNAL = /[/\\](lockscope[/\\](dist[/\\])?)?(src|server|collectors)[/\\](dlm|posix|owner|manager|waiter|stacks)\.[jt]s:/;

/** The captured stack as text: "at ..." lines, lockscope's own frames and the Error header removed. */
export function formatStack(holder: object | null): string | null {
  if (holder === null) return null;
  const raw = (holder as StackHolder).stack;
  if (typeof raw !== 'string') return null;
  const lines = raw.split('\n').slice(1).map((l) => l.trim());
  return lines.filter((l) => !INTERNAL.test(l)).join('\n');
}
