/**
 * The race the lock-file saga is about: processes lock names through
 * fasteners in a loop while a cleaner deletes "stale" files in the same
 * directory. A deletion between a worker's open() and its lock lets two
 * workers into one name's critical section. The workers log every entry and
 * exit; the overlaps are counted from that log. The usual cron job is the
 * control (it must show overlaps, or the harness could not see one);
 * `cleanLockFiles` runs the same workload.
 *
 * LOCKSCOPE_RACE_SECONDS lengthens the run (collectors/lockfiles/README.md
 * has the figures of long runs).
 */

import { describe, expect, it } from 'vitest';
import { cleanLockFiles } from '../../collectors/index.js';
import { naiveCleaner, race } from './race.js';
import { lockDir } from './support.js';

const SECONDS = Number(process.env.LOCKSCOPE_RACE_SECONDS ?? 6);
const WORKLOAD = { workers: 4, names: ['a', 'b', 'c'], seconds: SECONDS };

describe('lockfiles clean under a live fasteners workload', () => {
  it('the usual cron job (lock without waiting, then delete) lets two holders into one name', async () => {
    const dir = await lockDir();
    let deleted = 0;
    const result = await race(dir, await lockDir(), { ...WORKLOAD, clean: async () => { deleted = await naiveCleaner(dir, SECONDS); } });
    console.log(`control (cron job): ${result.sections} sections, ${deleted} files deleted, ${result.overlaps} overlaps`);
    expect(deleted).toBeGreaterThan(0);
    expect(result.overlaps).toBeGreaterThan(0);
  }, 60_000 + SECONDS * 3000);

  it('cleanLockFiles deletes files between sections and no two holders ever share a name', async () => {
    const dir = await lockDir();
    let deleted = 0;
    let runs = 0;
    const kept: Record<string, number> = {};
    let maxWindowMs = 0;
    let maxRecheckMs = 0;
    const result = await race(dir, await lockDir(), {
      ...WORKLOAD,
      clean: async (stop) => {
        while (!stop()) {
          const r = await cleanLockFiles(dir, { olderThanMs: 0 });
          runs++;
          deleted += r.deleted;
          for (const [k, n] of Object.entries(r.kept)) kept[k] = (kept[k] ?? 0) + n;
          maxWindowMs = Math.max(maxWindowMs, r.maxWindowMs);
          maxRecheckMs = Math.max(maxRecheckMs, r.maxRecheckMs);
        }
      },
    });
    console.log(`cleanLockFiles: ${result.sections} sections, ${runs} cleans, ${deleted} files deleted, kept ${JSON.stringify(kept)}, ` +
      `max window ${maxWindowMs.toFixed(2)} ms, max recheck ${maxRecheckMs.toFixed(2)} ms, ${result.overlaps} overlaps`);
    expect(runs).toBeGreaterThan(10);
    expect(deleted).toBeGreaterThan(0);
    expect(result.overlaps).toBe(0);
  }, 60_000 + SECONDS * 3000);
});
