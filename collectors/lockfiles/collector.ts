/**
 * `os/lockfiles.json` in a hang-dump: the scan of one configured lock
 * directory, so an operator sees an application's lock files (oslo,
 * fasteners, flock) beside lockscope's own locks. Held and open files come
 * first and are never left out for stale ones when the list is cut at
 * `collectorEntriesMax`; the summary counts every file.
 */

import { lockFileLimits } from '../limits.js';
import type { Collector } from '../types.js';
import { checkScanOptions, scanEach, VERDICTS } from './scan.js';
import type { LockFileEntry, LockFileSummary, LockFilesView } from '../shapes.js';

export interface LockFilesOptions {
  dir: string;
  /** Unused files older than this are `stale`. Default 1 hour. */
  staleAfterMs?: number;
  recursive?: boolean;
}

/** A scan cut to `max` entries, the ones in use first. Throws as scanLockFiles does (DumpError). */
export async function lockFilesView(options: LockFilesOptions, max: number, signal?: AbortSignal): Promise<LockFilesView> {
  const o = checkScanOptions(options.dir, { staleAfterMs: options.staleAfterMs, recursive: options.recursive });
  const byVerdict = new Map(VERDICTS.map((v) => [v, [] as LockFileEntry[]]));
  let kept = 0;
  const summary = await scanEach(o, (e) => {
    const list = byVerdict.get(e.verdict)!;
    // In-use files replace unused ones once the list is full, so none of them is ever cut for a stale one.
    if (kept < max) {
      list.push(e);
      kept++;
    } else if (e.verdict === 'held' || e.verdict === 'open') {
      const victim = byVerdict.get('young')!.length > 0 ? byVerdict.get('young')! : byVerdict.get('stale')!;
      if (victim.length > 0) {
        victim.pop();
        list.push(e);
      }
    }
  }, signal);
  const files = VERDICTS.flatMap((v) => byVerdict.get(v)!);
  return { summary, files, omitted: summary.files - files.length };
}

export function lockFilesCollector(options: LockFilesOptions): Collector {
  // Checked when the dumper is built, not in the middle of a hang.
  checkScanOptions(options.dir, { staleAfterMs: options.staleAfterMs, recursive: options.recursive });
  return {
    name: 'lockfiles',
    deadlineMs: lockFileLimits.collectorDeadlineMs,
    maxBytes: lockFileLimits.collectorBytesMax,
    async collect({ signal }) {
      const view = await lockFilesView(options, lockFileLimits.collectorEntriesMax, signal);
      return [{ path: 'os/lockfiles.json', data: JSON.stringify(view, null, 1) }];
    },
  };
}
