/**
 * Parsing the LockManager's options and those of its calls (the manager's
 * own and those that build its parts: domains, deadlock detection, lock-order
 * checking, limits; an owner's, with its metadata; a snapshot's): each
 * checks its input at the boundary and throws EINVAL naming the option,
 * before anything changes.
 */

import { DeadlockDetector } from './deadlock.js';
import { parseDomainConfig } from './domain.js';
import { invalid } from './errors.js';
import { defaultLimits, type Limits } from './limits.js';
import { defaultClassifier, type Classifier } from './lockorder.js';
import type { EngineHost } from './host.js';
import type { Owner, OwnerMeta } from './owner.js';
import type { Clock } from './clock.js';
import type { DeadlockOptions } from './deadlock.js';
import type { DomainConfig } from './domain.js';
import type { LockOrderOptions } from './lockorder.js';
import { Quota } from './quota.js';
import type { DomainPolicy } from './shapes.js';
import type { SnapshotOptions } from './snapshot.js';
import type { StackMode } from './stacks.js';
import type { TokenOptions } from './tokens.js';
import { checkDuration, checkEnum, checkFunction, checkInteger, checkName, checkOptions } from './validate.js';

export interface LockManagerOptions {
  /** Name shown in errors, dumps and the dashboard. */
  node?: string;
  domains?: DomainConfig[];
  clock?: Clock;
  limits?: Partial<Limits>;
  /** Capture the request-site stack of every lock (`all`), only of waits, or never. Default `all`. */
  stacks?: StackMode;
  /** Deadlock detection: `{ detect: 'immediate', victim: 'requester' }` by default. */
  deadlock?: DeadlockOptions;
  /** Lock-order (lockdep-style) checking: on by default; `false` turns it off. */
  lockOrder?: boolean | LockOrderOptions;
  /** Fencing tokens across restarts (tokens.ts): start above a durably recorded block. */
  tokens?: TokenOptions;
  /**
   * A cluster's say on every request that creates state (server/cluster):
   * throws ESTALE (another node masters the resource), EGRACE (the resource
   * is in recovery, or this node is fenced) or ENOGRACE (a reclaim with
   * nothing to recover). It replaces the manager's own grace check, for
   * in-process owners as for remote ones.
   */
  admission?: Admission;
}

/** One wait-for edge for a detector outside the manager (`waitEdges`): `owner`'s wait `waitId` is blocked by `blocker`. */
export interface WaitEdge {
  /** Names the edge to `waitEdge` and `failDeadlockVictim`. */
  key: string;
  waitId: number;
  owner: Owner;
  blocker: Owner;
  /** Blocked by a held lock (true), or only by queue order (a request queued ahead). */
  hard: boolean;
  /** When the wait began (the manager's clock). */
  requestedAt: number;
}

export type Admission = (domain: string, resource: string, reclaim: boolean, client: string | null) => void;

const MANAGER_KEYS = new Set(['node', 'domains', 'clock', 'limits', 'stacks', 'deadlock', 'lockOrder', 'tokens', 'admission']);
const OWNER_KEYS = new Set(['meta', 'priority', 'client', 'quota']);
const SNAPSHOT_KEYS = new Set(['locksMax']);
const DEADLOCK_KEYS = new Set(['detect', 'delayMs', 'victim', 'searchBudget', 'fullPassMs']);
const LOCK_ORDER_KEYS = new Set(['classify']);

/** The manager's options object, checked for unknown keys (each option is checked where it is used). */
export function checkManagerOptions(options: unknown): Record<string, unknown> {
  return checkOptions(options, 'options', MANAGER_KEYS) ?? {};
}

/** `options.domains`: every entry parsed and the names distinct, before any is installed. */
export function parseDomains(value: unknown, limits: Limits): DomainPolicy[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid('options.domains', 'an array of domain configurations', value);
  const policies = value.map((d, i) => parseDomainConfig(d, `options.domains[${i}]`, limits));
  const names = new Set<string>();
  for (const p of policies) {
    if (names.has(p.name)) throw invalid('options.domains', 'domains with distinct names', p.name);
    names.add(p.name);
  }
  return policies;
}

/** `lm.owner(name, options)`'s options, checked. */
export interface ParsedOwnerOptions {
  priority: number;
  meta: OwnerMeta | null;
  client: string | null;
  quota: Quota | null;
}

export function parseOwnerOptions(options: unknown, limits: Limits): ParsedOwnerOptions {
  const o = checkOptions(options, 'options', OWNER_KEYS) ?? {};
  const priority = o.priority === undefined ? 0 : checkInteger(o.priority, 'options.priority', -1_000_000, 1_000_000);
  const meta = o.meta === undefined ? null : parseMeta(o.meta, limits);
  const client = o.client === undefined ? null : checkName(o.client, 'options.client', limits.nameBytesMax);
  if (o.quota !== undefined && !(o.quota instanceof Quota)) throw invalid('options.quota', 'a Quota', o.quota);
  return { priority, meta, client, quota: (o.quota as Quota | undefined) ?? null };
}

/** A snapshot's options (`snapshot`, `snapshotOwners`), checked; returned as given. */
export function checkSnapshotOptions(options: SnapshotOptions | undefined): SnapshotOptions | undefined {
  if (options !== undefined) {
    checkOptions(options, 'options', SNAPSHOT_KEYS);
    if (options.locksMax !== undefined) checkInteger(options.locksMax, 'options.locksMax', 1, Number.MAX_SAFE_INTEGER);
  }
  return options;
}

export function parseDeadlock(m: EngineHost, value: unknown): DeadlockDetector {
  const o = checkOptions(value, 'options.deadlock', DEADLOCK_KEYS) ?? {};
  const detect = checkEnum(o.detect, 'options.deadlock.detect', ['immediate', 'deferred', 'off'] as const) ?? 'immediate';
  const victim = checkEnum(o.victim, 'options.deadlock.victim', ['requester', 'youngest', 'least-locks', 'priority'] as const) ?? 'requester';
  const delayMs = checkDuration(o.delayMs, 'options.deadlock.delayMs', m.limits.timeoutMsMax) ?? 1000;
  const budget = o.searchBudget === undefined ? 10_000 : checkInteger(o.searchBudget, 'options.deadlock.searchBudget', 1, 100_000_000);
  const fullPassMs = checkDuration(o.fullPassMs, 'options.deadlock.fullPassMs', 1000) ?? 1000;
  return new DeadlockDetector(m, detect, victim, delayMs, budget, Math.max(1, fullPassMs));
}

export function parseLockOrder(value: unknown): Classifier | null {
  if (value === undefined) return defaultClassifier;
  if (typeof value === 'boolean') return value ? defaultClassifier : null;
  const o = checkOptions(value, 'options.lockOrder', LOCK_ORDER_KEYS) ?? {};
  return checkFunction<Classifier>(o.classify, 'options.lockOrder.classify') ?? defaultClassifier;
}

export function parseLimits(value: unknown): Limits {
  const keys = new Set(Object.keys(defaultLimits));
  const given = checkOptions(value, 'options.limits', keys) ?? {};
  const out: Limits = { ...defaultLimits };
  for (const [k, v] of Object.entries(given)) {
    (out as unknown as Record<string, number>)[k] = checkInteger(v, `options.limits.${k}`, 0, Number.MAX_SAFE_INTEGER);
  }
  return out;
}

export function parseMeta(value: unknown, limits: Limits): OwnerMeta {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid('options.meta', 'a plain object', value);
  const entries = Object.entries(value);
  const json = JSON.stringify(value);
  if (entries.length > limits.metaKeysMax || json.length > limits.metaBytesMax) {
    throw invalid('options.meta', `at most ${limits.metaKeysMax} keys and ${limits.metaBytesMax} bytes of JSON`);
  }
  for (const [k, v] of entries) {
    const ok = ['string', 'number', 'boolean'].includes(typeof v) || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    if (!ok) throw invalid(`options.meta.${k}`, 'a string, number, boolean or array of strings', v);
  }
  return JSON.parse(json) as OwnerMeta;
}
