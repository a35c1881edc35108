/**
 * `scanLockFiles` against real holders: Python processes that lock through
 * fasteners, oslo.concurrency (external=True), fcntl.flock, OFD locks and
 * byte offsets of one file, processes that only keep a file open, and files
 * made old with utimes(). Each file's verdict, holder pid, mechanism and
 * ranges are checked exactly.
 */

import { unlinkSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanLockFiles, type LockFileEntry } from '../../collectors/index.js';
import { HOUR, ROOT, age, hold, lockDir, oldFile } from './support.js';

const byPath = (files: LockFileEntry[]): Map<string, LockFileEntry> => new Map(files.map((f) => [f.path, f]));

// Python holders start slowly on a loaded machine (oslo.concurrency's imports alone take seconds).
describe('lockfiles scan', { timeout: 60_000 }, () => {
  it('names each holder, its mechanism and byte ranges, the mere openers, and the stale and young files', async () => {
    const dir = await lockDir();
    const fasteners = await hold('fasteners', join(dir, 'nova-compute'));
    const oslo = await hold('oslo', join(dir, 'neutron-iptables'));
    const flock = await hold('flock', join(dir, 'cron.lock'));
    const ofd = await hold('ofd', join(dir, 'ofd.lock'));
    // One shared file, one byte per name (fasteners PR #10's scheme): two holders, two ranges.
    await oldFile(join(dir, 'offsets.db'), 2 * HOUR);
    const first = await hold('offsets', join(dir, 'offsets.db'), [3]);
    const second = await hold('offsets', join(dir, 'offsets.db'), [7, 9]);
    await oldFile(join(dir, 'opened'), 5 * HOUR);
    const opener = await hold('open', join(dir, 'opened'));
    await oldFile(join(dir, 'stale-1'), 2 * HOUR);
    await oldFile(join(dir, 'stale-2'), 30 * HOUR);
    await oldFile(join(dir, 'young'), 10 * 60_000);
    for (const name of ['nova-compute', 'neutron-iptables', 'cron.lock', 'ofd.lock']) await age(join(dir, name), 3 * HOUR);

    const { summary, files } = await scanLockFiles(dir, { staleAfterMs: HOUR });
    const f = byPath(files);
    expect(Object.fromEntries([...f].map(([p, e]) => [p, e.verdict]))).toEqual({
      'nova-compute': 'held', 'neutron-iptables': 'held', 'cron.lock': 'held', 'ofd.lock': 'held', 'offsets.db': 'held',
      opened: 'open', 'stale-1': 'stale', 'stale-2': 'stale', young: 'young',
    });
    const locks = (p: string) => f.get(p)!.locks.map((l) => ({ mechanism: l.mechanism, access: l.access, start: l.start, end: l.end, waiting: l.waiting, pids: l.holders.map((h) => h.pid) }));
    expect(locks('nova-compute')).toEqual([{ mechanism: 'POSIX', access: 'WRITE', start: 0, end: null, waiting: false, pids: [fasteners.pid] }]);
    expect(locks('neutron-iptables')).toEqual([{ mechanism: 'POSIX', access: 'WRITE', start: 0, end: null, waiting: false, pids: [oslo.pid] }]);
    expect(locks('cron.lock')).toEqual([{ mechanism: 'FLOCK', access: 'WRITE', start: 0, end: null, waiting: false, pids: [flock.pid] }]);
    // The kernel prints -1 for an OFD lock's pid; the holder is found through its descriptor's fdinfo.
    expect(locks('ofd.lock')).toEqual([{ mechanism: 'OFD', access: 'WRITE', start: 0, end: null, waiting: false, pids: [ofd.pid] }]);
    expect(locks('offsets.db').sort((a, b) => a.start - b.start)).toEqual([
      { mechanism: 'POSIX', access: 'WRITE', start: 3, end: 3, waiting: false, pids: [first.pid] },
      { mechanism: 'POSIX', access: 'WRITE', start: 7, end: 7, waiting: false, pids: [second.pid] },
      { mechanism: 'POSIX', access: 'WRITE', start: 9, end: 9, waiting: false, pids: [second.pid] },
    ]);
    // Holders are not listed again as openers; the process that only opened the file is.
    expect(f.get('nova-compute')!.openers).toEqual([]);
    expect(f.get('opened')!.openers.map((p) => p.pid)).toEqual([opener.pid]);
    expect(f.get('opened')!.locks).toEqual([]);
    const who = f.get('nova-compute')!.locks[0]!.holders[0]!;
    expect(who.command).toContain('holder.py fasteners');
    expect(who.user).toBe(userInfo().username);
    expect(f.get('stale-2')!.ageMs).toBeGreaterThanOrEqual(30 * HOUR);
    expect(summary).toMatchObject({ files: 9, held: 5, open: 1, stale: 2, young: 1, vanished: 0, symlinks: 0, truncated: false });
    if (ROOT) expect(summary.unreadableProcesses).toBe(0);
  });

  it('judges a file free again once its holder has exited (the kernel dropped the lock)', async () => {
    const dir = await lockDir();
    const h = await hold('fasteners', join(dir, 'a'));
    await age(join(dir, 'a'), 2 * HOUR);
    expect((await scanLockFiles(dir)).files.map((e) => e.verdict)).toEqual(['held']);
    await h.release();
    expect((await scanLockFiles(dir)).files.map((e) => e.verdict)).toEqual(['stale']);
  });

  it('does not follow symbolic links, enters subdirectories only when recursive, and counts both', async () => {
    const dir = await lockDir();
    const outside = await lockDir();
    await oldFile(join(outside, 'target'), 5 * HOUR);
    const held = await hold('flock', join(outside, 'target'));
    await symlink(join(outside, 'target'), join(dir, 'link'));
    await mkdir(join(dir, 'sub'));
    await oldFile(join(dir, 'sub', 'inner'), 5 * HOUR);
    await oldFile(join(dir, 'top'), 5 * HOUR);

    const flat = await scanLockFiles(dir);
    expect(flat.files.map((e) => e.path)).toEqual(['top']);
    expect(flat.summary).toMatchObject({ files: 1, symlinks: 1, directories: 1, stale: 1 });
    const deep = await scanLockFiles(dir, { recursive: true });
    expect(deep.files.map((e) => e.path).sort()).toEqual(['sub/inner', 'top']);
    expect(deep.summary).toMatchObject({ files: 2, symlinks: 1, directories: 0, stale: 2 });
    expect(held.pid).toBeGreaterThan(0);
  });

  it('skips and counts a file that vanishes mid-scan', async () => {
    const dir = await lockDir();
    for (const n of ['a', 'b', 'c', 'd']) await oldFile(join(dir, n), 2 * HOUR);
    let removed = false;
    const { summary, files } = await scanLockFiles(dir, {
      // The directory is read in batches of entries; removing the others after the first is looked at
      // makes them vanish between readdir and lstat, as a concurrent cleaner would.
      onFile: (e) => {
        if (removed) return;
        removed = true;
        for (const n of ['a', 'b', 'c', 'd']) if (n !== e.path) unlinkSync(join(dir, n));
      },
    });
    expect(summary).toMatchObject({ files: 1, vanished: 3 });
    expect(files.length).toBe(summary.files);
  });

  it('fails with stable codes: no directory (ENOENT), not a directory (EINVAL), no /proc/locks (ENOTSUP), bad options (EINVAL)', async () => {
    const dir = await lockDir();
    await oldFile(join(dir, 'file'), 0);
    await expect(scanLockFiles(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(scanLockFiles(join(dir, 'file'))).rejects.toMatchObject({ code: 'EINVAL' });
    // A root without a `locks` file is what a system without /proc looks like (macOS, a container without it).
    await expect(scanLockFiles(dir, { procRoot: dir })).rejects.toMatchObject({ code: 'ENOTSUP' });
    await expect(scanLockFiles(dir, { staleAfterMs: -1 })).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(scanLockFiles('')).rejects.toMatchObject({ code: 'EINVAL' });
  });
});
