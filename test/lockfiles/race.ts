/**
 * The race harness of the lockfiles race test and of bench/lockfiles-race.js:
 * Python workers (race_worker.py) lock names through fasteners in a loop and
 * log each critical section's entry and exit; a cleaner runs over the same
 * directory meanwhile. Overlaps are counted from the log alone, not from
 * anything the cleaner reports.
 */

import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));

export interface RaceLog {
  sections: number;
  /** Entries into a name's critical section while another process was inside it. */
  overlaps: number;
}

/** Count sections and overlaps in a worker log ("+ NAME PID" / "- NAME PID" lines, in write order). */
export function countOverlaps(text: string): RaceLog {
  const inside = new Map<string, Set<string>>();
  let sections = 0;
  let overlaps = 0;
  for (const line of text.split('\n')) {
    const [sign, name, pid] = line.split(' ');
    if (name === undefined || pid === undefined) continue;
    const set = inside.get(name) ?? new Set<string>();
    inside.set(name, set);
    if (sign === '+') {
      sections++;
      if (set.size > 0) overlaps++;
      set.add(pid);
    } else set.delete(pid);
  }
  return { sections, overlaps };
}

function run(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args[0]} exited with ${code}`))));
  });
}

/** `workers` fasteners workers on `names` in `dir` for `seconds`, while `clean` runs until they end. */
export async function race(dir: string, logDir: string, o: { workers: number; names: string[]; seconds: number; clean: (stop: () => boolean) => Promise<void> }): Promise<RaceLog> {
  const log = join(logDir, 'sections.log');
  let done = false;
  const workers = Promise.all(Array.from({ length: o.workers }, () => run([here('./race_worker.py'), dir, log, String(o.seconds), ...o.names])));
  const cleaner = o.clean(() => done);
  try {
    await workers;
  } finally {
    done = true;
    await cleaner;
  }
  return countOverlaps(await readFile(log, 'utf8'));
}

/** The usual cron job (lock without waiting, delete if that worked), for `seconds`. */
export async function naiveCleaner(dir: string, seconds: number): Promise<number> {
  const out = await run([here('./naive_cleaner.py'), dir, String(seconds)]);
  return Number(/deleted (\d+)/.exec(out)?.[1] ?? 0);
}
