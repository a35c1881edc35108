/**
 * The demo's steady traffic: what the nodes of a clustered file system do
 * all day. Lookups take inode locks in PR and some convert to EX to update
 * (the `lin` domain); writers and readers take byte ranges of file data and
 * carry the file size in the value block (`data`); NFS/SMB clients take
 * POSIX advisory locks (`advlock`). Every node also caches directory inode
 * locks in PR for a long time, as a real cluster's lock cache does, so the
 * lock table is never nearly empty.
 */

import type { LockClient } from '../../client/index.js';
import type { RemoteOwner } from '../../client/remote-owner.js';
import { DEMO } from './config.js';

export interface Ctx {
  stopped: () => boolean;
  sleep: (ms: number) => Promise<void>;
}

export const rand = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo + 1));
/** Lock traffic is skewed: a few hot inodes get most of it, which is what makes real contention. */
const hot = (n: number): number => (Math.random() < 0.6 ? rand(1, Math.max(1, Math.floor(n / 10))) : rand(1, n));

/** Errors a demo task expects (a deadlock victim, a lost session, the demo stopping) end one round, never the task. */
async function round(ctx: Ctx, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch {
    await ctx.sleep(rand(50, 200));
  }
}

async function lookups(ctx: Ctx, o: RemoteOwner): Promise<void> {
  while (!ctx.stopped()) {
    await round(ctx, async () => {
      const l = await o.lock('lin', `inode:${hot(DEMO.inodes)}`, 'PR', { timeoutMs: DEMO.requestTimeoutMs });
      try {
        await ctx.sleep(rand(5, 80));
        // An update: the lookup found what it was after and now changes it (two of these on one inode are a conversion deadlock).
        if (Math.random() < DEMO.updateShare) {
          await l.convert('EX', { timeoutMs: DEMO.requestTimeoutMs });
          await ctx.sleep(rand(10, 60));
        }
      } finally {
        await l.release();
      }
      await ctx.sleep(rand(20, 150));
    });
  }
}

async function fileData(ctx: Ctx, o: RemoteOwner, writer: boolean): Promise<void> {
  const size = new Uint8Array(DEMO.lvbBytes);
  while (!ctx.stopped()) {
    await round(ctx, async () => {
      const file = hot(DEMO.files);
      const block = rand(0, 15);
      const range = { start: block * 65536, end: (block + rand(1, 4)) * 65536 };
      const l = await o.lock('data', `file:${file}`, writer ? 'EX' : 'PR', { range, timeoutMs: DEMO.requestTimeoutMs });
      await ctx.sleep(rand(20, 200));
      // The writer publishes the file's new size in the value block, as a cluster file system does.
      if (writer) new DataView(size.buffer).setFloat64(0, range.end);
      await l.release(writer ? { lvb: size } : undefined);
      await ctx.sleep(rand(50, 300));
    });
  }
}

async function advisory(ctx: Ctx, o: RemoteOwner): Promise<void> {
  while (!ctx.stopped()) {
    await round(ctx, async () => {
      const path = `/export/home/user${rand(1, 8)}/mail.${hot(DEMO.files)}`;
      const start = rand(0, 7) * 512;
      const type = Math.random() < 0.4 ? 'write' : 'read';
      await o.setlk('advlock', path, { type, start, len: 1024 }, { wait: true, timeoutMs: DEMO.requestTimeoutMs });
      try {
        await ctx.sleep(rand(30, 250));
      } finally {
        await o.setlk('advlock', path, { type: 'unlock', start: 0, len: 0 });
      }
      await ctx.sleep(rand(50, 300));
    });
  }
}

/** Directory inodes each node keeps cached in PR; lookups of them never conflict. */
async function cache(ctx: Ctx, o: RemoteOwner, node: number): Promise<void> {
  for (let i = 0; i < DEMO.cachedPerNode && !ctx.stopped(); i++) {
    await round(ctx, async () => {
      await o.lock('lin', `dir:${(i * 7 + node * 3) % (DEMO.cachedPerNode * 2)}`, 'PR', { timeoutMs: DEMO.requestTimeoutMs });
    });
  }
}

/** Every task of one node; resolves when the demo stops. */
export function runNode(ctx: Ctx, client: LockClient, node: number): Promise<void>[] {
  const name = (task: string): string => `node-${node}/${task}`;
  const tasks = [cache(ctx, client.owner(name('dcache')), node)];
  for (let i = 1; i <= DEMO.lookupTasksPerNode; i++) tasks.push(lookups(ctx, client.owner(name(`nfsd-${i}`))));
  tasks.push(fileData(ctx, client.owner(name('writeback')), true), fileData(ctx, client.owner(name('readahead')), false));
  tasks.push(advisory(ctx, client.owner(name('lockd'))));
  return tasks;
}
