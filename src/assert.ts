/**
 * Internal invariant checks for the hot paths (queue links, lanes, the timer
 * heap). node:assert's `ok` gathers its arguments with a rest parameter on
 * every call, which profiled at ~2% of a contended handover; this one is a
 * branch that V8 inlines. A failure still throws node's AssertionError.
 */

import { AssertionError } from 'node:assert';

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionError({ message });
}
