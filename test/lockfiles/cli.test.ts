/**
 * `lockscope lockfiles` as an operator runs it: the built CLI
 * (dist/server/cli.js, `npm run build` first) in its own process, JSON lines
 * and the table, exit statuses, and a run as an unprivileged user, who cannot
 * see root's open files and so must not clean.
 */

import { spawn } from 'node:child_process';
import { chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HOUR, ROOT, age, hold, lockDir, oldFile } from './support.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'server', 'cli.js');

/** Run the CLI; `unprivileged`: as nobody when we are root, as ourselves otherwise (then root's processes are unreadable already). */
function lockscope(args: string[], unprivileged = false): Promise<{ status: number | null; out: string; err: string }> {
  const [cmd, argv] = unprivileged && ROOT ? ['/usr/sbin/runuser', ['-u', 'nobody', '--', process.execPath, CLI, ...args]] : [process.execPath, [CLI, ...args]];
  return new Promise((resolve) => {
    const child = spawn(cmd as string, argv as string[], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (status) => resolve({ status, out, err }));
  });
}

// Python holders start slowly on a loaded machine (oslo.concurrency's imports alone take seconds).
describe('lockscope lockfiles', { timeout: 60_000 }, () => {
  it('scan --json: one line per file with its holder, then the summary', async () => {
    const dir = await lockDir();
    const h = await hold('flock', join(dir, 'cron.lock'));
    await age(join(dir, 'cron.lock'), 2 * HOUR);
    await oldFile(join(dir, 'old'), 2 * HOUR);
    const r = await lockscope(['lockfiles', 'scan', dir, '--older-than', '1h', '--json']);
    expect(r.status).toBe(0);
    const lines = r.out.trim().split('\n').map((l) => JSON.parse(l));
    const files = lines.filter((l) => l.type === 'file').sort((a, b) => a.path.localeCompare(b.path));
    expect(files.map((f) => [f.path, f.verdict])).toEqual([['cron.lock', 'held'], ['old', 'stale']]);
    expect(files[0].locks[0]).toMatchObject({ mechanism: 'FLOCK', holders: [{ pid: h.pid }] });
    expect(lines.at(-1)).toMatchObject({ type: 'summary', files: 2, held: 1, stale: 1, staleAfterMs: HOUR });
  });

  it('scan prints a table and a summary line; clean deletes the stale file and reports it', async () => {
    const dir = await lockDir();
    const h = await hold('fasteners', join(dir, 'held'));
    await age(join(dir, 'held'), 2 * HOUR);
    await oldFile(join(dir, 'old'), 2 * HOUR);
    const table = await lockscope(['lockfiles', 'scan', dir]);
    expect(table.status).toBe(0);
    expect(table.out.split('\n').find((l) => l.endsWith('\theld'))).toMatch(new RegExp(`^held\\t.*POSIX WRITE 0-EOF\\theld by ${h.pid} `));
    expect(table.out).toContain(`2 files in ${dir}: 1 held, 0 open, 1 stale`);
    const clean = await lockscope(['lockfiles', 'clean', dir, '--older-than', '1h', '--json', ...(ROOT ? [] : ['--allow-unreadable'])]);
    expect(clean.status).toBe(0);
    const lines = clean.out.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.type === 'file').map((l) => [l.path, l.action, l.reason ?? null]).sort()).toEqual([['held', 'kept', 'held'], ['old', 'deleted', null]]);
    expect(existsSync(join(dir, 'old'))).toBe(false);
    expect(existsSync(join(dir, 'held'))).toBe(true);
  });

  it('exit statuses with stable codes: help 0, bad arguments 2, no directory 3', async () => {
    const dir = await lockDir();
    const help = await lockscope(['lockfiles', '--help']);
    expect(help.status).toBe(0);
    expect(help.out.startsWith('usage: lockscope lockfiles scan DIR')).toBe(true);
    const bogus = await lockscope(['lockfiles', 'scan', dir, '--bogus']);
    expect(bogus.status).toBe(2);
    expect(bogus.err).toContain('usage: lockscope lockfiles');
    const noAge = await lockscope(['lockfiles', 'clean', dir, '--json']);
    expect(noAge.status).toBe(2);
    expect(JSON.parse(noAge.err).error.code).toBe('EINVAL');
    expect((await lockscope(['lockfiles', 'scan', dir, '--older-than', 'soon'])).status).toBe(2);
    const missing = await lockscope(['lockfiles', 'scan', join(dir, 'nope'), '--json']);
    expect(missing.status).toBe(3);
    expect(JSON.parse(missing.err).error.code).toBe('ENOENT');
  });

  it('as a user who cannot read every process\'s open files, scan says so and clean refuses (EACCES, 10)', async () => {
    const dir = await lockDir();
    await chmod(dir, 0o777);
    await oldFile(join(dir, 'old'), 2 * HOUR);
    const scan = await lockscope(['lockfiles', 'scan', dir, '--json'], true);
    expect(scan.status).toBe(0);
    expect(JSON.parse(scan.out.trim().split('\n').at(-1)!).unreadableProcesses).toBeGreaterThan(0);
    const clean = await lockscope(['lockfiles', 'clean', dir, '--older-than', '1h', '--json'], true);
    expect(clean.status).toBe(10);
    expect(JSON.parse(clean.err).error.code).toBe('EACCES');
    expect(existsSync(join(dir, 'old'))).toBe(true);
  });
});
