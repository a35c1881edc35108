/**
 * Archives of scripted scenarios, opened with the `tar` package: a hang
 * behind a long holder, a chain of three, a deadlock, a cycle left in the
 * graph; the exact files, the manifest's hashes, what the summary says, and
 * that no secret from the environment gets into any file.
 */

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FakeClock, LockManager, type Hang, type Snapshot } from '../../src/index.js';
import { HangDumper, type Manifest } from '../../collectors/index.js';
import { DOMAINS, flush, here, json, next, readTarGz, setup, tempDir, text } from './support.js';

const BUILTIN_FILES = [
  'summary.txt', 'locks/lin.json', 'locks/adv.json', 'waitfor.json', 'waitfor.dot', 'stacks.txt',
  'nodes/n1/report.json', 'nodes/n1/eventloop.json', 'os/locks.txt', 'manifest.json',
];

describe('a hang behind a long holder', () => {
  it('writes every file, in order, each listed in the manifest with its size and sha256', async () => {
    const { clock, lm, dumper } = await setup();
    await lm.owner('job-4', { meta: { pid: 4 } }).lock('lin', 'inode:12', 'EX');
    void lm.owner('job-17').lock('lin', 'inode:12', 'EX').catch(() => {});
    const written = next(dumper, 'dump-written');
    clock.advance(1000);
    const ev = await written;
    const files = await readTarGz(ev.path);
    expect([...files.keys()]).toEqual(BUILTIN_FILES);
    const m = json<Manifest>(files, 'manifest.json');
    expect(m).toMatchObject({ format: 'lockscope-hang-dump', formatVersion: 1, id: ev.id, trigger: 'soft-timeout', node: 'n1', time: lm.toWall(1000), classification: 'pending', errors: [] });
    expect(m.hang).toMatchObject({ owner: 'job-17', domain: 'lin', resource: 'inode:12', wanted: 'EX' });
    expect(m.files.map((f) => f.path)).toEqual(BUILTIN_FILES.slice(0, -1));
    for (const f of m.files) {
      const data = files.get(f.path)!;
      expect([f.path, data.length, createHash('sha256').update(data).digest('hex')]).toEqual([f.path, f.size, f.sha256]);
    }
  });

  it('the summary names the root blocker, the waiter and both request sites in the caller\'s code', async () => {
    const { clock, lm, dumper } = await setup();
    const holdSite = here(); await lm.owner('job-4').lock('lin', 'inode:12', 'EX');
    clock.advance(29_000); // a long holder: 29 s before anyone waits
    const waitSite = here(); void lm.owner('job-17').lock('lin', 'inode:12', 'EX').catch(() => {});
    clock.advance(500);
    const lateSite = here(); void lm.owner('job-20').lock('lin', 'inode:12', 'PR').catch(() => {});
    const written = next(dumper, 'dump-written');
    clock.advance(500);
    const summary = text(await readTarGz((await written).path), 'summary.txt');
    const roots = summary.slice(summary.indexOf('Root blockers'), summary.indexOf('Who waits for whom'));
    expect(roots).toContain('* job-4 blocks 1 request directly and 2 owners in all.');
    expect(roots).toContain(`holds EX on lin:inode:12 since 00:00:00 (for 30 s), requested at test/dumps/${holdSite}`);
    expect(summary).toContain(`1. owner job-17 has waited 1.0 s for EX on lin:inode:12, blocked by job-4, which holds EX on it since 00:00:00, requested at test/dumps/${holdSite}; this request was made at test/dumps/${waitSite}.`);
    expect(summary).toContain('2. owner job-20 has waited 500 ms for PR on lin:inode:12, blocked by job-17, which is queued ahead of it for EX since 00:00:29');
    expect(summary).toContain(`requested at test/dumps/${lateSite}`);
  });

  it('locks/<domain>.json holds the domain\'s lock state and stacks.txt every request site, by owner', async () => {
    const { clock, lm, dumper } = await setup();
    const site = here(); await lm.owner('job-4').lock('lin', 'inode:12', 'EX');
    await lm.owner('p1').setlk('adv', 'file:/a', { type: 'write', start: 0, len: 10 });
    void lm.owner('job-17').lock('lin', 'inode:12', 'PR').catch(() => {});
    const written = next(dumper, 'dump-written');
    clock.advance(1000);
    const files = await readTarGz((await written).path);
    const snap: Snapshot = lm.snapshot();
    const lin = json<{ name: string; resources: Snapshot['domains'][number]['resources'] }>(files, 'locks/lin.json');
    expect(lin.name).toBe('lin');
    expect(lin.resources).toEqual(snap.domains[0]!.resources);
    expect(json<{ resources: unknown[] }>(files, 'locks/adv.json').resources).toEqual(snap.domains[1]!.resources);
    const stacks = text(files, 'stacks.txt');
    expect(stacks).toMatch(/== owner job-4 \(id \d+\)\n-- holds EX on lin:inode:12 since 00:00:00 \(lock \d+\)\n {5}at .*test\/dumps\/scenarios\.test\.ts:\d+/);
    expect(stacks).toContain(`test/dumps/${site}`);
    expect(stacks).toMatch(/== owner job-17 \(id \d+\)\n-- waits for PR on lin:inode:12 since 00:00:00/);
  });
});

describe('a chain of three', () => {
  it('the tree goes root blocker → middle → last waiter, and waitfor.json has both edges', async () => {
    const { clock, lm, dumper } = await setup();
    const root = lm.owner('job-4');
    const mid = lm.owner('job-9');
    await root.lock('lin', 'inode:12', 'EX');
    await mid.lock('lin', 'inode:13', 'EX');
    void mid.lock('lin', 'inode:12', 'PR').catch(() => {});
    void lm.owner('job-17').lock('lin', 'inode:13', 'EX').catch(() => {});
    const written = next(dumper, 'dump-written');
    clock.advance(1000);
    const files = await readTarGz((await written).path);
    const summary = text(files, 'summary.txt');
    const tree = summary.slice(summary.indexOf('Who waits for whom'), summary.indexOf('Longest waits')).split('\n').slice(2, 5);
    expect(tree.map((l) => l.replace(/, requested at .*/, ''))).toEqual([
      '  job-4 (root blocker)',
      '    job-9 waits 1.0 s for PR on lin:inode:12',
      '      job-17 waits 1.0 s for EX on lin:inode:13',
    ]);
    expect(summary).toContain('* job-4 blocks 1 request directly and 2 owners in all.');
    const graph = json<{ edges: Array<{ fromName: string; toName: string; kind: string }> }>(files, 'waitfor.json');
    expect(graph.edges.map((e) => [e.fromName, e.toName, e.kind]).sort()).toEqual([['job-17', 'job-9', 'hard'], ['job-9', 'job-4', 'hard']]);
    const dot = text(files, 'waitfor.dot');
    expect(dot).toMatch(/o\d+ \[label="job-4", shape=box, style=bold\]/);
    expect(dot.match(/ -> /g)).toHaveLength(2);
  });
});

describe('deadlocks and cycles', () => {
  it('onDeadlock: a broken deadlock triggers a dump with the record and the whole cycle in the summary', async () => {
    const { lm, dumper } = await setup({ onDeadlock: true });
    const a = lm.owner('a');
    const b = lm.owner('b');
    await a.lock('lin', 'x', 'EX');
    await b.lock('lin', 'y', 'EX');
    const aSite = here(); void a.lock('lin', 'y', 'EX').catch(() => {});
    const written = next(dumper, 'dump-written');
    const bWait = b.lock('lin', 'x', 'EX');
    expect(await bWait.catch((e: { code: string }) => e.code)).toBe('EDEADLK');
    const ev = await written;
    expect(ev.trigger).toBe('deadlock');
    const files = await readTarGz(ev.path);
    const m = json<Manifest>(files, 'manifest.json');
    expect(m.deadlock).toMatchObject({ seq: 1, kind: 'cycle', victim: 'b' });
    expect(m.deadlock!.cycle.map((c) => c.owner).sort()).toEqual(['a', 'b']);
    const summary = text(files, 'summary.txt');
    expect(summary).toContain('Triggered by deadlock #1');
    expect(summary).toContain(`a wants EX on lin:y, requested at test/dumps/${aSite}, blocked by b`);
    expect(json<{ deadlocks: unknown[] }>(files, 'waitfor.json').deadlocks).toHaveLength(1);
  });

  it('a cycle left in the graph (detection off) is drawn in red and listed in the summary', async () => {
    const clock = new FakeClock();
    const lm = new LockManager({ node: 'n1', clock, domains: DOMAINS, deadlock: { detect: 'off' } });
    const dumper = new HangDumper(lm, { dir: await tempDir(), exclude: ['node-report', 'os-locks'] });
    const a = lm.owner('a');
    const b = lm.owner('b');
    await a.lock('lin', 'x', 'EX');
    await b.lock('lin', 'y', 'EX');
    void a.lock('lin', 'y', 'EX').catch(() => {});
    void b.lock('lin', 'x', 'EX').catch(() => {});
    await flush();
    const files = await readTarGz((await dumper.dump()).path);
    const dot = text(files, 'waitfor.dot');
    expect(dot.split('\n').filter((l) => l.includes(' -> ') && l.includes('color=red'))).toHaveLength(2);
    const summary = text(files, 'summary.txt');
    expect(summary).toContain('None: every blocker waits too (see Cycles).');
    expect(summary).toMatch(/\* cycle through (a -> b -> a|b -> a -> b):/);
    await dumper.close();
    lm.close();
  });
});

describe('secrets', () => {
  it('a secret in the environment is in no file of the archive, and the environment and network interfaces are gone', async () => {
    const secret = `hunter2-${Math.random().toString(36).slice(2)}`;
    process.env.SECRET_TOKEN = secret;
    process.env.DB_PASSWORD = `${secret}-db`;
    try {
      const { clock, lm, dumper } = await setup({ clientReports: async () => [{ client: 'web-1', report: { env: { SECRET_TOKEN: secret }, note: `token=${secret}` } }] });
      await lm.owner('job-4', { meta: { note: 'plain' } }).lock('lin', 'r', 'EX');
      void lm.owner('job-17').lock('lin', 'r', 'EX').catch(() => {});
      const written = next(dumper, 'dump-written');
      clock.advance(1000);
      const files = await readTarGz((await written).path);
      expect(files.has('clients/web-1/report.json')).toBe(true);
      for (const [path, data] of files) expect([path, data.includes(secret)]).toEqual([path, false]);
      const report = json<{ environmentVariables?: unknown; header: Record<string, unknown> }>(files, 'nodes/n1/report.json');
      expect(report.environmentVariables).toBeUndefined();
      expect(report.header.networkInterfaces).toBeUndefined();
      expect(report.header.nodejsVersion).toBe(process.version);
    } finally {
      delete process.env.SECRET_TOKEN;
      delete process.env.DB_PASSWORD;
    }
  });
});

describe('the snapshot is the moment of the hang', () => {
  it('a lock released right after the hang event is still held in the dump', async () => {
    const { clock, lm, dumper } = await setup();
    const held = await lm.owner('job-4').lock('lin', 'r', 'EX');
    void lm.owner('job-17').lock('lin', 'r', 'EX').catch(() => {});
    let hang: Hang | null = null;
    lm.on('hang', (h) => {
      hang = h;
      held.release();
    });
    const written = next(dumper, 'dump-written');
    clock.advance(1000);
    expect(hang).not.toBeNull();
    const lin = json<Snapshot['domains'][number]>(await readTarGz((await written).path), 'locks/lin.json');
    expect(lin.resources[0]!.granted.map((l) => l.owner)).toEqual(['job-4']);
  });
});
