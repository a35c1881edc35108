/**
 * The cache's options (connect's `cache`, cache.ts): what each means, its
 * bounds (limits.ts) and their check; a bad value is EINVAL naming it.
 */

import { invalid } from '../src/errors.js';
import { defaultLimits } from '../src/limits.js';
import { CACHE_ENTRIES_DEFAULT, CACHE_ENTRIES_MAX, CACHE_IDLE_DEFAULT_MS, CACHE_MIN_HOLD_DEFAULT_MS, CACHE_MIN_HOLD_MAX_MS } from './limits.js';

export interface CacheOptions {
  /** Keep a grant at least this long after it was granted before a callback takes it (default 10 ms, at most CACHE_MIN_HOLD_MAX_MS). */
  minHoldMs?: number;
  /** Give up a grant idle this long (default 30 s). */
  idleMs?: number;
  /** Cached grants one client keeps; past it the least recently used idle one is given up (default 10,000). */
  max?: number;
}

const CACHE_OPTION_KEYS = new Set(['minHoldMs', 'idleMs', 'max']);

export function checkCacheOptions(v: unknown): Required<CacheOptions> | null {
  if (v === undefined || v === false) return null;
  const o = (v === true ? {} : v) as Record<string, unknown>;
  if (o === null || typeof o !== 'object') throw invalid('options.cache', 'true, false or { minHoldMs, idleMs, max }', v);
  for (const k of Object.keys(o)) if (!CACHE_OPTION_KEYS.has(k)) throw invalid(`options.cache.${k}`, 'one of minHoldMs, idleMs, max');
  const int = (x: unknown, name: string, min: number, max: number, dflt: number): number => {
    if (x === undefined) return dflt;
    if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min || x > max) throw invalid(`options.cache.${name}`, `a whole number from ${min} to ${max}`, x);
    return x;
  };
  return {
    minHoldMs: int(o.minHoldMs, 'minHoldMs', 0, CACHE_MIN_HOLD_MAX_MS, CACHE_MIN_HOLD_DEFAULT_MS),
    idleMs: int(o.idleMs, 'idleMs', 1, defaultLimits.timeoutMsMax, CACHE_IDLE_DEFAULT_MS),
    max: int(o.max, 'max', 1, CACHE_ENTRIES_MAX, CACHE_ENTRIES_DEFAULT),
  };
}
