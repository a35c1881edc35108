/**
 * A server configured with an application lock directory: GET /api/lockfiles
 * names the real Python holder of each file, every hang-dump carries
 * os/lockfiles.json, and the dashboard's lock-file panel shows which
 * process holds which file (real Chromium).
 */

import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type LockServer, type ServerOptions } from '../../server/index.js';
import { readTarGz } from '../dumps/support.js';
import { TOKEN_SPECS, TOKENS } from '../spec/remote.js';
import { api } from '../server/support.js';
import { ensurePageBuilt, launch, openDashboard } from '../browser/support.js';
import { HOUR, age, hold, lockDir, oldFile } from './support.js';

const servers: LockServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(options: ServerOptions): Promise<LockServer> {
  const s = await createServer({ port: 0, node: 'lf', domains: [{ name: 'lin', kind: 'dlm' }], tokens: TOKEN_SPECS, ...options });
  servers.push(s);
  return s;
}

async function directory(): Promise<{ dir: string; pid: number }> {
  const dir = await lockDir();
  const h = await hold('fasteners', join(dir, 'nova-compute'));
  await age(join(dir, 'nova-compute'), 2 * HOUR);
  await oldFile(join(dir, 'gone-service'), 3 * HOUR);
  return { dir, pid: h.pid };
}

// Python holders start slowly on a loaded machine (oslo.concurrency's imports alone take seconds).
describe('lock files on the server', { timeout: 60_000 }, () => {
  it('GET /api/lockfiles names the holder (viewer role), and says when no directory is configured or it is missing', async () => {
    const { dir, pid } = await directory();
    const s = await start({ lockFiles: { dir, staleAfterMs: HOUR } });
    const first = await api(s, '/api/lockfiles');
    expect(first.status).toBe(200);
    expect(first.body.summary).toMatchObject({ files: 2, held: 1, stale: 1 });
    const held = first.body.files.find((f: { path: string }) => f.path === 'nova-compute');
    expect(held.verdict).toBe('held');
    expect(held.locks[0].holders.map((h: { pid: number }) => h.pid)).toEqual([pid]);
    expect(typeof held.heldSeenSince).toBe('number');
    // The first-seen time of a hold stays put from one scan to the next.
    expect((await api(s, '/api/lockfiles')).body.files.find((f: { path: string }) => f.path === 'nova-compute').heldSeenSince).toBe(held.heldSeenSince);
    expect(first.body.files.find((f: { path: string }) => f.path === 'gone-service')).toMatchObject({ verdict: 'stale', heldSeenSince: null });
    expect((await api(s, '/api/lockfiles', null)).body.error.code).toBe('EPERM');

    const none = await start({});
    expect((await api(none, '/api/lockfiles')).body).toEqual({ configured: false });
    const missing = await start({ lockFiles: { dir: join(dir, 'no-such-dir') } });
    expect((await api(missing, '/api/lockfiles')).body).toMatchObject({ configured: true, error: { code: 'ENOENT' } });
  });

  it('refuses a bad lockFiles option at start (EINVAL)', async () => {
    await expect(start({ lockFiles: { dir: '' } })).rejects.toMatchObject({ code: 'EINVAL' });
  });

  it('every hang-dump carries os/lockfiles.json with the holders', async () => {
    const { dir, pid } = await directory();
    const s = await start({ lockFiles: { dir, staleAfterMs: HOUR }, dumps: { dir: await lockDir() } });
    const { id } = (await api(s, '/api/dumps', TOKENS.admin, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).body;
    const record = (await s.dumper!.list()).find((r) => r.id === id)!;
    const files = await readTarGz(join(s.dumper!.dir, record.file));
    const view = JSON.parse(files.get('os/lockfiles.json')!.toString('utf8'));
    expect(view.summary).toMatchObject({ files: 2, held: 1, stale: 1 });
    expect(view.files.map((f: { path: string; verdict: string }) => [f.path, f.verdict])).toEqual([['nova-compute', 'held'], ['gone-service', 'stale']]);
    expect(view.files[0].locks[0]).toMatchObject({ mechanism: 'POSIX', access: 'WRITE', start: 0, end: null, holders: [{ pid }] });
  });

  it('the dashboard shows which process holds which lock file', async () => {
    ensurePageBuilt();
    const { dir, pid } = await directory();
    const s = await start({ lockFiles: { dir, staleAfterMs: HOUR } });
    const b = await launch();
    const errors: string[] = [];
    try {
      const page = await openDashboard(b, s.url, TOKENS.viewer, errors);
      const row = page.locator('#lockfiles-panel tr.lockfile.held');
      await row.waitFor({ timeout: 10_000 });
      expect(await row.getAttribute('data-path')).toBe('nova-compute');
      expect(await row.locator('td').nth(2).textContent()).toContain(`${pid} `);
      expect(await page.locator('#lockfiles-panel tr.lockfile.stale').getAttribute('data-path')).toBe('gone-service');
      expect(errors).toEqual([]);
    } finally {
      await b.close();
    }
  }, 60_000);
});
