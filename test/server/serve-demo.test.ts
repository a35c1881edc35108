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

describe('lockscope serve with the demo', () => {
  it('stops on SIGTERM in the middle of an incident, closed cleanly, exit code 0', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      // The slow holder's incident: a hang is reported while it still holds (it lets go seconds later).
      await until(() => stdout.includes('"event":"hang"'), 20_000);
      child.kill('SIGTERM');
      // Before the fix the incident ended after the signal and then slept out its 25 s interval.
      let code: number | null | 'running' = 'running';
      void exited.then((c) => (code = c));
      await until(() => code !== 'running', 5_000);
      expect(code).toBe(0);
      const events = stdout.trim().split('\n').map((l) => (JSON.parse(l) as { event: string }).event);
      expect(events).toContain('signal');
      expect(events.at(-1)).toBe('closed');
    } finally {
      child.kill('SIGKILL');
    }
  }, 30_000);

  it('npm start sent SIGTERM stops its server (the script execs node, so the signal reaches it), exit code 0', async () => {
    const port = await freePort();
    // --ignore-scripts skips prestart (the build: npm test has just built); start itself still runs.
    const npm = spawn('npm', ['start', '--ignore-scripts', '--', '--port', String(port)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    npm.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => npm.once('exit', resolve));
    try {
      await until(() => stdout.includes('"event":"listening"'), 20_000);
      npm.kill('SIGTERM');
      let code: number | null | 'running' = 'running';
      void exited.then((c) => (code = c));
      await until(() => code !== 'running', 10_000);
      expect(code).toBe(0);
      // Before the fix npm's shell died and the server kept running, parentless, on the port.
      await until(() => stdout.includes('"event":"closed"'), 5_000);
      const stillServing = await fetch(`http://127.0.0.1:${port}/healthz`).then(() => true, () => false);
      expect(stillServing).toBe(false);
    } finally {
      npm.kill('SIGKILL');
    }
  }, 40_000);
});
