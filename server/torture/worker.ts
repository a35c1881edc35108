/**
 * One client of `lockscope torture` (a child process, forked with an IPC
 * channel). It loops: lock a random byte range of the shared posix file
 * (setlk, wait) or one slot of the dlm file (EX); read the region and check
 * every fencing token found there is older than its own; write its id,
 * counter and token into every record of the region; hold a while; check
 * the region still holds exactly its writes; release. A region that changed
 * under a lock this client still held is a mutual-exclusion violation; a
 * lock the server refused to give back after a restart is a lost lock.
 * Counts go to the parent every STATS_EVERY_MS and when it is told to stop.
 */

import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type LockClient, type RemoteHandle, type RemoteOwner } from '../../client/index.js';
import { LockError } from '../../src/index.js';
import { TORTURE, type WorkerConfig, type WorkerStats } from './shared.js';

const STATS_EVERY_MS = 500;

class Worker {
  private readonly stats: WorkerStats = { id: 0, ops: 0, errors: {}, violations: [], lost: 0, reclaims: [], tokenRegressions: 0, staleWritesRefused: 0 };
  private stopping = false;
  private counter = 0;
  /** Reclaim losses since the current lock was taken (a posix loss has no handle to mark). */
  private lostSinceLock = 0;
  private readonly posixFd: number;
  private readonly dlmFd: number;
  /** One owner per domain for the whole run, as a process has one lock owner per file; with --cache, more dlm owners (C9). */
  private readonly posixOwner: RemoteOwner;
  private readonly dlmOwners: RemoteOwner[] = [];

  constructor(private readonly client: LockClient, private readonly cfg: WorkerConfig) {
    this.stats.id = cfg.id;
    this.posixFd = openSync(join(cfg.dir, TORTURE.posixFile), 'r+');
    this.dlmFd = openSync(join(cfg.dir, TORTURE.dlmFile), 'r+');
    this.posixOwner = client.owner(`w${cfg.id}`);
    for (let k = 0; k < (cfg.cache === true ? TORTURE.cachedDlmOwners : 1); k++) this.dlmOwners.push(client.owner(`w${cfg.id}-dlm${k === 0 ? '' : k}`));
    client.on('reclaim', (r) => {
      this.stats.reclaims.push({ ms: r.durationMs, reclaimed: r.reclaimed, lost: r.lost.length });
      this.stats.lost += r.lost.length;
      this.lostSinceLock += r.lost.length;
    });
  }

  stop(): void {
    this.stopping = true;
  }

  async run(): Promise<WorkerStats> {
    const timer = setInterval(() => this.report('stats'), STATS_EVERY_MS);
    try {
      // The first loop is the worker's own (posix, dlm or both); the others are its further dlm owners (--cache).
      const loops = [this.loop(0)];
      if (this.cfg.mode !== 'posix') for (let k = 1; k < this.dlmOwners.length; k++) loops.push(this.loop(k));
      await Promise.all(loops);
    } finally {
      clearInterval(timer);
      closeSync(this.posixFd);
      closeSync(this.dlmFd);
    }
    return this.stats;
  }

  private async loop(k: number): Promise<void> {
    while (!this.stopping) {
      try {
        const posix = k === 0 && (this.cfg.mode === 'posix' || (this.cfg.mode === 'mixed' && Math.random() < 0.5));
        await (posix ? this.posixOp() : this.dlmOp(k));
        this.stats.ops++;
      } catch (err) {
        const code = err instanceof LockError ? err.code : 'EIO';
        this.stats.errors[code] = (this.stats.errors[code] ?? 0) + 1;
        await sleep(10);
      }
    }
  }

  private async posixOp(): Promise<void> {
    const slots = 1 + Math.floor(Math.random() * TORTURE.posixSlotsPerLockMax);
    const first = Math.floor(Math.random() * (TORTURE.posixSlots - slots + 1));
    const range = { start: first * TORTURE.recordBytes, len: slots * TORTURE.recordBytes };
    const owner = this.posixOwner;
    this.lostSinceLock = 0;
    const timeout = this.cfg.requestTimeoutMs === undefined ? {} : { timeoutMs: this.cfg.requestTimeoutMs };
    const r = await owner.setlk(TORTURE.posixDomain, TORTURE.posixResource, { type: 'write', ...range }, { wait: true, ...timeout });
    try {
      await this.exercise(this.posixFd, range.start, slots, r!.token, () => this.lostSinceLock > 0);
    } finally {
      await owner.setlk(TORTURE.posixDomain, TORTURE.posixResource, { type: 'unlock', ...range });
    }
  }

  private async dlmOp(k: number): Promise<void> {
    const slot = Math.floor(Math.random() * TORTURE.dlmSlots);
    const owner = this.dlmOwners[k]!;
    const timeout = this.cfg.requestTimeoutMs === undefined ? {} : { timeoutMs: this.cfg.requestTimeoutMs };
    const lock: RemoteHandle = await owner.lock(TORTURE.dlmDomain, `slot-${slot}`, 'EX', timeout);
    try {
      await this.exercise(this.dlmFd, slot * TORTURE.recordBytes, 1, lock.token, () => lock.state === 'lost');
    } finally {
      await lock.release();
    }
  }

  /** Check tokens, write, hold, check the writes are still ours. */
  private async exercise(fd: number, at: number, slots: number, token: bigint, lost: () => boolean): Promise<void> {
    const before = read(fd, at, slots);
    let newer = false;
    for (const rec of before) {
      const t = /t(\d+)/.exec(rec)?.[1];
      if (t !== undefined && BigInt(t) >= token) newer = true;
    }
    // The fencing check a storage service makes: a write older than one already applied to the region is refused.
    // Under a lock still held that is a token regression; under a lost one, the fence doing its job.
    if (newer) {
      this.stats.staleWritesRefused++;
      if (!lost()) this.stats.tokenRegressions++;
      return;
    }
    const mine = record(this.cfg.id, ++this.counter, token);
    writeSync(fd, Buffer.from(mine.repeat(slots)), 0, slots * TORTURE.recordBytes, at);
    // Mostly short holds; now and then one long enough to be held across a restart.
    await sleep(Math.random() < TORTURE.longHoldShare ? TORTURE.longHoldMs : Math.random() * TORTURE.shortHoldMsMax);
    const after = read(fd, at, slots);
    const bad = after.findIndex((rec) => rec !== mine);
    if (bad >= 0 && !lost() && this.stats.violations.length < TORTURE.violationsKeptMax) {
      this.stats.violations.push({ at: at + bad * TORTURE.recordBytes, expected: mine.trim(), found: after[bad]!.trim(), time: Date.now() });
    }
  }

  report(type: 'stats' | 'final'): void {
    process.send?.({ type, stats: this.stats });
  }
}

function record(id: number, counter: number, token: bigint): string {
  const s = `w${String(id).padStart(3, '0')} c${String(counter).padStart(9, '0')} t${String(token)}`;
  return s.padEnd(TORTURE.recordBytes - 1, ' ').slice(0, TORTURE.recordBytes - 1) + '\n';
}

function read(fd: number, at: number, slots: number): string[] {
  const buf = Buffer.alloc(slots * TORTURE.recordBytes);
  readSync(fd, buf, 0, buf.length, at);
  const out: string[] = [];
  for (let i = 0; i < slots; i++) out.push(buf.toString('latin1', i * TORTURE.recordBytes, (i + 1) * TORTURE.recordBytes));
  return out;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]!) as WorkerConfig;
  const client = await connect(cfg.url, { name: `torture-${cfg.id}`, connectTimeoutMs: 30_000, ...(cfg.cache === true ? { cache: true } : {}) });
  const w = new Worker(client, cfg);
  process.on('message', (m: { type?: string }) => {
    if (m?.type === 'stop') w.stop();
  });
  // The parent going away (killed, crashed) ends this worker too.
  process.on('disconnect', () => w.stop());
  await w.run();
  await client.close();
  w.report('final');
  process.disconnect?.();
}

main().catch((err: unknown) => {
  process.stderr.write(`torture worker: ${String((err as Error)?.stack ?? err)}\n`);
  process.exit(1);
});
