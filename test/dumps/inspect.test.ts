/**
 * `inspect` answers from the archive alone (the manager is closed before
 * it runs), and refuses damaged or foreign files with stable exit codes.
 */

import { copyFileSync, mkdtempSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { create } from 'tar';
import { describe, expect, it } from 'vitest';
import { EXIT_STATUS, runDump, runInspect } from '../../collectors/index.js';
import { capture, flush, here, next, readTarGz, setup, tempDir } from './support.js';

async function chainDump() {
  const { clock, lm, dumper } = await setup();
  const rootSite = here(); await lm.owner('job-4', { meta: { pid: 4 } }).lock('lin', 'inode:12', 'EX');
  const mid = lm.owner('job-9');
  await mid.lock('lin', 'inode:13', 'EX');
  const midSite = here(); void mid.lock('lin', 'inode:12', 'PR').catch(() => {});
  void lm.owner('job-17').lock('lin', 'inode:13', 'EX').catch(() => {});
  const written = next(dumper, 'dump-written');
  clock.advance(1000);
  const { path } = await written;
  await dumper.close();
  lm.close();
  return { path, rootSite, midSite };
}

async function inspect(...argv: string[]) {
  const io = capture();
  const status = await runInspect(argv, io);
  return { status, ...io };
}

/** A .tar.gz of `files` (path → content), made with the tar package. */
async function pack(files: Map<string, Buffer | string>): Promise<string> {
  const dir = await tempDir();
  for (const [p, data] of files) {
    await mkdir(dirname(join(dir, 'in', p)), { recursive: true });
    await writeFile(join(dir, 'in', p), data);
  }
  const out = join(dir, 'packed.tar.gz');
  await create({ gzip: true, file: out, cwd: join(dir, 'in') }, [...files.keys()]);
  return out;
}

describe('inspect answers questions from the archive alone', () => {
  it('with no question it prints the summary', async () => {
    const { path, rootSite } = await chainDump();
    const r = await inspect(path);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('classification: pending');
    expect(r.stdout).toContain(`* job-4 {"pid":4} blocks 1 request directly and 2 owners in all.\n  holds EX on lin:inode:12 since 00:00:00 (for 1.0 s), requested at test/dumps/${rootSite}`);
  });

  it('an archive alone (downloaded, no index beside it) says its classification is the one known when it was taken', async () => {
    const { path } = await chainDump();
    const alone = join(mkdtempSync(join(tmpdir(), 'ls-alone-')), basename(path));
    copyFileSync(path, alone);
    const r = await inspect(alone);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('classification: pending when this dump was taken (decided once the wait ends: the server\'s dump list, GET /api/dumps, has it)');
    // With the index beside it, pending means pending now: no such remark.
    expect((await inspect(path)).stdout).not.toContain('when this dump was taken');
  });

  it('--owner: what it holds, what it waits for and who blocks it, as text and --json', async () => {
    const { path, midSite } = await chainDump();
    const text = await inspect(path, '--owner', 'job-9');
    expect(text.status).toBe(0);
    expect(text.stdout).toContain(`owner job-9 has waited 1.0 s for PR on lin:inode:12, blocked by job-4, which holds EX on it since 00:00:00`);
    expect(text.stdout).toContain(`this request was made at test/dumps/${midSite}`);
    const r = await inspect(path, '--owner', 'job-9', '--json');
    const data = JSON.parse(r.stdout) as { owner: string; matches: Array<Record<string, never>> };
    expect(data.owner).toBe('job-9');
    const m = data.matches[0] as unknown as {
      holds: Array<{ resource: string; mode: string }>; waits: Array<{ resource: string; requested: string; site: string; waitedMs: number; blockers: Array<{ owner: string; kind: string; mode: string }> }>;
      blocks: Array<{ owner: string; resource: string; wanted: string }>; blocksInAll: number;
    };
    expect(m.holds.map((h) => [h.resource, h.mode])).toEqual([['inode:13', 'EX']]);
    expect(m.waits.map((w) => [w.resource, w.requested, w.site, w.waitedMs, w.blockers])).toEqual([
      ['inode:12', 'PR', `test/dumps/${midSite}`, 1000, [expect.objectContaining({ owner: 'job-4', kind: 'hard', mode: 'EX' })]],
    ]);
    expect(m.blocks).toEqual([expect.objectContaining({ owner: 'job-17', resource: 'inode:13', wanted: 'EX' })]);
    expect(m.blocksInAll).toBe(1);
  });

  it('--resource by name or domain:name gives its queues', async () => {
    const { path } = await chainDump();
    for (const key of ['inode:12', 'lin:inode:12']) {
      const r = await inspect(path, '--resource', key, '--json');
      expect(r.status).toBe(0);
      const data = JSON.parse(r.stdout) as { matches: Array<{ domain: string; name: string; granted: Array<{ owner: string }>; waiting: Array<{ owner: string }> }> };
      expect(data.matches.map((x) => [x.domain, x.name, x.granted.map((l) => l.owner), x.waiting.map((l) => l.owner)])).toEqual([['lin', 'inode:12', ['job-4'], ['job-9']]]);
    }
    const text = await inspect(path, '--resource', 'lin:inode:13');
    expect(text.stdout).toMatch(/granted: \n {4}1\. job-9 holds EX since 00:00:00/);
  });

  it('an owner or resource not in the dump exits ENOMATCH', async () => {
    const { path } = await chainDump();
    expect((await inspect(path, '--owner', 'nobody')).status).toBe(EXIT_STATUS.ENOMATCH);
    expect((await inspect(path, '--resource', 'inode:999', '--json')).status).toBe(EXIT_STATUS.ENOMATCH);
  });

  it('--cycles lists the cycle as the deadlock found it, and the deadlock with its victim', async () => {
    const { lm, dumper } = await setup({ onDeadlock: true });
    const a = lm.owner('a');
    const b = lm.owner('b');
    await a.lock('lin', 'x', 'EX');
    await b.lock('lin', 'y', 'EX');
    void a.lock('lin', 'y', 'EX').catch(() => {});
    const written = next(dumper, 'dump-written');
    await b.lock('lin', 'x', 'EX').catch(() => {});
    const { path } = await written;
    const r = await inspect(path, '--cycles', '--json');
    expect(r.status).toBe(0);
    const data = JSON.parse(r.stdout) as { cycles: unknown[]; deadlocks: Array<{ victim: string; cycle: Array<{ owner: string; wanted: string; resource: string }> }> };
    // The deadlock event comes before the victim's request fails: the dump still shows the cycle.
    expect(data.cycles.map((c) => (c as { owners: string[] }).owners.sort())).toEqual([['a', 'b']]);
    expect(data.deadlocks.map((d) => [d.victim, d.cycle.map((c) => `${c.owner}>${c.wanted}@${c.resource}`).sort()])).toEqual([['b', ['a>EX@y', 'b>EX@x']]]);
    const text = await inspect(path, '--cycles');
    expect(text.stdout).toContain('1 deadlocks broken before the dump:');
  });

  it('shows the classification from the index beside the archive', async () => {
    const { clock, lm, dumper } = await setup();
    const held = await lm.owner('h').lock('lin', 'r', 'EX');
    const waiting = lm.owner('w').lock('lin', 'r', 'EX');
    const written = next(dumper, 'dump-written');
    clock.advance(1000);
    const { path } = await written;
    const classified = next(dumper, 'dump-classified');
    held.release();
    await waiting;
    await classified;
    const r = await inspect(path, '--json');
    expect(JSON.parse(r.stdout)).toMatchObject({ classification: 'transient', record: { waitedMs: 1000, outcome: 'granted' } });
    expect((await inspect(path)).stdout).toContain('classification: transient');
  });
});

describe('inspect refuses what it cannot read, with a code', () => {
  const codeOf = (r: { stderr: string }): string => (JSON.parse(r.stderr) as { error: { code: string } }).error.code;

  it('a missing file: ENOENT', async () => {
    const r = await inspect(join(await tempDir(), 'nope.tar.gz'), '--json');
    expect([r.status, codeOf(r)]).toEqual([EXIT_STATUS.ENOENT, 'ENOENT']);
  });

  it('a truncated archive: ETRUNCATED, wherever it is cut', async () => {
    const { path } = await chainDump();
    const whole = await readFile(path);
    for (const at of [1, 10, Math.floor(whole.length / 2), whole.length - 4]) {
      await writeFile(`${path}.cut`, whole.subarray(0, at));
      const r = await inspect(`${path}.cut`, '--json');
      expect([at, r.status, codeOf(r)]).toEqual([at, EXIT_STATUS.ETRUNCATED, 'ETRUNCATED']);
    }
  });

  it('damaged compressed data, or a file that does not match its manifest: ECORRUPT', async () => {
    const { path } = await chainDump();
    const whole = await readFile(path);
    // Anywhere in the compressed data: a flip can decompress into garbage the tar parser stops at first.
    for (const at of Array.from({ length: 19 }, (_, i) => Math.floor((whole.length * (i + 1)) / 20))) {
      const bytes = Buffer.from(whole);
      bytes[at]! ^= 0xff;
      await writeFile(`${path}.bad`, bytes);
      const flipped = await inspect(`${path}.bad`, '--json');
      expect([at, flipped.status, codeOf(flipped)]).toEqual([at, EXIT_STATUS.ECORRUPT, 'ECORRUPT']);
    }
    const files = await readTarGz(path);
    files.set('summary.txt', Buffer.from('edited by hand\n'));
    const edited = await inspect(await pack(files), '--json');
    expect([edited.status, codeOf(edited)]).toEqual([EXIT_STATUS.ECORRUPT, 'ECORRUPT']);
  });

  it('a foreign file: EFOREIGN (plain text, and a tar.gz that is not a dump); a newer format: EVERSION', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'notes.txt'), 'hello\n');
    const plain = await inspect(join(dir, 'notes.txt'), '--json');
    expect([plain.status, codeOf(plain)]).toEqual([EXIT_STATUS.EFOREIGN, 'EFOREIGN']);
    const other = await inspect(await pack(new Map([['readme.md', 'x'], ['src/a.js', 'y']])), '--json');
    expect([other.status, codeOf(other)]).toEqual([EXIT_STATUS.EFOREIGN, 'EFOREIGN']);
    const { path } = await chainDump();
    const files = await readTarGz(path);
    const m = JSON.parse(files.get('manifest.json')!.toString()) as Record<string, unknown>;
    files.set('manifest.json', Buffer.from(JSON.stringify({ ...m, formatVersion: 99 })));
    const newer = await inspect(await pack(files), '--json');
    expect([newer.status, codeOf(newer)]).toEqual([EXIT_STATUS.EVERSION, 'EVERSION']);
  });

  it('bad arguments: EINVAL (exit 2)', async () => {
    expect((await inspect()).status).toBe(EXIT_STATUS.EINVAL);
    expect((await inspect('a', 'b')).status).toBe(EXIT_STATUS.EINVAL);
    const r = await inspect('a.tar.gz', '--bogus', '--json');
    expect([r.status, codeOf(r)]).toEqual([EXIT_STATUS.EINVAL, 'EINVAL']);
  });
});

describe('dump', () => {
  it('takes a dump of an in-process manager into --dir; --server needs the server', async () => {
    const { lm } = await setup();
    await lm.owner('h').lock('lin', 'r', 'EX');
    const dir = await tempDir();
    const io = capture();
    expect(await runDump(['--dir', dir, '--json'], io, { manager: lm })).toBe(0);
    const { id, path } = JSON.parse(io.stdout) as { id: string; path: string };
    expect(path).toBe(join(dir, `${id}.tar.gz`));
    expect((await inspect(path, '--resource', 'r')).status).toBe(0);
    const remote = capture();
    expect(await runDump(['--server', 'http://127.0.0.1:7070', '--json'], remote)).toBe(EXIT_STATUS.ENOTSUP);
    await flush();
  });

  it('a bad option is EINVAL with dump\'s own usage, not inspect\'s', async () => {
    const io = capture();
    expect(await runDump(['--out', '/tmp/x'], io)).toBe(EXIT_STATUS.EINVAL);
    expect(io.stderr).toContain("Unknown option '--out'");
    expect(io.stderr).toContain('usage: lockscope dump');
    expect(io.stderr).not.toContain('lockscope inspect');
  });
});
