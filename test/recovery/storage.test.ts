/**
 * A state directory that cannot be written (state.ts S1–S3): the server stays
 * up, keeps serving the clients it has recorded, refuses a new client's lock
 * (EIO), says so once in its log and in /healthz and /metrics, and recovers
 * by itself when the disk takes writes again. The disk is real: a small tmpfs
 * filled to the last byte (ENOSPC) and a read-only bind mount (EROFS). Both
 * need mount(2) (root, or a container that allows it); without it these tests
 * are skipped and say why. The stray-file test needs nothing.
 */

import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LockClient } from '../../client/index.js';
import { LockError } from '../../src/index.js';
import { startServer } from '../server/support.js';
import { CLI, client, freePort, ServerProcess, until } from './support.js';

/** Whether this machine lets the test mount a tmpfs, and if not, why. */
function mountCheck(): { ok: boolean; reason: string } {
  const probe = mkdtempSync(join(tmpdir(), 'lockscope-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return { ok: true, reason: '' };
  } catch (err) {
    return { ok: false, reason: `mount(2) is not allowed here (${String((err as { stderr?: Buffer }).stderr ?? err).trim().split('\n')[0]})` };
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

const mount = mountCheck();
const mounted: string[] = [];
const servers: ServerProcess[] = [];
const clients: LockClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  for (const s of servers.splice(0)) await s.kill();
  for (const m of mounted.splice(0).reverse()) execFileSync('umount', ['-l', m], { stdio: 'pipe' });
});

function tmpfs(size: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lockscope-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounted.push(dir);
  return dir;
}

/** Write to `path` until the file system has no byte left. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
  } finally {
    closeSync(fd);
  }
  // What is left is under a page: a last small write takes it.
  try {
    const fd2 = openSync(`${path}.tail`, 'w');
    try {
      for (;;) writeSync(fd2, Buffer.alloc(1, 1));
    } finally {
      closeSync(fd2);
    }
  } catch {
    // ENOSPC: full.
  }
}

async function started(dir: string): Promise<ServerProcess> {
  const s = new ServerProcess(await freePort(), dir, { graceMs: 1000 });
  servers.push(s);
  await s.start();
  return s;
}

async function connected(s: ServerProcess, name: string): Promise<LockClient> {
  const c = await client(s, name);
  clients.push(c);
  return c;
}

async function storage(s: ServerProcess): Promise<{ writable: boolean; code: string | null }> {
  return (await s.api('/healthz')).body.storage;
}

async function refusal(p: Promise<unknown>): Promise<LockError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(LockError);
  return err as LockError;
}

function leftovers(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith('.') || f.includes('.stale.'));
}

describe.skipIf(!mount.ok)(`a state directory that cannot be written${mount.ok ? '' : ` (skipped: ${mount.reason})`}`, () => {
  it('full (ENOSPC): the server survives a session end, refuses a new client EIO, serves recorded ones, reports it once, recovers when space returns', async () => {
    const disk = tmpfs('1m');
    const s = await started(join(disk, 'state'));
    const leaving = await connected(s, 'leaving');
    await leaving.owner('o').lock('lin', 'a', 'EX');
    const keeper = await connected(s, 'keeper');
    const before = await keeper.owner('o').lock('lin', 'k1', 'EX');

    fill(join(disk, 'filler'));
    // An ordinary session end: its removal from the record is written a little later, onto a full disk.
    await leaving.close();
    await until(async () => (await storage(s)).writable === false, 15_000);
    expect((await storage(s)).code).toBe('ENOSPC');

    const newcomer = await connected(s, 'newcomer');
    expect((await refusal(newcomer.owner('o').lock('lin', 'n', 'EX'))).code).toBe('EIO');
    // A recorded client needs no write: it is served, from tokens reserved ahead.
    const after = await keeper.owner('o').lock('lin', 'k2', 'EX');
    expect(after.token > before.token).toBe(true);
    const metrics = (await fetch(`${s.url}/metrics`, { headers: { authorization: 'Bearer admin-token-for-recovery-tests' } }).then((r) => r.text()));
    expect(metrics).toMatch(/^lockscope_state_writable 0$/m);
    expect(s.events('state-unwritable')).toHaveLength(1);
    expect(s.events('state-unwritable')[0]!.code).toBe('ENOSPC');

    rmSync(join(disk, 'filler'));
    rmSync(join(disk, 'filler.tail'), { force: true });
    await until(async () => (await storage(s)).writable === true, 15_000);
    expect(s.events('state-writable')).toHaveLength(1);
    await newcomer.owner('o').lock('lin', 'n', 'EX');
    // The session that ended while the disk was full is gone from the record now; the two connected are in it.
    expect(s.recordedClients()).toHaveLength(2);
    expect(s.child!.exitCode).toBe(null);
    expect(leftovers(join(disk, 'state'))).toEqual([]);
  }, 60_000);

  it('read-only (EROFS): the same, and writable again once remounted read-write', async () => {
    const disk = tmpfs('1m');
    const dir = join(disk, 'state');
    const s = await started(dir);
    const leaving = await connected(s, 'leaving');
    await leaving.owner('o').lock('lin', 'a', 'EX');
    execFileSync('mount', ['--bind', dir, dir]);
    mounted.push(dir);
    execFileSync('mount', ['-o', 'remount,bind,ro', dir]);
    await leaving.close();
    await until(async () => (await storage(s)).writable === false, 15_000);
    expect((await storage(s)).code).toBe('EROFS');
    const newcomer = await connected(s, 'newcomer');
    expect((await refusal(newcomer.owner('o').lock('lin', 'n', 'EX'))).code).toBe('EIO');

    execFileSync('mount', ['-o', 'remount,bind,rw', dir]);
    await until(async () => (await storage(s)).writable === true, 15_000);
    await newcomer.owner('o').lock('lin', 'n', 'EX');
    expect(s.child!.exitCode).toBe(null);
  }, 60_000);

  it('a start on a full disk fails with EIO and leaves no file behind; with space back it starts', async () => {
    const disk = tmpfs('256k');
    const dir = join(disk, 'state');
    mkdirSync(dir);
    fill(join(disk, 'filler'));
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'serve', '--no-demo', '--port', String(port), '--state-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(JSON.parse(stderr.trim().split('\n').at(-1)!)).toMatchObject({ event: 'fatal', code: 'EIO' });
    expect(readdirSync(dir)).toEqual([]);

    rmSync(join(disk, 'filler'));
    rmSync(join(disk, 'filler.tail'), { force: true });
    const s = await started(dir);
    expect(await storage(s)).toMatchObject({ writable: true });
  }, 60_000);
});

describe('files left by a server that died', () => {
  it("a start removes dead processes' lock files and the temporary files of interrupted writes", async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lockscope-strays-')), 'state');
    mkdirSync(dir);
    // A pid that existed and is gone now.
    const dead = spawn(process.execPath, ['-e', '0']);
    const pid = dead.pid!;
    await new Promise((resolve) => dead.once('exit', resolve));
    const strays = [`.server.lock.${pid}`, `server.lock.stale.${pid}`, '.clients.json.tmp', '.tokens.json.tmp'];
    for (const f of strays) writeFileSync(join(dir, f), '');
    // A live process's lock file is its own: it may be taking the lock right now.
    writeFileSync(join(dir, `.server.lock.${process.ppid}`), '');
    const server = await startServer({ stateDir: dir });
    try {
      for (const f of strays) expect(existsSync(join(dir, f))).toBe(false);
      expect(existsSync(join(dir, `.server.lock.${process.ppid}`))).toBe(true);
    } finally {
      await server.close();
    }
  });
});
