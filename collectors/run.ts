/**
 * Runs collectors side by side, each under its own deadline. A collector
 * that throws, overruns its deadline or names a bad path never fails the
 * dump: what it did is recorded in the manifest's `errors`, and the other
 * collectors' files are written as usual.
 */

import type { PlannedFile } from './archive.js';
import type { CollectContext, Collector, CollectorError, DumpFile } from './types.js';

/** Names the writer itself uses. */
const RESERVED = new Set(['manifest.json', 'summary.txt']);

export async function runCollectors(
  collectors: readonly Collector[],
  ctx: Omit<CollectContext, 'signal'>,
): Promise<{ planned: PlannedFile[]; errors: CollectorError[] }> {
  const errors: CollectorError[] = [];
  const results = await Promise.all(collectors.map((c) => runOne(c, ctx, errors)));
  const planned: PlannedFile[] = [];
  const paths = new Set<string>(RESERVED);
  results.forEach((files, i) => {
    const c = collectors[i]!;
    for (const file of files) {
      const bad = badPath(file, paths);
      if (bad !== null) {
        errors.push({ collector: c.name, kind: 'error', path: String(file?.path), message: bad });
        continue;
      }
      paths.add(file.path);
      planned.push({ collector: c.name, maxBytes: c.maxBytes, file });
    }
  });
  return { planned, errors };
}

async function runOne(c: Collector, ctx: Omit<CollectContext, 'signal'>, errors: CollectorError[]): Promise<DumpFile[]> {
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  // Real time, not the dumper's clock: a deadline protects the process from a collector stuck on I/O.
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), c.deadlineMs);
  });
  try {
    const work = Promise.resolve().then(() => c.collect({ ...ctx, signal: ac.signal }));
    const result = await Promise.race([work, deadline]);
    if (result === 'deadline') {
      ac.abort();
      work.catch(() => {});
      errors.push({ collector: c.name, kind: 'deadline', message: `did not finish within its deadline of ${c.deadlineMs} ms` });
      return [];
    }
    if (!Array.isArray(result)) throw new TypeError('collect() must resolve to an array of { path, data }');
    return result;
  } catch (err) {
    errors.push({ collector: c.name, kind: 'error', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) });
    return [];
  } finally {
    clearTimeout(timer);
  }
}

/** Why a file's path cannot go into an archive (absolute, `..`, already taken), or null. */
export function badPath(file: DumpFile, taken: ReadonlySet<string>): string | null {
  if (file === null || typeof file !== 'object' || typeof file.path !== 'string') return 'a file without a path';
  const p = file.path;
  if (p === '' || p.startsWith('/') || p.includes('\\') || p.split('/').some((s) => s === '' || s === '.' || s === '..')) return `an unsafe path ${JSON.stringify(p)}`;
  if (taken.has(p)) return `a path already written (${p})`;
  return null;
}
