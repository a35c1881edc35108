/**
 * Issue 13, item 13: a dump id names a file, so it is checked on both
 * sides. `lockscope dump --server` refuses a server's id that is not a dump
 * id (EPROTO, exit status 11) and writes nothing; the server refuses such an
 * id in a request (EINVAL) and never serves a file its index points outside
 * the dump directory.
 */

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT_STATUS } from '../../collectors/index.js';
import type { LockServer } from '../../server/index.js';
import { api, startServer, TOKENS } from './support.js';

const run = promisify(execFile);
const CLI = new URL('../../dist/server/cli.js', import.meta.url).pathname;

/** A server that takes a "dump" with the given id and serves bytes for any download, as a hostile or broken one would. */
async function hostileServer(id: string): Promise<{ url: string; downloads: string[]; close: () => Promise<void> }> {
  const downloads: string[] = [];
  const http: Server = createHttpServer((req, res) => {
    if (req.method === 'POST') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id }));
      return;
    }
    downloads.push(req.url ?? '');
    res.setHeader('content-type', 'application/gzip');
    res.end(Buffer.from('planted by the server'));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, downloads, close: () => new Promise((resolve) => http.close(() => resolve())) };
}

describe('dump ids', () => {
  let server: LockServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  for (const id of ['../../x', '../escaped', 'a/b', '.hidden', '', 'x'.repeat(201)]) {
    it(`dump --server refuses the server's id ${JSON.stringify(id.slice(0, 12))} (EPROTO) and writes nothing`, async () => {
      const hostile = await hostileServer(id);
      const base = mkdtempSync(join(tmpdir(), 'ls-ids-'));
      const dir = join(base, 'a', 'b', 'dumps');
      try {
        const failed = await run(process.execPath, [CLI, 'dump', '--server', hostile.url, '--dir', dir, '--json'], { env: { ...process.env, LOCKSCOPE_ADMIN_TOKEN: TOKENS.admin } }).then(
          () => null,
          (e: { code: number; stderr: string }) => e,
        );
        expect(failed).not.toBeNull();
        expect(failed!.code).toBe(EXIT_STATUS.EPROTO);
        expect((JSON.parse(failed!.stderr) as { error: { code: string } }).error.code).toBe('EPROTO');
        expect(hostile.downloads).toEqual([]);
        expect(existsSync(join(dir, `${id}.tar.gz`))).toBe(false);
        expect(readdirSync(base)).toEqual([]);
      } finally {
        await hostile.close();
      }
    });
  }

  it('the server refuses an id that is not a dump id (EINVAL) and never serves a file an edited index points outside the directory', async () => {
    const base = mkdtempSync(join(tmpdir(), 'ls-ids-srv-'));
    const dir = join(base, 'dumps');
    writeFileSync(join(base, 'secret.txt'), 'outside the dump directory');
    mkdirSync(dir);
    const record = (id: string, file: string) => ({ id, file, trigger: 'manual', node: 'n', time: 1, bytes: 26, hang: null, classification: null });
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ format: 'lockscope-dump-index', formatVersion: 1, dumps: [record('stolen', '../secret.txt'), record('..', '../secret.txt')] }));
    server = await startServer({ dumps: { dir } });
    const list = await api(server, '/api/dumps');
    const asked = await api(server, '/api/dumps?limit=5');
    expect(asked.status).toBe(400);
    expect((asked.body as { error: { code: string } }).error.code).toBe('EINVAL');
    expect(list.status).toBe(200);
    expect(list.body).toEqual([]);
    const stolen = await api(server, '/api/dumps/stolen');
    expect(stolen.status).toBe(404);
    expect(stolen.body.error.code).toBe('ENOENT');
    const hidden = await api(server, '/api/dumps/.hidden');
    expect(hidden.status).toBe(400);
    expect(hidden.body.error.code).toBe('EINVAL');
  });
});
