/** `lockscope dump --server URL` and `lockscope inspect`, as an operator runs them: separate processes. */

import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT_STATUS } from '../../collectors/index.js';
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

  /** The command's exit status and the code of its --json error line (stdout must be empty). */
  async function dumpFails(url: string, token: string | undefined): Promise<[number, string]> {
    const env = { ...process.env };
    delete env.LOCKSCOPE_ADMIN_TOKEN;
    delete env.LOCKSCOPE_TOKEN;
    if (token !== undefined) env.LOCKSCOPE_ADMIN_TOKEN = token;
    const failed = await run(process.execPath, [CLI, 'dump', '--server', url, '--dir', tmpdir(), '--json'], { env }).then(
      () => null,
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect(failed).not.toBeNull();
    expect(failed!.stdout).toBe('');
    return [failed!.code, (JSON.parse(failed!.stderr) as { error: { code: string } }).error.code];
  }

  it('a viewer token, or none, cannot take a dump: EPERM, exit status 12; no server there: EUNREACHABLE, 13', async () => {
    server = await startServer({ dumps: { dir: mkdtempSync(join(tmpdir(), 'ls-srv-dumps-')) } });
    expect(await dumpFails(server.url, TOKENS.viewer)).toEqual([EXIT_STATUS.EPERM, 'EPERM']);
    expect(await dumpFails(server.url, undefined)).toEqual([12, 'EPERM']);
    const gone = server.url;
    await server.close();
    expect(await dumpFails(gone, TOKENS.admin)).toEqual([13, 'EUNREACHABLE']);
  });
});
