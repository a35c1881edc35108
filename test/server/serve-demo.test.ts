/**
 * `lockscope serve` is a bare server: no demo nodes, domains or incidents in
 * a user's real server. `lockscope demo` (what `npm start` runs) is the
 * server with the demo workload; it says where its hang-dumps go, and stops
 * on SIGTERM while an incident is under way: the demo's incidents end at
 * once instead of sleeping out their interval, and the server closes
 * cleanly. `npm start` itself, sent SIGTERM (what a process manager does),
 * stops its server too rather than leaving it running without a parent.
 */

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { dirname, join } from 'node:path';
import { nextSlotMs } from '../../server/demo.js';
import { CLI, freePort, until } from '../recovery/support.js';

const ROOT = join(dirname(CLI), '../..');

/** A process whose stdout is collected; `stop` sends SIGTERM and resolves with its exit code (failing after ms). */
function run(cmd: string, args: string[], cwd?: string): { out: () => string; err: () => string; stop: (ms: number) => Promise<number | null>; kill: () => void } {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let code: number | null | 'running' = 'running';
  child.once('exit', (c) => (code = c));
  return {
    out: () => stdout,
    err: () => stderr,
    async stop(ms) {
      child.kill('SIGTERM');
      await until(() => code !== 'running', ms);
      return code as number | null;
    },
    kill: () => child.kill('SIGKILL'),
  };
}

interface Line {
  event: string;
  [k: string]: unknown;
}
/** The whole JSON lines written so far (a pipe may deliver the last one in two pieces). */
const lines = (out: string): Line[] => out.split('\n').slice(0, -1).map((l) => JSON.parse(l) as Line);

describe('lockscope serve is a bare server', () => {
  it('has only the configured domains, no demo client and no demo incident', async () => {
    const port = await freePort();
    const server = run(process.execPath, [CLI, 'serve', '--port', String(port)]);
    try {
      // The banner is written once the command has started everything it runs (with the demo: after its nodes
      // connected). Log lines leave at the end of the turn, so `listening` may reach stdout after it.
      await until(() => server.err().includes('lockscope dashboard:') && server.out().includes('"event":"listening"'), 20_000);
      const listening = lines(server.out()).find((l) => l.event === 'listening')!;
      expect(listening.domains).toEqual(['default', 'posix']);
      expect(await (await fetch(`http://127.0.0.1:${port}/api/sessions`)).json()).toEqual([]);
      expect(await server.stop(5_000)).toBe(0);
      expect(lines(server.out()).map((l) => l.event)).not.toContain('demo-started');
    } finally {
      server.kill();
    }
  }, 30_000);
});

describe('lockscope demo', () => {
  it('runs the server with the demo nodes and says where its hang-dumps go (--dumps, or a new directory)', async () => {
    const given = mkdtempSync(join(tmpdir(), 'lockscope-demo-test-'));
    for (const dumps of [join(given, 'dumps'), null]) {
      const port = await freePort();
      const demo = run(process.execPath, [CLI, 'demo', '--port', String(port), ...(dumps === null ? [] : ['--dumps', dumps])]);
      try {
        await until(() => demo.out().includes('"event":"demo-started"'), 20_000);
        const started = lines(demo.out()).find((l) => l.event === 'demo-started')!;
        const dir = started.dumps as string;
        if (dumps !== null) expect(dir).toBe(dumps);
        else expect(dirname(dir)).toBe(tmpdir());
        await until(() => demo.err().includes(dir), 5_000);
        expect(existsSync(dir)).toBe(true);
        const sessions = (await (await fetch(`http://127.0.0.1:${port}/api/sessions`)).json()) as { client: string }[];
        expect(sessions.map((s) => s.client).sort()).toEqual(['node-1', 'node-2', 'node-3']);
        expect(await demo.stop(5_000)).toBe(0);
        if (dumps === null) rmSync(dir, { recursive: true, force: true });
      } finally {
        demo.kill();
      }
    }
    rmSync(given, { recursive: true, force: true });
  }, 40_000);

  it('stops on SIGTERM in the middle of an incident, closed cleanly, exit code 0', async () => {
    const port = await freePort();
    const server = run(process.execPath, [CLI, 'demo', '--port', String(port)]);
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

  it('npm start runs the demo; sent SIGTERM it stops its server (the script execs node, so the signal reaches it), exit code 0', async () => {
    const port = await freePort();
    // --ignore-scripts skips prestart (the build: npm test has just built); start itself still runs.
    const npm = run('npm', ['start', '--ignore-scripts', '--', '--port', String(port)], ROOT);
    try {
      await until(() => npm.out().includes('"event":"demo-started"'), 20_000);
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

describe('the demo\'s schedule', () => {
  it('starts rounds every period from the first, whatever each round lasted', () => {
    // First round at 4,000, every 15,000: a round that ended at 9,500 waits for 19,000, not for 24,500.
    expect(nextSlotMs(4_000, 15_000, 9_500)).toBe(9_500);
    expect(nextSlotMs(4_000, 15_000, 4_000)).toBe(15_000);
    expect(nextSlotMs(4_000, 15_000, 19_000)).toBe(0);
    // A round that overran its slot: the next starts at the following slot (34,000), not at once and not late.
    expect(nextSlotMs(4_000, 15_000, 20_000)).toBe(14_000);
  });
});
