/**
 * A dlm resource and a queued dlm request, and the small parsers for dlm
 * requests. The grant logic that moves locks between these queues is in
 * dlm-grant.ts.
 */

import type { Range } from './api.js';
import type { DlmLock } from './dlm-lock.js';
import type { ResourceTable } from './domain.js';
import { invalid } from './errors.js';
import { OFFSET_MAX } from './limits.js';
import { LinkedList } from './list.js';
import { compatible, modeIndex, modeName } from './modes.js';
import type { Owner } from './owner.js';
import { checkOffset, checkOptions } from './validate.js';
import { Waiter } from './waiter.js';

const RANGE_KEYS = new Set(['start', 'end']);

export interface LvbState {
  bytes: Uint8Array;
  seq: number;
  valid: boolean;
  /** Written at least once: the resource is kept while it holds a value. */
  written: boolean;
  /** After a restart: the value came back with a reclaim, from a writer's (PW/EX) copy or a reader's (PR/CW). */
  restored: 'writer' | 'reader' | null;
}

/**
 * A dlm resource. It is its own granted queue (it extends the list class)
 * rather than holding one: with a million resources, one object header less
 * each is 24 MB.
 */
export class DlmResource extends LinkedList<DlmLock> {
  converting: LinkedList<DlmLock> | null = null;
  waiting: LinkedList<DlmLock> | null = null;
  lvb: LvbState | null = null;
  idle = false;

  constructor(
    readonly name: string,
    readonly table: ResourceTable<DlmResource>,
  ) {
    super();
  }

  /** The granted queue (granted locks, in no particular order). */
  get granted(): LinkedList<DlmLock> {
    return this;
  }

  get queued(): number {
    return (this.converting?.size ?? 0) + (this.waiting?.size ?? 0);
  }
}

/** A queued new request or conversion. */
export class DlmWait extends Waiter {
  constructor(
    id: number,
    owner: Owner,
    requestedAt: number,
    stack: object | null,
    readonly lock: DlmLock,
    readonly conversion: boolean,
  ) {
    super(id, owner, requestedAt, stack);
  }
  get res(): DlmResource {
    return this.lock.res;
  }
  get domain(): string {
    return this.lock.res.table.policy.name;
  }
  get resource(): string {
    return this.lock.res.name;
  }
  get wanted(): string {
    return modeName(this.lock.rqMode);
  }
  unqueue(): void {
    this.owner.manager.dlm.unqueue(this);
  }
  afterUnqueue(): void {
    this.owner.manager.dlm.afterChange(this.lock.res);
  }
}

export function overlaps(a: Range | null, b: Range | null): boolean {
  return a === null || b === null || (a.start < b.end && b.start < a.end);
}

/**
 * The DLM conflict test (grant rule 1): lock `g`'s granted mode is
 * incompatible with `mode` and its range overlaps `range`. Its one spelling:
 * the grant rules, blocking notifications, conversion deadlocks, reclaims
 * and the wait-for graph's hard edges all ask this.
 */
export function conflicts(g: DlmLock, mode: number, range: Range | null): boolean {
  return !compatible(g.grMode, mode) && overlaps(g.range, range);
}

export function parseMode(mode: unknown, argument = 'mode'): number {
  const m = typeof mode === 'string' ? modeIndex(mode) : -1;
  if (m < 0) throw invalid(argument, 'one of NL, CR, CW, PR, PW, EX', mode);
  return m;
}

export function parseRange(value: unknown, allowed: boolean, domain: string): Range | null {
  if (value === undefined) return null;
  if (!allowed) throw invalid('options.range', `absent: domain ${domain} was not created with ranges: true`);
  const r = checkOptions(value, 'options.range', RANGE_KEYS);
  const start = checkOffset(r?.start, 'options.range.start');
  const end = checkOffset(r?.end, 'options.range.end');
  if (end <= start) throw invalid('options.range', `a half-open range with start < end <= ${OFFSET_MAX}`, `[${start}, ${end})`);
  return { start, end };
}
