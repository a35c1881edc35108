/**
 * A dlm request's options, a new lock's (dlm.ts `request`) and a
 * conversion's (dlm-convert.ts), checked at the boundary: EINVAL naming the
 * option, before anything changes.
 */

import type { ConvertOptions, LockOptions, Range } from './api.js';
import type { DlmLock } from './dlm-lock.js';
import { parseRange } from './dlm-resource.js';
import { invalid } from './errors.js';
import { modeIndex, modeName, NL } from './modes.js';
import type { DomainPolicy } from './shapes.js';
import { checkBoolean, checkDuration, checkEnum, checkFunction, checkOptions, checkSignal } from './validate.js';

const CONVERT_KEYS = new Set(['timeoutMs', 'signal', 'noQueue', 'quecvt', 'alt', 'convDeadlock', 'lvb']);
const LOCK_KEYS = new Set(['timeoutMs', 'signal', 'noQueue', 'range', 'onBlocking', 'quecvt', 'expedite', 'alt', 'convDeadlock', 'reclaim', 'lvb', 'lvbSeq', 'cache']);
export const ALT_MODES = ['PR', 'CW'] as const;
export const CONV_POLICIES = ['error', 'demote', 'notify'] as const;

/** A lock request's options, checked (EINVAL naming the option) before anything changes. */
export interface LockRequestOptions {
  o: Record<string, unknown> | undefined;
  range: Range | null;
  noQueue: boolean;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  alt: number;
  expedite: boolean;
  reclaim: boolean;
  reclaimLvb: Uint8Array | null;
  reclaimSeq: number | null;
  cache: boolean;
  /** The lock needs its `extra` (besides a value block, which the domain decides). */
  extraNeeded: boolean;
}

/** A request without options (most of them): one shared object, no allocation on the lock path. */
export const NO_LOCK_OPTIONS: Readonly<LockRequestOptions> = Object.freeze({
  o: undefined, range: null, noQueue: false, timeoutMs: undefined, signal: undefined, alt: -1, expedite: false,
  reclaim: false, reclaimLvb: null, reclaimSeq: null, cache: false, extraNeeded: false,
});

export function parseLockOptions(options: LockOptions, rq: number, policy: DomainPolicy, timeoutMsMax: number): LockRequestOptions {
  const o = checkOptions(options, 'options', LOCK_KEYS)!;
  const cache = checkBoolean(o.cache, 'options.cache');
  if (cache && (o.range !== undefined || o.expedite === true)) throw invalid('options.cache', 'used without range and expedite (a cached grant is a whole-resource lock)');
  const reclaim = checkBoolean(o.reclaim, 'options.reclaim');
  let reclaimLvb: Uint8Array | null = null;
  let reclaimSeq: number | null = null;
  if (o.lvb !== undefined) {
    if (!reclaim) throw invalid('options.lvb', 'given only with reclaim: true (the holder\'s copy of the value block)');
    if (!(o.lvb instanceof Uint8Array) || o.lvb.length > policy.lvbBytes) {
      throw invalid('options.lvb', `a Uint8Array of at most ${policy.lvbBytes} bytes`, o.lvb);
    }
    reclaimLvb = o.lvb;
  }
  if (o.lvbSeq !== undefined) {
    if (reclaimLvb === null) throw invalid('options.lvbSeq', 'given only with reclaim: true and lvb');
    if (!Number.isSafeInteger(o.lvbSeq) || (o.lvbSeq as number) < 0) throw invalid('options.lvbSeq', 'a whole number >= 0', o.lvbSeq);
    reclaimSeq = o.lvbSeq as number;
  }
  const range = parseRange(o.range, policy.ranges, policy.name);
  const noQueue = checkBoolean(o.noQueue, 'options.noQueue');
  const timeoutMs = checkDuration(o.timeoutMs, 'options.timeoutMs', timeoutMsMax);
  const signal = checkSignal(o.signal, 'options.signal');
  checkFunction(o.onBlocking, 'options.onBlocking');
  checkBoolean(o.quecvt, 'options.quecvt');
  checkEnum(o.convDeadlock, 'options.convDeadlock', CONV_POLICIES);
  const expedite = checkBoolean(o.expedite, 'options.expedite');
  if (expedite && rq !== NL) throw invalid('options.expedite', 'used only with mode NL', modeName(rq));
  const a = checkEnum(o.alt, 'options.alt', ALT_MODES);
  const alt = a === undefined ? -1 : modeIndex(a);
  const extraNeeded = cache || o.onBlocking !== undefined || o.quecvt === true || o.convDeadlock !== undefined || alt >= 0;
  return { o, range, noQueue, timeoutMs, signal, alt, expedite, reclaim, reclaimLvb, reclaimSeq, cache, extraNeeded };
}

/** A conversion's options, checked, with the lock's own (given when it was requested) and its domain's as defaults. */
export interface ConvertRequestOptions {
  noQueue: boolean;
  quecvt: boolean;
  timeoutMs: number | undefined;
  signal: AbortSignal | undefined;
  alt: number;
  convDeadlock: 'error' | 'demote' | 'notify';
  /** `options.lvb` as given: checked against the conversion (checkLvbWrite) once the lock's state is. */
  lvb: unknown;
}

export function parseConvertOptions(options: ConvertOptions | undefined, lock: DlmLock, timeoutMsMax: number): ConvertRequestOptions {
  const o = checkOptions(options, 'options', CONVERT_KEYS) ?? {};
  const noQueue = checkBoolean(o.noQueue, 'options.noQueue');
  const quecvt = checkBoolean(o.quecvt, 'options.quecvt') || lock.extra?.quecvt === true;
  const timeoutMs = checkDuration(o.timeoutMs, 'options.timeoutMs', timeoutMsMax);
  const signal = checkSignal(o.signal, 'options.signal');
  const a = checkEnum(o.alt, 'options.alt', ALT_MODES);
  const alt = a !== undefined ? modeIndex(a) : (lock.extra?.alt ?? -1);
  const convDeadlock = checkEnum(o.convDeadlock, 'options.convDeadlock', CONV_POLICIES) ?? lock.extra?.convDeadlock ?? lock.res.table.policy.convDeadlock;
  return { noQueue, quecvt, timeoutMs, signal, alt, convDeadlock, lvb: o.lvb };
}
