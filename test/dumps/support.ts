/**
 * Helpers for the dump tests: a manager on a fake clock with a dumper, and
 * a reader that opens archives with the `tar` package directly (not with
 * our own reader), so the tests check what any tar/gzip tool would see.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { list } from 'tar';
import { afterEach } from 'vitest';
import { FakeClock, LockManager, type DomainConfig } from '../../src/index.js';
import { HangDumper, type HangDumperEvents, type HangDumperOptions } from '../../collectors/index.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lockscope-dumps-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export const DOMAINS: DomainConfig[] = [
  { name: 'lin', kind: 'dlm', softTimeoutMs: 1000, persistentAfterMs: 5000 },
  { name: 'adv', kind: 'posix', softTimeoutMs: 1000 },
];

export async function setup(options: Partial<HangDumperOptions> = {}) {
  const clock = new FakeClock();
  const lm = new LockManager({ node: 'n1', clock, domains: DOMAINS });
  const dir = await tempDir();
  const dumper = new HangDumper(lm, { dir, ...options });
  cleanups.push(async () => {
    await dumper.close();
    lm.close();
  });
  return { clock, lm, dumper, dir };
}

/** The next `event` of the dumper. */
export function next<K extends keyof HangDumperEvents>(dumper: HangDumper, event: K): Promise<HangDumperEvents[K]> {
  return new Promise((resolve) => dumper.once(event, resolve));
}

/** Every file of a .tar.gz, by path, read with the `tar` package. */
export async function readTarGz(file: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  await list({
    file, strict: true,
    onReadEntry: (entry) => {
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => files.set(entry.path, Buffer.concat(chunks)));
    },
  });
  return files;
}

export function text(files: Map<string, Buffer>, path: string): string {
  const data = files.get(path);
  if (data === undefined) throw new Error(`${path} is not in the archive (it has ${[...files.keys()].join(', ')})`);
  return data.toString('utf8');
}

export function json<T = Record<string, unknown>>(files: Map<string, Buffer>, path: string): T {
  return JSON.parse(text(files, path)) as T;
}

/** "dumps.test.ts:42": the caller's file and line, for checking request sites. */
export function here(): string {
  const frame = new Error().stack!.split('\n')[2]!;
  const m = /([^/\\(]+\.test\.ts):(\d+):\d+/.exec(frame);
  if (m === null) throw new Error(`no test frame in ${frame}`);
  return `${m[1]}:${m[2]}`;
}

export const flush = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
};

/** Collects the io of a CLI function. */
export function capture() {
  const io = { stdout: '', stderr: '', out: (s: string) => void (io.stdout += s), err: (s: string) => void (io.stderr += s) };
  return io;
}
