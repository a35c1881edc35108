/**
 * `lockscope serve` with its demo workload (what `npm start` runs) stops on
 * SIGTERM while an incident is under way: the demo's incidents end at once
 * instead of sleeping out their interval, and the server closes cleanly.
 * `npm start` itself, sent SIGTERM (what a process manager does), stops its
 * server too rather than leaving it running without a parent.
 */

import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { dirname, join } from 'node:path';
import { CLI, freePort, until } from '../recovery/support.js';

const ROOT = join(dirname(CLI), '../..');

/** A process whose stdout is collected; `stop` sends SIGTERM and resolves with its exit code (failing after ms). */
function run(cmd: string, args: string[], cwd?: string): { out: () => string; stop: (ms: number) => Promise<number | null>; kill: () => void } {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  let code: number | null | 'running' = 'running';
  child.once('exit', (c) => (code = c));
  return {
    out: () => stdout,
    async stop(ms) {
      child.kill('SIGTERM');
      await until(() => code !== 'running', ms);
      return code as number | null;
    },
    kill: () => child.kill('SIGKILL'),
  };
}

describe('lockscope serve with the demo', () => {
  it('stops on SIGTERM in the middle of an incident, closed cleanly, exit code 0', async () => {
    const port = await freePort();
    const server = run(process.execPath, [CLI, 'serve', '--port', String(port)]);
    try {
      // The slow holder's incident: a hang is reported while it still holds (it lets go seconds later).
      await until(() => server.out().includes('"event":"hang"'), 20_000);
      // Before the fix the incident ended after the signal and then slept out its 25 s interval.
      expect(await server.stop(5_000)).toBe(0);
      const events = server.out().trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event);
      expect(events).toContain('signal');
      expect(events.at(-1)).toBe('closed');
    } finally {
      server.kill();
    }
  }, 30_000);

  it('npm start sent SIGTERM stops its server (the script execs node, so the signal reaches it), exit code 0', async () => {
    const port = await freePort();
    // --ignore-scripts skips prestart (the build: npm test has just built); start itself still runs.
    const npm = run('npm', ['start', '--ignore-scripts', '--', '--port', String(port)], ROOT);
    try {
      await until(() => npm.out().includes('"event":"listening"'), 20_000);
      expect(await npm.stop(10_000)).toBe(0);
      // Before the fix npm's shell died and the server kept running, parentless, on the port.
      await until(() => npm.out().includes('"event":"closed"'), 5_000);
      const stillServing = await fetch(`http://127.0.0.1:${port}/healthz`).then(() => true, () => false);
      expect(stillServing).toBe(false);
    } finally {
      npm.kill();
    }
  }, 40_000);
});
