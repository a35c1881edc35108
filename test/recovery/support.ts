/**
 * Restart tests run the real server as a child process (the built CLI) and
 * kill it with SIGKILL: no close handler, no flush, exactly a crash. The
 * clients run in the test process and reconnect by themselves.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type LockClient } from '../../client/index.js';
import { sleep, until as untilIn } from '../server/support.js';

export const CLI = join(import.meta.dirname, '../../dist/server/cli.js');
export const ADMIN = 'admin-token-for-recovery-tests';
export const CLIENT = 'client-token-for-recovery-tests';

export const DOMAINS = [
  { name: 'lin', kind: 'dlm', lvbBytes: 16 },
  { name: 'data', kind: 'dlm', ranges: true },
  { name: 'adv', kind: 'posix' },
];

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface LogLine {
  event: string;
  [k: string]: unknown;
}

/**
 * Collects a `lockscope serve` process's JSON log lines into `lines` and
 * resolves at its `listening` line; rejects, with its stderr, if it exits first.
 */
export function untilListening(child: ChildProcess, lines: LogLine[], what: string): Promise<void> {
  let buf = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const l = JSON.parse(line) as LogLine;
          lines.push(l);
          if (l.event === 'listening') resolve();
        } catch {
          // not a log line
        }
      }
    });
    child.once('exit', (code) => reject(new Error(`${what} exited (${code}) before listening: ${stderr}`)));
  });
}

/** One lock server process on a fixed port and state directory, started and crashed at will. */
export class ServerProcess {
  child: ChildProcess | null = null;
  readonly lines: LogLine[] = [];
  readonly url: string;
  readonly config: string;
  /** Where its hang-dumps go (not the working directory's ./hangdumps). */
  readonly dumps: string;

  constructor(readonly port: number, readonly stateDir: string, options: { graceMs?: number; leaseMs?: number } = {}) {
    this.url = `http://127.0.0.1:${port}`;
    this.config = join(stateDir, '..', `config-${port}.json`);
    this.dumps = join(stateDir, '..', 'dumps');
    writeFileSync(this.config, JSON.stringify({
      domains: DOMAINS, leaseMs: options.leaseMs ?? 10_000, graceMs: options.graceMs ?? 20_000,
      tokens: [{ token: ADMIN, role: 'admin', name: 'admin' }, { token: CLIENT, role: 'client', name: 'app' }],
    }));
  }

  static async create(options: { graceMs?: number; leaseMs?: number } = {}): Promise<ServerProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'lockscope-recovery-'));
    return new ServerProcess(await freePort(), join(dir, 'state'), options);
  }

  /** Start it and wait for its `listening` line. */
  async start(): Promise<void> {
    const child = spawn(process.execPath, [
      CLI, 'serve', '--no-demo', '--port', String(this.port), '--config', this.config, '--state-dir', this.stateDir, '--dumps', this.dumps,
    ], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    await untilListening(child, this.lines, 'server');
  }

  /** A crash: SIGKILL, then wait for the process to be gone. */
  async kill(): Promise<void> {
    const c = this.child;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGKILL');
    await gone;
    this.child = null;
  }

  events(name: string): LogLine[] {
    return this.lines.filter((l) => l.event === name);
  }

  recordedClients(): string[] {
    const raw = JSON.parse(readFileSync(join(this.stateDir, 'clients.json'), 'utf8')) as { clients: { id: string }[] };
    return raw.clients.map((c) => c.id).sort();
  }

  async api(path: string, init: RequestInit = {}, token = ADMIN): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: await res.json() };
  }
}

export function client(server: ServerProcess, name: string): Promise<LockClient> {
  return connect(server.url, { token: CLIENT, name });
}

export { sleep };

/** Poll until `check` returns true; restarts take longer than the server tests' default allows. */
export function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  return untilIn(check, ms);
}
