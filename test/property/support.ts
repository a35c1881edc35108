/**
 * Shared pieces of the property tests: an independent copy of the DLM
 * compatibility matrix (the VMS and Linux DLM's, src/README.md "Modes"), range overlap as the snapshot reports
 * ranges, a microtask flush, and a tracked promise. Deliberately imports
 * nothing from the implementation's lock logic, so a wrong matrix or overlap
 * rule in src/ cannot make a property agree with itself.
 */

import type { LockSnapshot, ReportedRange, ResourceSnapshot, Snapshot } from '../../src/index.js';

export const MODE_NAMES = ['NL', 'CR', 'CW', 'PR', 'PW', 'EX'] as const;
export type Mode = (typeof MODE_NAMES)[number];

/** The VMS and Linux DLM's matrix: row = held, column = wanted, in MODE_NAMES order; 1 = compatible (symmetric). */
const MATRIX: Record<Mode, string> = {
  NL: '111111',
  CR: '111110',
  CW: '111000',
  PR: '110100',
  PW: '110000',
  EX: '100000',
};

export function compat(a: string, b: string): boolean {
  const row = MATRIX[a as Mode];
  const col = MODE_NAMES.indexOf(b as Mode);
  if (row === undefined || col < 0) throw new Error(`not a dlm mode pair: ${a}, ${b}`);
  return row[col] === '1';
}

/** Half-open ranges as reported (end null = to the end); a null range is the whole resource. */
export function overlap(a: ReportedRange | null, b: ReportedRange | null): boolean {
  if (a === null || b === null) return true;
  return (b.end === null || a.start < b.end) && (a.end === null || b.start < a.end);
}

/** Let every promise reaction run (setImmediate runs after the microtask queue drains). */
export async function flush(rounds = 1): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export function resources(snap: Snapshot, domain: string): ResourceSnapshot[] {
  const d = snap.domains.find((x) => x.name === domain);
  if (d === undefined) throw new Error(`no domain ${domain} in the snapshot`);
  return d.resources;
}

export function describeLock(l: LockSnapshot): string {
  const range = l.range === null ? '' : `[${l.range.start},${l.range.end ?? '∞'})`;
  return `#${l.id} ${l.owner} ${l.state} ${l.mode ?? '-'}${l.requested === null ? '' : `>${l.requested}`}${range}`;
}

export type Outcome<T> = { status: 'pending' } | { status: 'granted'; value: T } | { status: 'failed'; code: string };

/** A promise whose outcome can be read synchronously once reactions have run. */
export class Tracked<T> {
  outcome: Outcome<T> = { status: 'pending' };
  constructor(
    readonly promise: Promise<T>,
    onGranted?: (value: T) => void,
    onFailed?: (code: string) => void,
  ) {
    promise.then(
      (value) => {
        this.outcome = { status: 'granted', value };
        onGranted?.(value);
      },
      (err: unknown) => {
        const code = (err as { code?: unknown }).code;
        this.outcome = { status: 'failed', code: typeof code === 'string' ? code : `not a LockError: ${String(err)}` };
        onFailed?.(this.outcome.code);
      },
    );
  }
  get pending(): boolean {
    return this.outcome.status === 'pending';
  }
}
