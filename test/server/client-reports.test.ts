/** A hang-dump taken through the server holds each connected client's own report, collected over its socket. */

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LockServer } from '../../server/index.js';
import { readTarGz } from '../dumps/support.js';
import { api, client, startServer, TOKENS } from './support.js';

describe('client reports in dumps', () => {
  let server: LockServer;
  afterEach(async () => {
    delete process.env.LOCKSCOPE_TEST_SECRET;
    await server?.close();
  });

  it('every connected client sends its locks and its process report, without its environment', async () => {
    process.env.LOCKSCOPE_TEST_SECRET = 'hunter2-client-side-secret';
    server = await startServer({ dumps: { dir: mkdtempSync(join(tmpdir(), 'ls-client-reports-')) } });
    const c1 = await client(server, 'web-1');
    const c2 = await client(server, 'batch-2');
    await c1.owner('job-1').lock('lin', 'inode:1', 'EX');
    await c2.owner('job-2').setlk('adv', 'file:/x', { type: 'write', start: 0, len: 10 });
    await c2.owner('job-3').lock('lin', 'inode:2', 'PR');
    const taken = await api(server, '/api/dumps', TOKENS.admin, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(taken.status).toBe(200);
    const rec = (await server.dumper!.list()).find((d) => d.id === taken.body.id)!;
    const files = await readTarGz(join(server.dumper!.dir, rec.file));
    const reports = [...files.keys()].filter((p) => /^clients\/[^/]+\/report\.json$/.test(p)).sort();
    expect(reports.map((p) => p.split('/')[1]!.replace(/-[0-9a-f]{8}$/, ''))).toEqual(['batch-2', 'web-1']);
    const byName = new Map(reports.map((p) => {
      const r = JSON.parse(files.get(p)!.toString('utf8')) as { client: string; locks: Array<{ owner: string; resource: string; mode: string }>; process: { header: object } };
      return [r.client, r];
    }));
    expect(byName.get('web-1')!.locks.map((l) => [l.owner, l.resource, l.mode])).toEqual([['job-1', 'inode:1', 'EX']]);
    expect(byName.get('batch-2')!.locks.map((l) => [l.owner, l.resource, l.mode])).toEqual([['job-3', 'inode:2', 'PR']]);
    expect(byName.get('web-1')!.process.header).not.toHaveProperty('networkInterfaces');
    for (const [path, data] of files) expect(data.includes('hunter2-client-side-secret'), path).toBe(false);
    await c1.close();
    await c2.close();
  });

  it('a client holding more locks than one message can carry sends the ones that fit, the total, and keeps its connection', async () => {
    server = await startServer({ dumps: { dir: mkdtempSync(join(tmpdir(), 'ls-client-reports-')) } });
    const c = await client(server, 'big');
    const o = c.owner('many');
    await Promise.all(Array.from({ length: 2000 }, (_, i) => o.lock('lin', `inode:${i}`, 'EX')));
    const taken = await api(server, '/api/dumps', TOKENS.admin, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    expect(taken.status).toBe(200);
    const rec = (await server.dumper!.list()).find((d) => d.id === taken.body.id)!;
    const files = await readTarGz(join(server.dumper!.dir, rec.file));
    const path = [...files.keys()].find((p) => /^clients\/big-[^/]+\/report\.json$/.test(p))!;
    const report = JSON.parse(files.get(path)!.toString('utf8')) as { locks: unknown[]; locksTotal: number; error?: string };
    expect(report.error).toBeUndefined(); // it answered in time (a report over 64 KiB never arrived: the server dropped it)
    expect(report.locksTotal).toBe(2000);
    expect(report.locks.length).toBeGreaterThan(0);
    expect(report.locks.length).toBeLessThan(2000);
    // The connection stayed: the client's locks are still its own and it takes another.
    expect((await o.lock('lin', 'inode:after', 'EX')).state).toBe('granted');
    await c.close();
  });
});
