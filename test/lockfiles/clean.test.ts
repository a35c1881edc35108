/**
 * `cleanLockFiles` and `lockscope lockfiles` against real holders: exactly the
 * stale files go; held (fasteners, oslo, flock, OFD, byte offsets), open and
 * young files stay; symbolic links are neither followed nor removed; nothing
 * outside the directory is touched.
 */

import { existsSync } from 'node:fs';
import { readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanLockFiles, type CleanOutcome } from '../../collectors/index.js';
import { HOUR, UNREADABLE_OK, age, hold, lockDir, oldFile } from './support.js';

async function populated(): Promise<{ dir: string; outside: string; pids: Record<string, number> }> {
  const dir = await lockDir();
  const outside = await lockDir();
  const pids: Record<string, number> = {};
  pids['nova-compute'] = (await hold('fasteners', join(dir, 'nova-compute'))).pid;
  pids['neutron-iptables'] = (await hold('oslo', join(dir, 'neutron-iptables'))).pid;
  pids['cron.lock'] = (await hold('flock', join(dir, 'cron.lock'))).pid;
  pids['ofd.lock'] = (await hold('ofd', join(dir, 'ofd.lock'))).pid;
  pids['offsets.db'] = (await hold('offsets', join(dir, 'offsets.db'), [5])).pid;
  await oldFile(join(dir, 'opened'), 0);
  pids.opened = (await hold('open', join(dir, 'opened'))).pid;
  for (const name of ['nova-compute', 'neutron-iptables', 'cron.lock', 'ofd.lock', 'offsets.db', 'opened']) await age(join(dir, name), 5 * HOUR);
  for (const name of ['stale-1', 'stale-2', 'stale-3']) await oldFile(join(dir, name), 2 * HOUR);
  await oldFile(join(dir, 'young'), 60_000);
  // An old file outside, reached through a symbolic link inside: neither may go.
  await oldFile(join(outside, 'precious'), 10 * HOUR);
  await symlink(join(outside, 'precious'), join(dir, 'link-out'));
  return { dir, outside, pids };
}

const KEPT = ['cron.lock', 'link-out', 'neutron-iptables', 'nova-compute', 'offsets.db', 'ofd.lock', 'opened', 'young'].sort();

// Python holders start slowly on a loaded machine (oslo.concurrency's imports alone take seconds).
describe('lockfiles clean', { timeout: 60_000 }, () => {
  it('deletes exactly the stale files and keeps every held, open and young one, naming why', async () => {
    const { dir, outside, pids } = await populated();
    const outcomes: CleanOutcome[] = [];
    const report = await cleanLockFiles(dir, { ...UNREADABLE_OK, olderThanMs: HOUR, onFile: (o) => outcomes.push(o) });
    expect((await readdir(dir)).sort()).toEqual(KEPT);
    expect(existsSync(join(outside, 'precious'))).toBe(true);
    const by = new Map(outcomes.map((o) => [o.path, o]));
    expect(['stale-1', 'stale-2', 'stale-3'].map((n) => by.get(n)!.action)).toEqual(['deleted', 'deleted', 'deleted']);
    for (const name of ['nova-compute', 'neutron-iptables', 'cron.lock', 'offsets.db']) {
      expect(by.get(name)).toMatchObject({ action: 'kept', reason: 'held', pids: [pids[name]] });
    }
    expect(by.get('ofd.lock')).toMatchObject({ action: 'kept', reason: 'held', pids: [pids['ofd.lock']] });
    expect(by.get('opened')).toMatchObject({ action: 'kept', reason: 'open', pids: [pids.opened] });
    expect(by.get('young')).toMatchObject({ action: 'kept', reason: 'young' });
    expect(by.has('link-out')).toBe(false); // not a lock file: never a candidate
    expect(report).toMatchObject({ deleted: 3, kept: { held: 5, open: 1, young: 1, vanished: 0, changed: 0, reopened: 0, 'split-suspected': 0 } });
    // Nothing is left aside under a quarantine name.
    expect((await readdir(dir)).some((n) => n.startsWith('.lockscope'))).toBe(false);
  });

  it('--dry-run lists the same files and deletes none', async () => {
    const { dir } = await populated();
    const before = (await readdir(dir)).sort();
    const outcomes: CleanOutcome[] = [];
    const report = await cleanLockFiles(dir, { ...UNREADABLE_OK, olderThanMs: HOUR, dryRun: true, onFile: (o) => outcomes.push(o) });
    expect((await readdir(dir)).sort()).toEqual(before);
    expect(outcomes.filter((o) => o.action === 'would-delete').map((o) => o.path).sort()).toEqual(['stale-1', 'stale-2', 'stale-3']);
    expect(report.deleted).toBe(3);
  });

  it('removes a quarantine file a crashed clean left behind once nobody has it open, and keeps one in use', async () => {
    const dir = await lockDir();
    // pid 999999 is not running: its clean crashed after moving the files aside.
    await oldFile(join(dir, '.lockscope-quarantine.999999.fe-00-1'), 60_000);
    await oldFile(join(dir, '.lockscope-quarantine.999999.fe-00-2'), 60_000);
    const user = await hold('fasteners', join(dir, '.lockscope-quarantine.999999.fe-00-2'));
    const report = await cleanLockFiles(dir, { ...UNREADABLE_OK, olderThanMs: HOUR });
    expect(await readdir(dir)).toEqual(['.lockscope-quarantine.999999.fe-00-2']);
    expect(report).toMatchObject({ deleted: 1, kept: { held: 1 } });
    expect(user.pid).toBeGreaterThan(0);
  });

  it('refuses without an age, and with codes for a missing directory and a missing /proc', async () => {
    const dir = await lockDir();
    await expect(cleanLockFiles(dir, {} as never)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(cleanLockFiles(join(dir, 'nope'), { olderThanMs: 1 })).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(cleanLockFiles(dir, { olderThanMs: 1, procRoot: dir })).rejects.toMatchObject({ code: 'ENOTSUP' });
  });
});
