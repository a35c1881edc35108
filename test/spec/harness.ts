/**
 * The lock-behaviour suites take "a way to make owners": the in-process
 * manager (local.ts) and the remote client against a real server
 * (remote.ts) run the very same tests, so neither can drift from the other. A harness is built per test with the standard domains below.
 */

import type { DomainConfig, LockOwner, OwnerOptions, Snapshot } from '../../src/index.js';

export interface LockHarness {
  owner(name: string, options?: OwnerOptions): LockOwner;
  /** The server's (or manager's) whole lock state. */
  snapshot(): Promise<Snapshot>;
  /** Let queued work run: promises settle, messages arrive. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export type HarnessFactory = (domains: DomainConfig[], limits?: Record<string, number>) => Promise<LockHarness>;

export const STANDARD_DOMAINS: DomainConfig[] = [
  { name: 'lin', kind: 'dlm' },
  { name: 'data', kind: 'dlm', ranges: true, lvbBytes: 16 },
  { name: 'adv', kind: 'posix' },
];

/** Tracks whether a promise has settled, without awaiting it. */
export function track<T>(promise: Promise<T>): { promise: Promise<T>; readonly done: boolean; readonly value: T | undefined; readonly error: unknown } {
  const t = { promise, done: false, value: undefined as T | undefined, error: undefined as unknown };
  promise.then(
    (v) => { t.done = true; t.value = v; },
    (e) => { t.done = true; t.error = e; },
  );
  return t;
}

/** Resolves to the error's code, or fails the test if the promise resolves. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as { code?: string }).code ?? `not a LockError: ${String(err)}`;
  }
  throw new Error('expected the request to fail');
}

/** Locks of one resource in the snapshot, as compact strings "owner:mode" per queue. */
export async function queues(h: LockHarness, domain: string, resource: string): Promise<{ granted: string[]; converting: string[]; waiting: string[] }> {
  const snap = await h.snapshot();
  const d = snap.domains.find((x) => x.name === domain);
  const r = d?.resources.find((x) => x.name === resource);
  const fmt = (l: { owner: string; mode: string | null; requested: string | null }): string =>
    l.requested === null ? `${l.owner}:${l.mode}` : `${l.owner}:${l.mode ?? ''}>${l.requested}`;
  return {
    granted: (r?.granted ?? []).map(fmt).sort(),
    converting: (r?.converting ?? []).map(fmt),
    waiting: (r?.waiting ?? []).map(fmt),
  };
}
