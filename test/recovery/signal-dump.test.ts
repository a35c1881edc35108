/**
 * `kill -USR2 <server pid>` takes a hang-dump (the README's promise) and logs
 * where it went; it does not end the server and its clients' locks with it.
 * A real `lockscope serve` process, a real signal, a real client.
 */

import { existsSync, statSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { client, ServerProcess, until } from './support.js';

let server: ServerProcess | null = null;

afterEach(async () => {
  await server?.kill();
  server = null;
});

describe('SIGUSR2 on a running server', () => {
  it('writes a hang-dump, logs its id and path, and keeps serving: the lock held before is still held', async () => {
    server = await ServerProcess.create();
    await server.start();
    const c = await client(server, 'holder');
    const lock = await c.owner('o').lock('lin', 'kept', 'EX');
    server.child!.kill('SIGUSR2');
    const s = server;
    await until(() => s.events('signal-dump').length > 0 || s.child?.exitCode !== null);
    expect(s.child!.exitCode).toBe(null);
    const [line] = s.events('signal-dump');
    expect(s.events('signal')).toEqual([expect.objectContaining({ signal: 'SIGUSR2' })]);
    expect(typeof line!.id).toBe('string');
    expect(statSync(line!.path as string).size).toBeGreaterThan(0);
    expect(existsSync(line!.path as string)).toBe(true);
    // The session and its lock survived the signal.
    expect(lock.state).toBe('granted');
    const locks = (await s.api('/api/locks')).body as { resource: string; state: string }[];
    expect(locks.filter((l) => l.resource === 'kept').map((l) => l.state)).toEqual(['granted']);
    await c.close();
  });
});
