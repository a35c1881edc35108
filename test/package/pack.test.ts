/**
 * The package as an npm consumer gets it: `npm pack` on a copy of the
 * repository without `dist` (as a fresh clone is after `npm ci`) builds
 * first and packs the compiled code and the dashboard; the tarball, put in
 * another project's node_modules, serves every export (`lockscope`,
 * `lockscope/client`, `lockscope/server`, `lockscope/dumps`) to Node and to
 * TypeScript, runs the `lockscope` binary, and serves the dashboard page.
 *
 * The consumer reaches the package's dependencies through the copy's
 * node_modules (this repository's, linked), so nothing is downloaded: what
 * is checked is what the tarball holds and what its exports name.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { extract, list } from 'tar';
import { afterAll, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const work = mkdtempSync(join(tmpdir(), 'lockscope-pack-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The repository's files as a clone has them (tracked, and new ones not ignored): no dist, no node_modules. */
function copyRepository(to: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0').filter((f) => f !== '' && !f.startsWith('dist/'));
  for (const f of files) {
    mkdirSync(dirname(join(to, f)), { recursive: true });
    // A file deleted but not yet staged is listed and absent: a clone would not have it either.
    try {
      cpSync(join(ROOT, f), join(to, f));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(to, 'node_modules'));
}

const CONSUMER_JS = `
import { LockManager } from 'lockscope';
import { connect } from 'lockscope/client';
import { createServer } from 'lockscope/server';
import { readDump, HangDumper } from 'lockscope/dumps';
const server = await createServer({ port: 0, domains: [{ name: 'lin', kind: 'dlm' }], log: null });
const client = await connect(server.url, { name: 'consumer' });
const lock = await client.owner('job').lock('lin', 'r', 'EX');
const page = await fetch(server.url + '/');
const local = await new LockManager({ domains: [{ name: 'x', kind: 'posix' }] }).owner('o').setlk('x', 'f', { type: 'write', start: 0, len: 1 });
console.log(JSON.stringify({ token: String(lock.token), page: page.status, html: (await page.text()).includes('<html'), local: String(local.token), dumps: [typeof readDump, typeof HangDumper] }));
await client.close();
await server.close();
`;

const CONSUMER_TS = `
import { LockManager, type DlmMode } from 'lockscope';
import { connect, type LockClient } from 'lockscope/client';
import { createServer, type LockServer } from 'lockscope/server';
import { readDump, type DumpRecord } from 'lockscope/dumps';
const mode: DlmMode = 'EX';
export const used: [typeof LockManager, typeof connect, LockClient | null, typeof createServer, LockServer | null, typeof readDump, DumpRecord | null, DlmMode] =
  [LockManager, connect, null, createServer, null, readDump, null, mode];
`;

it('npm pack on a clone builds, packs dist with the dashboard, and the tarball serves every export, its types and the binary', async () => {
  const repo = join(work, 'repo');
  copyRepository(repo);
  const out = join(work, 'out');
  mkdirSync(out);
  const packed = spawnSync('npm', ['pack', '--pack-destination', out], { cwd: repo, encoding: 'utf8' });
  expect(packed.status, packed.stderr).toBe(0);
  const [tarball] = readdirSync(out);
  const files: string[] = [];
  await list({ file: join(out, tarball!), onReadEntry: (e) => void files.push(e.path) });
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/client/index.js', 'dist/server/index.js', 'dist/server/cli.js', 'dist/collectors/index.js', 'dist/web/index.html']) {
    expect(files).toContain(`package/${f}`);
  }
  // No sources or tests: what is published is what `files` names.
  expect(files.filter((f) => !f.startsWith('package/dist/') && !/^package\/[^/]+$/.test(f))).toEqual([]);

  // The consumer lives in the copy, so the package's own imports find their dependencies in the linked node_modules.
  const consumer = join(repo, 'consumer');
  const installed = join(consumer, 'node_modules', 'lockscope');
  mkdirSync(installed, { recursive: true });
  await extract({ file: join(out, tarball!), cwd: installed, strip: 1 });
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  writeFileSync(join(consumer, 'main.mjs'), CONSUMER_JS);
  const ran = spawnSync(process.execPath, ['main.mjs'], { cwd: consumer, encoding: 'utf8', timeout: 20_000 });
  expect(ran.status, ran.stderr).toBe(0);
  expect(JSON.parse(ran.stdout)).toEqual({ token: '1', page: 200, html: true, local: '1', dumps: ['function', 'function'] });

  writeFileSync(join(consumer, 'use.ts'), CONSUMER_TS);
  writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
    files: ['use.ts'],
  }));
  const tsc = spawnSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: consumer, encoding: 'utf8' });
  expect(tsc.status, tsc.stdout).toBe(0);

  const help = spawnSync(process.execPath, [join(installed, 'dist', 'server', 'cli.js'), '--help'], { encoding: 'utf8' });
  expect(help.status).toBe(0);
  expect(help.stdout).toContain('usage: lockscope serve');
}, 180_000);
