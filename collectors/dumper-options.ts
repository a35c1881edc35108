/** HangDumper's options, checked at the boundary (EINVAL naming the option and what is allowed). */

import type { Clock } from '../src/index.js';
import { invalid } from '../src/errors.js';
import { BUILTIN_COLLECTOR_NAMES } from './builtins.js';
import { dumpLimits } from './limits.js';
import type { Retention } from './retention.js';
import type { ClientReport, ClusterPart, Collector } from './types.js';

export interface HangDumperOptions {
  /** Where archives and index.json go (created on the first dump). */
  dir: string;
  /** Minimum time between two automatic dumps (hang, deadlock). Default 10 minutes. Manual dumps ignore it. */
  rateLimitMs?: number;
  /** Also dump when a deadlock is broken. Default false. */
  onDeadlock?: boolean;
  /** Dump on this signal. Default false. */
  signal?: 'SIGUSR2' | false;
  /** Archives kept: at most `count` and `bytes`, oldest removed first. */
  retention?: { count?: number; bytes?: number };
  /** For the rate limit; defaults to the manager's clock. */
  clock?: Clock;
  /** Extra collectors, run after the built-in ones. */
  collectors?: Collector[];
  /** Built-in collectors to leave out, by name. */
  exclude?: Array<(typeof BUILTIN_COLLECTOR_NAMES)[number]>;
  /** The remote clients' reports (the server fills this in). */
  clientReports?: () => Promise<ClientReport[]>;
  /** Stack paths are shown relative to this. Default process.cwd(). */
  cwd?: string;
  /** Values scrubbed from every file of a dump wherever they appear (the server's tokens), besides the secret-named environment variables. */
  secrets?: readonly string[];
  /** A cluster node's dump also collects from the other nodes (the server fills this in). */
  cluster?: ClusterPart;
}

export interface CheckedOptions {
  dir: string;
  rateLimitMs: number;
  onDeadlock: boolean;
  signal: 'SIGUSR2' | false;
  retention: Retention;
  clock: Clock | null;
  collectors: Collector[];
  exclude: string[];
  clientReports: (() => Promise<ClientReport[]>) | null;
  cwd: string;
  secrets: string[];
  cluster: ClusterPart | null;
}

const KEYS = new Set(['dir', 'rateLimitMs', 'onDeadlock', 'signal', 'retention', 'clock', 'collectors', 'exclude', 'clientReports', 'cwd', 'secrets', 'cluster']);

export function checkDumperOptions(value: unknown): CheckedOptions {
  if (value === null || typeof value !== 'object') throw invalid('options', 'an object with at least { dir }', value);
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) throw invalid(`options.${k}`, `one of ${[...KEYS].join(', ')}`);
  if (typeof o.dir !== 'string' || o.dir === '') throw invalid('options.dir', 'a directory path', o.dir);
  const rateLimitMs = o.rateLimitMs === undefined ? dumpLimits.rateLimitMs : count(o.rateLimitMs, 'options.rateLimitMs', 0);
  if (o.onDeadlock !== undefined && typeof o.onDeadlock !== 'boolean') throw invalid('options.onDeadlock', 'a boolean', o.onDeadlock);
  if (o.signal !== undefined && o.signal !== false && o.signal !== 'SIGUSR2') throw invalid('options.signal', "'SIGUSR2' or false", o.signal);
  const r = (o.retention ?? {}) as Record<string, unknown>;
  if (typeof r !== 'object' || r === null) throw invalid('options.retention', 'an object { count, bytes }', o.retention);
  const retention: Retention = {
    count: r.count === undefined ? dumpLimits.dumpsKeptMax : count(r.count, 'options.retention.count', 1),
    bytes: r.bytes === undefined ? dumpLimits.dumpsBytesKeptMax : count(r.bytes, 'options.retention.bytes', 0),
  };
  const collectors = (o.collectors ?? []) as Collector[];
  if (!Array.isArray(collectors) || collectors.some((c) => typeof c?.name !== 'string' || typeof c.collect !== 'function' || !(c.deadlineMs > 0) || !(c.maxBytes > 0))) {
    throw invalid('options.collectors', 'an array of { name, deadlineMs > 0, maxBytes > 0, collect(ctx) }');
  }
  const exclude = (o.exclude ?? []) as string[];
  if (!Array.isArray(exclude) || exclude.some((n) => !(BUILTIN_COLLECTOR_NAMES as readonly string[]).includes(n))) {
    throw invalid('options.exclude', `an array of ${BUILTIN_COLLECTOR_NAMES.join(', ')}`, o.exclude);
  }
  if (o.clientReports !== undefined && typeof o.clientReports !== 'function') throw invalid('options.clientReports', 'a function', o.clientReports);
  if (o.cwd !== undefined && typeof o.cwd !== 'string') throw invalid('options.cwd', 'a directory path', o.cwd);
  const secrets = (o.secrets ?? []) as string[];
  if (!Array.isArray(secrets) || secrets.some((s) => typeof s !== 'string')) throw invalid('options.secrets', 'an array of strings');
  const cluster = (o.cluster ?? null) as ClusterPart | null;
  if (cluster !== null && (typeof cluster.collect !== 'function' || typeof cluster.lastAutomatic !== 'function' || typeof cluster.automaticTaken !== 'function')) {
    throw invalid('options.cluster', 'an object { collect, lastAutomatic, automaticTaken }');
  }
  return {
    dir: o.dir, rateLimitMs, onDeadlock: o.onDeadlock === true, signal: (o.signal ?? false) as 'SIGUSR2' | false, retention,
    clock: (o.clock as Clock | undefined) ?? null, collectors, exclude,
    clientReports: (o.clientReports as (() => Promise<ClientReport[]>) | undefined) ?? null, cwd: (o.cwd as string | undefined) ?? process.cwd(),
    secrets: [...secrets], cluster,
  };
}

function count(v: unknown, name: string, min: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw invalid(name, `an integer >= ${min}`, v);
  return v;
}
