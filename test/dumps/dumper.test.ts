/**
 * The dumper's behaviour over time, on a fake clock: the rate limit and the
 * manual override, transient and persistent classification in index.json,
 * collectors that fail, overrun or overflow, retention by count and bytes,
 * SIGUSR2, and close().
 */

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Collector, DumpRecord, HangDumperEvents, Manifest } from '../../collectors/index.js';
import { HangDumper } from '../../collectors/index.js';
import { flush, json, next, readTarGz, setup } from './support.js';

type Written = HangDumperEvents['dump-written'];

function record(dumper: HangDumper) {
  const written: Written[] = [];
  const skipped: Array<HangDumperEvents['dump-skipped']> = [];
  const classified: Array<HangDumperEvents['dump-classified']> = [];
  dumper.on('dump-written', (e) => written.push(e));
  dumper.on('dump-skipped', (e) => skipped.push(e));
  dumper.on('dump-classified', (e) => classified.push(e));
  return { written, skipped, classified };
}

async function archives(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.tar.gz')).sort();
}

describe('the rate limit', () => {
  it('takes at most one automatic dump per rateLimitMs; a manual dump always goes', async () => {
    const { clock, lm, dumper } = await setup({ rateLimitMs: 60_000 });
    const seen = record(dumper);
    await lm.owner('h').lock('lin', 'r', 'EX');
    void lm.owner('w1').lock('lin', 'r', 'EX').catch(() => {});
    clock.advance(1000); // w1 hangs: dump 1
    await dumper.idle();
    void lm.owner('w2').lock('lin', 'r', 'EX').catch(() => {});
    clock.advance(1000); // w2 hangs 1 s after: rate limited
    const manual = await dumper.dump('manual');
    void lm.owner('w3').lock('lin', 'r', 'EX').catch(() => {});
    clock.advance(58_999); // w3 hung at t = 3,000: within 60 s of dump 1 (t = 1,000)
    await dumper.idle();
    expect(seen.written.map((e) => e.trigger)).toEqual(['soft-timeout', 'manual']);
    expect(seen.skipped.map((e) => [e.trigger, e.nextAllowedInMs])).toEqual([['soft-timeout', 59_000], ['soft-timeout', 58_000]]);
    expect(seen.written[1]!.id).toBe(manual.id);
    void lm.owner('w4').lock('lin', 'r', 'EX').catch(() => {});
    clock.advance(1000); // w4 hangs at t = 61,999, 61 s after dump 1: allowed again
    await dumper.idle();
    expect(seen.written.map((e) => e.trigger)).toEqual(['soft-timeout', 'manual', 'soft-timeout']);
    const m = json<Manifest>(await readTarGz(seen.written[2]!.path), 'manifest.json');
    expect(m.hang!.owner).toBe('w4');
  });

  it('rateLimitMs: 0 dumps every hang', async () => {
    const { clock, lm, dumper } = await setup({ rateLimitMs: 0 });
    const seen = record(dumper);
    await lm.owner('h').lock('lin', 'r', 'EX');
    for (const name of ['a', 'b', 'c']) void lm.owner(name).lock('lin', 'r', 'EX').catch(() => {});
    clock.advance(1000);
    await dumper.idle();
    expect(seen.written.map((e) => e.record.hang!.owner).sort()).toEqual(['a', 'b', 'c']);
    expect(seen.skipped).toEqual([]);
  });
});

describe('classification', () => {
  it('a hang that ends is transient, with the wait\'s total, in events, list() and index.json', async () => {
    const { clock, lm, dumper, dir } = await setup();
    const seen = record(dumper);
    const held = await lm.owner('h').lock('lin', 'r', 'EX');
    const waiting = lm.owner('w').lock('lin', 'r', 'EX');
    clock.advance(1000);
    await dumper.idle();
    expect((await dumper.list()).map((r) => r.classification)).toEqual(['pending']);
    clock.advance(2500);
    const classified = next(dumper, 'dump-classified');
    held.release();
    await waiting;
    expect(await classified).toEqual({ id: seen.written[0]!.id, classification: 'transient', hangId: 1, waitedMs: 3500, outcome: 'granted' });
    const list = await dumper.list();
    expect(list.map((r) => [r.id, r.trigger, r.classification, r.waitedMs, r.outcome])).toEqual([[seen.written[0]!.id, 'soft-timeout', 'transient', 3500, 'granted']]);
    const onDisk = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { dumps: DumpRecord[] };
    expect(onDisk.dumps).toEqual(list);
  });

  it('a hang still blocked persistentAfterMs later is persistent, and stays so when it ends', async () => {
    const { clock, lm, dumper } = await setup();
    const seen = record(dumper);
    await lm.owner('h').lock('lin', 'r', 'EX');
    const ac = new AbortController();
    const waiting = lm.owner('w').lock('lin', 'r', 'EX', { signal: ac.signal }).catch((e: { code: string }) => e.code);
    clock.advance(1000);
    await dumper.idle();
    clock.advance(5000);
    await flush();
    await dumper.idle();
    expect(seen.classified.map((c) => c.classification)).toEqual(['persistent']);
    ac.abort();
    expect(await waiting).toBe('ECANCELED');
    await flush();
    await dumper.idle();
    expect(seen.classified.map((c) => [c.classification, c.outcome])).toEqual([['persistent', undefined], ['persistent', 'ECANCELED']]);
    expect((await dumper.list())[0]).toMatchObject({ classification: 'persistent', waitedMs: 6000, outcome: 'ECANCELED' });
  });

  it('a second dumper on the same directory keeps the earlier dumps in its list', async () => {
    const { lm, dumper, dir } = await setup();
    const first = await dumper.dump();
    await dumper.close();
    const again = new HangDumper(lm, { dir, exclude: ['node-report', 'os-locks'] });
    const second = await again.dump();
    expect((await again.list()).map((r) => r.id)).toEqual([first.id, second.id]);
    await again.close();
  });
});

describe('collectors that fail', () => {
  it('a throwing, an overrunning and an oversized collector are listed in the manifest errors; the dump is still written', async () => {
    const boom: Collector = { name: 'boom', deadlineMs: 1000, maxBytes: 1000, collect: async () => { throw new RangeError('boom'); } };
    const slow: Collector = { name: 'slow', deadlineMs: 20, maxBytes: 1000, collect: () => new Promise(() => {}) };
    const big: Collector = { name: 'big', deadlineMs: 1000, maxBytes: 10, collect: async () => [{ path: 'big.txt', data: 'x'.repeat(100) }] };
    const chunky: Collector = {
      name: 'chunky', deadlineMs: 1000, maxBytes: 10,
      collect: async () => [{ path: 'chunky.txt', data: (function* () { for (let i = 0; i < 10; i++) yield 'yyyy'; })() }],
    };
    const unsafe: Collector = { name: 'unsafe', deadlineMs: 1000, maxBytes: 1000, collect: async () => [{ path: '../escape.txt', data: 'x' }, { path: 'manifest.json', data: '{}' }] };
    const good: Collector = { name: 'good', deadlineMs: 1000, maxBytes: 1000, collect: async () => [{ path: 'extra/good.txt', data: 'fine\n' }] };
    const { dumper } = await setup({ collectors: [boom, slow, big, chunky, unsafe, good] });
    const { path } = await dumper.dump();
    const files = await readTarGz(path);
    const m = json<Manifest>(files, 'manifest.json');
    expect(m.errors.map((e) => [e.collector, e.kind]).sort()).toEqual([
      ['big', 'size'], ['boom', 'error'], ['chunky', 'size'], ['slow', 'deadline'], ['unsafe', 'error'], ['unsafe', 'error'],
    ]);
    expect(files.get('extra/good.txt')!.toString()).toBe('fine\n');
    expect(['big.txt', 'chunky.txt', '../escape.txt'].map((p) => files.has(p))).toEqual([false, false, false]);
    expect(files.has('summary.txt')).toBe(true);
    expect(JSON.parse(files.get('manifest.json')!.toString()).format).toBe('lockscope-hang-dump');
  });
});

describe('retention', () => {
  it('keeps at most `count` archives, removing the oldest first', async () => {
    const { dumper, dir } = await setup({ retention: { count: 2 }, exclude: ['node-report', 'os-locks'] });
    const removed: string[] = [];
    dumper.on('dump-removed', (e) => removed.push(e.id));
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await dumper.dump()).id);
    expect(removed).toEqual(ids.slice(0, 2));
    expect(await archives(dir)).toEqual(ids.slice(2).map((id) => `${id}.tar.gz`).sort());
    expect((await dumper.list()).map((r) => r.id)).toEqual(ids.slice(2));
  });

  it('keeps at most `bytes` of archives, but always the newest', async () => {
    const probe = await setup({ exclude: ['node-report', 'os-locks'] });
    const one = (await stat((await probe.dumper.dump()).path)).size;
    const { dumper, dir } = await setup({ retention: { count: 100, bytes: Math.floor(one * 2.5) }, exclude: ['node-report', 'os-locks'] });
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await dumper.dump()).id);
    expect(await archives(dir)).toEqual(ids.slice(2).map((id) => `${id}.tar.gz`).sort());
    const tiny = await setup({ retention: { bytes: 1 }, exclude: ['node-report', 'os-locks'] });
    const a = await tiny.dumper.dump();
    const b = await tiny.dumper.dump();
    expect([a.id !== b.id, await archives(tiny.dir)]).toEqual([true, [`${b.id}.tar.gz`]]);
  });
});

describe('signals and closing', () => {
  it('signal: SIGUSR2 takes a dump with trigger signal', async () => {
    const { dumper } = await setup({ signal: 'SIGUSR2' });
    const written = next(dumper, 'dump-written');
    process.kill(process.pid, 'SIGUSR2');
    expect((await written).trigger).toBe('signal');
  });

  it('close() detaches from the manager and the signal', async () => {
    const { clock, lm, dumper } = await setup({ signal: 'SIGUSR2' });
    const seen = record(dumper);
    const before = process.listenerCount('SIGUSR2');
    await dumper.close();
    expect(process.listenerCount('SIGUSR2')).toBe(before - 1);
    await lm.owner('h').lock('lin', 'r', 'EX');
    void lm.owner('w').lock('lin', 'r', 'EX').catch(() => {});
    clock.advance(1000);
    await flush();
    expect(seen.written).toEqual([]);
    expect(await dumper.dump().catch((e: { code: string }) => e.code)).toBe('EINVAL');
  });

  it('bad options fail with EINVAL', async () => {
    const { lm } = await setup();
    const bad = [{}, { dir: '' }, { dir: 'x', rateLimitMs: -1 }, { dir: 'x', signal: 'SIGTERM' }, { dir: 'x', retention: { count: 0 } }, { dir: 'x', exclude: ['nope'] }, { dir: 'x', bogus: 1 }];
    for (const options of bad) {
      let code = 'none';
      try {
        new HangDumper(lm, options as never);
      } catch (e) {
        code = (e as { code: string }).code;
      }
      expect([options, code]).toEqual([options, 'EINVAL']);
    }
  });
});

describe('a cluster part (W9)', () => {
  /** What a cluster node's part gives the dumper (server/cluster/dumps.ts in a real cluster: test/cluster/diagnosis.test.ts). */
  function part(files: Array<{ path: string; data: string }>, lastAutomatic: number | null = null) {
    const taken: number[] = [];
    return {
      taken,
      cluster: {
        collect: async () => ({ files, answered: ['n2'], missing: ['n3'] }),
        lastAutomatic: () => lastAutomatic,
        automaticTaken: (t: number) => void taken.push(t),
      },
    };
  }

  it('puts the other nodes\' files in the dump, scrubbed of this node\'s secrets and still JSON, names the nodes, and skips an unsafe path', async () => {
    const secret = 'this-node-token-0123456789';
    const p = part([
      { path: 'nodes/n2/locks/lin.json', data: JSON.stringify({ name: 'lin', resources: [], note: `held with ${secret}`, tokenMark: 12 }) },
      { path: 'nodes/n2/stacks.txt', data: `at x (token=${secret})` },
      { path: '../outside.txt', data: 'nope' },
    ]);
    const { dumper } = await setup({ cluster: p.cluster, secrets: [secret] });
    const { path } = await dumper.dump('manual');
    const files = await readTarGz(path);
    const m = json<Manifest>(files, 'manifest.json');
    expect(m.nodes).toEqual(['n1', 'n2']);
    expect(m.missingNodes).toEqual(['n3']);
    const locks = JSON.parse(files.get('nodes/n2/locks/lin.json')!.toString()) as { note: string; tokenMark: number };
    expect(locks.note).toBe('held with [redacted]');
    expect(locks.tokenMark).toBe(12);
    expect(files.get('nodes/n2/stacks.txt')!.toString()).not.toContain(secret);
    expect([...files.keys()].some((f) => f.includes('outside'))).toBe(false);
    expect(m.errors.some((e) => e.collector === 'cluster' && e.message.includes('unsafe path'))).toBe(true);
    expect(files.get('summary.txt')!.toString()).toContain('did not answer in time: n3');
  });

  it('holds its automatic dump back while the cluster\'s last one is younger than the rate limit, and tells the cluster when it takes one', async () => {
    const held = part([], Date.UTC(2026, 0, 1)); // the fake clock's wall time at its start: another node dumped just now
    const a = await setup({ rateLimitMs: 60_000, cluster: held.cluster });
    const seenA = record(a.dumper);
    await a.lm.owner('h').lock('lin', 'r', 'EX');
    void a.lm.owner('w').lock('lin', 'r', 'EX').catch(() => {});
    a.clock.advance(1000);
    await a.dumper.idle();
    expect(seenA.written).toEqual([]);
    expect(seenA.skipped.map((e) => e.reason)).toEqual(['rate-limited']);

    const free = part([]);
    const b = await setup({ rateLimitMs: 60_000, cluster: free.cluster });
    const seenB = record(b.dumper);
    await b.lm.owner('h').lock('lin', 'r', 'EX');
    void b.lm.owner('w').lock('lin', 'r', 'EX').catch(() => {});
    b.clock.advance(1000);
    await b.dumper.idle();
    expect(seenB.written.map((e) => e.trigger)).toEqual(['soft-timeout']);
    expect(free.taken).toHaveLength(1);
  });
});
