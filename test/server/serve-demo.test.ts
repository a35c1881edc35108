/**
 * `lockscope serve` with its demo workload (what `npm start` runs) stops on
 * SIGTERM while an incident is under way: the demo's incidents end at once
 * instead of sleeping out their interval, and the server closes cleanly.
 */

import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI, freePort, until } from '../recovery/support.js';

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
});
