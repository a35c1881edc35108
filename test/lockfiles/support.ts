/**
 * Helpers for the lock-file tests: real Python processes that hold lock files
 * (test/lockfiles/holder.py, run by /usr/bin/python3, which has Debian's
 * python3-fasteners and python3-oslo.concurrency), a temporary lock directory,
 * and files made old with utimes().
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach } from 'vitest';

/** Debian's python: the one with the packages (a `python3` on PATH may be a pyenv one without them). */
export const PYTHON = '/usr/bin/python3';
export const HOLDER = fileURLToPath(new URL('./holder.py', import.meta.url));

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

export async function lockDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lockscope-lockfiles-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export type HoldMode = 'fasteners' | 'oslo' | 'flock' | 'offsets' | 'ofd' | 'open';

export interface Holder {
  pid: number;
  child: ChildProcess;
  /** Close its stdin: it releases and exits; resolves when it has. */
  release(): Promise<void>;
}

/** A Python process holding (or only opening) `path` through `mode`; resolves once it says it does. */
export function hold(mode: HoldMode, path: string, offsets: number[] = []): Promise<Holder> {
  const child = spawn(PYTHON, [HOLDER, mode, path, ...offsets.map(String)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const holder: Holder = {
    pid: child.pid!, child,
    release: async () => {
      child.stdin!.end();
      await exited;
    },
  };
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => (line === `ready ${child.pid}` ? resolve(holder) : reject(new Error(`holder said ${line}`))));
    child.once('exit', (code) => reject(new Error(`holder ${mode} ${path} exited with ${code} before it was ready`)));
  });
}

export const HOUR = 3_600_000;

/**
 * Run as root (CI's container is), every process's open files are readable.
 * Run as another user, the other users' processes are not (rule S3), and clean
 * refuses unless told to go on: the tests' own holders are still this user's
 * and readable, so they tell it to.
 */
export const ROOT = process.getuid?.() === 0;
export const UNREADABLE_OK = { allowUnreadable: !ROOT };

/** A file whose last modification was `ageMs` ago. */
export async function oldFile(path: string, ageMs: number): Promise<void> {
  await writeFile(path, '', { flag: 'a' });
  await age(path, ageMs);
}

export async function age(path: string, ageMs: number): Promise<void> {
  const t = new Date(Date.now() - ageMs);
  await utimes(path, t, t);
}
