/** `lockscope dump --server URL` and `lockscope inspect`, as an operator runs them: separate processes. */

import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { LockServer } from '../../server/index.js';
import { startServer, TOKENS } from './support.js';

const run = promisify(execFile);
const CLI = new URL('../../dist/server/cli.js', import.meta.url).pathname;

describe('the dump and inspect commands', () => {
  let server: LockServer;
  afterEach(async () => {
    await server?.close();
  });

  it('dump --server downloads a dump of the running server; inspect reads it without the server', async () => {
    const dumps = mkdtempSync(join(tmpdir(), 'ls-srv-dumps-'));
    server = await startServer({ dumps: { dir: dumps } });
    const lm = server.manager;
    await lm.owner('holder-1').lock('lin', 'inode:7', 'EX');
    void lm.owner('waiter-2').lock('lin', 'inode:7', 'PR').catch(() => {});
    const local = mkdtempSync(join(tmpdir(), 'ls-local-'));
    const env = { ...process.env, LOCKSCOPE_ADMIN_TOKEN: TOKENS.admin };
    const dumped = await run(process.execPath, [CLI, 'dump', '--server', server.url, '--dir', local, '--json'], { env });
    const { path } = JSON.parse(dumped.stdout) as { id: string; path: string };
    expect(path.startsWith(local)).toBe(true);
    await server.close();
    const inspected = await run(process.execPath, [CLI, 'inspect', path, '--owner', 'waiter-2', '--json']);
    const answer = JSON.parse(inspected.stdout) as unknown;
    expect(JSON.stringify(answer)).toContain('holder-1');
  });

  it('a viewer token cannot take a dump (EPERM, exit status non-zero)', async () => {
    server = await startServer({ dumps: { dir: mkdtempSync(join(tmpdir(), 'ls-srv-dumps-')) } });
    const env = { ...process.env, LOCKSCOPE_ADMIN_TOKEN: TOKENS.viewer };
    const failed = await run(process.execPath, [CLI, 'dump', '--server', server.url, '--dir', tmpdir(), '--json'], { env }).then(
      () => null,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(failed).not.toBeNull();
    expect(failed!.code).not.toBe(0);
    expect(failed!.stdout + failed!.stderr).toContain('EPERM');
  });
});
