/**
 * One server per state directory: a second `lockscope serve --state-dir D`
 * while one runs on D refuses to start (EAGAIN) and changes nothing; a lock
 * left by a server killed with SIGKILL, or naming a pid now used by another
 * process, does not keep the restart out.
 */

import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LockClient } from '../../client/index.js';
import { client, CLI, freePort, ServerProcess } from './support.js';

const servers: ServerProcess[] = [];
const clients: LockClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) await s.kill();
});

async function started(): Promise<ServerProcess> {
  const s = await ServerProcess.create();
  servers.push(s);
  await s.start();
  return s;
}

/** `lockscope serve` on `stateDir` expected to refuse: its exit code and the `fatal` line it printed. */
async function refusedServe(config: string, stateDir: string): Promise<{ code: number | null; fatal: { code: string; error: string } }> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve', '--no-demo', '--port', String(port), '--config', config, '--state-dir', stateDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(stdout).not.toContain('"listening"');
  const fatal = stderr.split('\n').filter((l) => l.includes('"fatal"')).map((l) => JSON.parse(l) as { code: string; error: string });
  expect(fatal).toHaveLength(1);
  return { code, fatal: fatal[0]! };
}

describe('one server per state directory', () => {
  it('a second server on the same directory refuses to start with EAGAIN and leaves the first one and its records alone', async () => {
    const s = await started();
    const a = await client(s, 'a');
    clients.push(a);
    const held = await a.owner('a1').lock('lin', 'r', 'EX');
    const records = readFileSync(join(s.stateDir, 'clients.json'), 'utf8');

    const second = await refusedServe(s.config, s.stateDir);
    expect(second.code).toBe(1);
    expect(second.fatal.code).toBe('EAGAIN');
    expect(second.fatal.error).toContain(`pid ${s.child!.pid}`);

    expect(readFileSync(join(s.stateDir, 'clients.json'), 'utf8')).toBe(records);
    expect(JSON.parse(readFileSync(join(s.stateDir, 'server.lock'), 'utf8'))).toMatchObject({ pid: s.child!.pid });
    await held.release();
    expect((await a.owner('a1').lock('lin', 'r', 'EX')).state).toBe('granted');
  });

  it('a lock left by a server killed with SIGKILL does not keep its restart out', async () => {
    const s = await started();
    const killedPid = s.child!.pid;
    const a = await client(s, 'a');
    clients.push(a);
    const held = await a.owner('a1').lock('lin', 'r', 'EX');
    await s.kill();
    expect(JSON.parse(readFileSync(join(s.stateDir, 'server.lock'), 'utf8'))).toMatchObject({ pid: killedPid });
    await s.start();
    expect(JSON.parse(readFileSync(join(s.stateDir, 'server.lock'), 'utf8'))).toMatchObject({ pid: s.child!.pid });
    // The restart is a real one: the client reclaims into its grace period.
    await new Promise<void>((resolve) => a.on('reclaim', () => resolve()));
    expect(held.state).toBe('granted');
  });

  it('a lock naming a live process that is not the server that wrote it (a reused pid) is stale', async () => {
    const s = await ServerProcess.create();
    servers.push(s);
    await s.start();
    await s.kill();
    // This test process is alive, but did not start when the lock says.
    writeFileSync(join(s.stateDir, 'server.lock'), JSON.stringify({ pid: process.pid, start: 1, host: (await import('node:os')).hostname() }));
    if (!existsSync(`/proc/${process.pid}/stat`)) return; // no start times to tell them apart
    await s.start();
    expect(JSON.parse(readFileSync(join(s.stateDir, 'server.lock'), 'utf8'))).toMatchObject({ pid: s.child!.pid });
  });

  it('a server stopped cleanly removes its lock', async () => {
    const s = await started();
    const lock = join(s.stateDir, 'server.lock');
    expect(existsSync(lock)).toBe(true);
    const exited = new Promise((resolve) => s.child!.once('exit', resolve));
    s.child!.kill('SIGTERM');
    expect(await exited).toBe(0);
    s.child = null;
    expect(existsSync(lock)).toBe(false);
  });
});
