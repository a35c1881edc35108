/**
 * Domains: named lock spaces, each with a kind and a policy. Locks in
 * different domains never conflict. This file parses and checks a domain's
 * configuration; the kinds' lock logic lives in dlm.ts and posix.ts.
 */

import { invalid, LockError } from './errors.js';
import type { DomainLanes } from './watchdog.js';
import type { Limits } from './limits.js';
import { checkBoolean, checkDuration, checkEnum, checkInteger, checkName, checkOptions } from './validate.js';
import type { ConvDeadlockPolicy, DomainKind, DomainPolicy } from './shapes.js';

export const DOMAIN_KINDS: readonly DomainKind[] = ['dlm', 'posix'];

export interface DomainConfig {
  name: string;
  kind: DomainKind;
  /** A wait longer than this is reported as a hang (never failed). Default 30 s. */
  softTimeoutMs?: number;
  /** A hold longer than this is reported as a long hold. Default: off. */
  holdWarnMs?: number;
  /** A hang still blocked this long after its soft timeout is persistent. Default 5 × softTimeoutMs. */
  persistentAfterMs?: number;
  /** dlm: locks may carry a byte range. */
  ranges?: boolean;
  /** dlm: size of the lock value block, a multiple of 8 up to limits.lvbBytesMax; 0 = none. */
  lvbBytes?: number;
  /** Take part in deadlock detection (default true). */
  deadlock?: boolean;
  /** dlm: default policy for conversion deadlocks. */
  convDeadlock?: ConvDeadlockPolicy;
  /** Per-domain bounds, at most the manager's. */
  limits?: { resourcesPerDomainMax?: number; waitersPerResourceMax?: number };
}

const DOMAIN_KEYS = new Set([
  'name', 'kind', 'softTimeoutMs', 'holdWarnMs', 'persistentAfterMs', 'ranges', 'lvbBytes',
  'deadlock', 'convDeadlock', 'limits',
]);
const DOMAIN_LIMIT_KEYS = new Set(['resourcesPerDomainMax', 'waitersPerResourceMax']);
export const DEFAULT_SOFT_TIMEOUT_MS = 30_000;

export function parseDomainConfig(value: unknown, argument: string, limits: Limits): DomainPolicy {
  const c = checkOptions(value, argument, DOMAIN_KEYS);
  if (c === undefined) throw invalid(argument, 'a domain configuration object');
  const name = checkName(c.name, `${argument}.name`, limits.nameBytesMax);
  const kind = checkEnum(c.kind, `${argument}.kind`, DOMAIN_KINDS);
  if (kind === undefined) throw invalid(`${argument}.kind`, `one of ${DOMAIN_KINDS.join(', ')}`);
  const softTimeoutMs = checkDuration(c.softTimeoutMs, `${argument}.softTimeoutMs`, limits.timeoutMsMax) ?? DEFAULT_SOFT_TIMEOUT_MS;
  const holdWarnMs = checkDuration(c.holdWarnMs, `${argument}.holdWarnMs`, limits.timeoutMsMax) ?? null;
  const persistentAfterMs =
    checkDuration(c.persistentAfterMs, `${argument}.persistentAfterMs`, limits.timeoutMsMax) ??
    Math.min(limits.timeoutMsMax, softTimeoutMs * 5);
  const ranges = checkBoolean(c.ranges, `${argument}.ranges`);
  const lvbBytes = c.lvbBytes === undefined ? 0 : checkInteger(c.lvbBytes, `${argument}.lvbBytes`, 0, limits.lvbBytesMax);
  if (lvbBytes % 8 !== 0) throw invalid(`${argument}.lvbBytes`, `a multiple of 8 from 0 to ${limits.lvbBytesMax}`, lvbBytes);
  if (kind === 'posix' && (c.ranges !== undefined || lvbBytes !== 0 || c.convDeadlock !== undefined)) {
    throw invalid(argument, 'a posix domain without ranges, lvbBytes or convDeadlock (posix locks are always byte ranges)');
  }
  const deadlock = c.deadlock === undefined ? true : checkBoolean(c.deadlock, `${argument}.deadlock`);
  const convDeadlock = checkEnum(c.convDeadlock, `${argument}.convDeadlock`, ['error', 'demote', 'notify'] as const) ?? 'error';
  const l = checkOptions(c.limits, `${argument}.limits`, DOMAIN_LIMIT_KEYS) ?? {};
  const resourcesPerDomainMax =
    l.resourcesPerDomainMax === undefined
      ? limits.resourcesPerDomainMax
      : checkInteger(l.resourcesPerDomainMax, `${argument}.limits.resourcesPerDomainMax`, 1, limits.resourcesPerDomainMax);
  const waitersPerResourceMax =
    l.waitersPerResourceMax === undefined
      ? limits.waitersPerResourceMax
      : checkInteger(l.waitersPerResourceMax, `${argument}.limits.waitersPerResourceMax`, 0, limits.waitersPerResourceMax);
  return {
    name, kind, softTimeoutMs, holdWarnMs, persistentAfterMs, ranges: kind === 'posix' ? true : ranges, lvbBytes,
    deadlock, convDeadlock, resourcesPerDomainMax, waitersPerResourceMax,
  };
}

/**
 * The resources of one domain, created on first use. A resource that nothing
 * refers to any more (no lock, no wait, no value block) becomes idle instead
 * of being deleted at once: busy programs lock the same keys over and over,
 * and a Map delete followed by a re-insert costs more than the whole lock.
 * Idle resources are swept in bulk once they outnumber the live ones (and a
 * floor), so the sweep is amortized O(1) per release and memory stays within
 * twice the live set.
 *
 * Invariants: idleCount === number of resources r in map with r.idle; an idle
 * resource holds no lock, no wait and no written value block.
 */
export interface TableResource {
  readonly name: string;
  idle: boolean;
}

const IDLE_FLOOR = 4096;

export class ResourceTable<R extends TableResource> {
  readonly map = new Map<string, R>();
  idleCount = 0;
  /** Granted dlm locks plus posix pieces, and pending requests, in this domain (for stats()). */
  held = 0;
  waiting = 0;
  /** The watchdog's timer lanes for this domain (watchdog.ts), made on first use. */
  lanes: DomainLanes | null = null;

  constructor(
    readonly policy: DomainPolicy,
    private readonly create: (name: string) => R,
  ) {}

  /** Live resources: what resourcesPerDomainMax bounds. */
  get size(): number {
    return this.map.size - this.idleCount;
  }

  get(name: string): R | undefined {
    return this.map.get(name);
  }

  getOrCreate(name: string): R {
    let r = this.map.get(name);
    if (r !== undefined) {
      if (r.idle) {
        r.idle = false;
        this.idleCount--;
      }
      return r;
    }
    if (this.map.size - this.idleCount >= this.policy.resourcesPerDomainMax) {
      throw new LockError('ENOLCK', `domain ${this.policy.name} has reached resourcesPerDomainMax (${this.policy.resourcesPerDomainMax})`, {
        domain: this.policy.name, resource: name, limit: 'resourcesPerDomainMax',
      });
    }
    r = this.create(name);
    this.map.set(name, r);
    return r;
  }

  /** The resource is unused now; it may be reused or swept later. */
  release(r: R): void {
    if (r.idle) return;
    r.idle = true;
    this.idleCount++;
    if (this.idleCount > IDLE_FLOOR && this.idleCount * 2 > this.map.size) this.sweep();
  }

  /** Delete every idle resource. */
  sweep(): void {
    for (const [name, r] of this.map) if (r.idle) this.map.delete(name);
    this.idleCount = 0;
  }

  /** Resources in use (idle ones skipped). */
  *live(): IterableIterator<R> {
    for (const r of this.map.values()) if (!r.idle) yield r;
  }
}
