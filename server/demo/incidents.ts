/**
 * The demo's incidents, staged on a schedule so every dashboard panel has
 * something real in it within a minute:
 * - an ABBA deadlock between two nodes renaming across directories (the
 *   detector breaks it: the deadlock history fills);
 * - a slow holder (an fsck holding an inode in EX) that a chain of waiters
 *   queues behind past the soft timeout: a hang, a hang-dump, a root blocker
 *   in the who-blocks-whom tree; every other time it holds long enough to
 *   become persistent;
 * - a client that vanishes while holding locks: its session goes
 *   disconnected, then expires, and its waiters are granted.
 */

import { connect, type LockClient } from '../../client/index.js';
import { DEMO } from './config.js';
import type { Ctx } from './workload.js';

export async function abba(ctx: Ctx, a: LockClient, b: LockClient, n: number): Promise<void> {
  const x = `inode:dir-a-${n % 4}`;
  const y = `inode:dir-b-${n % 4}`;
  const oa = a.owner(`node-1/rename-${n}`);
  const ob = b.owner(`node-2/rename-${n}`);
  const la = await oa.lock('lin', x, 'EX');
  const lb = await ob.lock('lin', y, 'EX');
  // Each holds one directory and wants the other's: the second request closes the cycle.
  // The victim lets go of what it holds, as a real task does on EDEADLK, so the survivor gets its lock.
  // timeoutMs bounds the incident even if a reply is lost, so one round can never wedge the next.
  const wa = oa.lock('lin', y, 'EX', { timeoutMs: DEMO.incidentTimeoutMs }).catch((err: unknown) => la.release().then(() => { throw err; }));
  await ctx.sleep(300);
  const wb = ob.lock('lin', x, 'EX', { timeoutMs: DEMO.incidentTimeoutMs }).catch((err: unknown) => lb.release().then(() => { throw err; }));
  const results = await Promise.allSettled([wa, wb]);
  await ctx.sleep(200);
  for (const r of results) if (r.status === 'fulfilled') await r.value.release();
  await Promise.allSettled([la.release(), lb.release()]);
}

export async function slowHolder(ctx: Ctx, nodes: LockClient[], n: number): Promise<void> {
  const [c1, c2, c3] = nodes as [LockClient, LockClient, LockClient];
  const holdMs = n % 2 === 0 ? DEMO.softTimeoutMs + 2_000 : DEMO.softTimeoutMs + DEMO.persistentAfterMs + 2_000;
  const fsck = c3.owner(`node-3/fsck-${n}`);
  const stat = c1.owner(`node-1/stat-${n}`);
  const rename = c2.owner(`node-2/mv-${n}`);
  const held = await fsck.lock('lin', 'inode:root', 'EX');
  const statDir = await stat.lock('lin', 'inode:home', 'PR');
  // stat waits for fsck; rename waits for stat: a chain with fsck at its root.
  const waits = [stat.lock('lin', 'inode:root', 'PR'), rename.lock('lin', 'inode:home', 'EX')];
  // The demo may stop mid-incident; a wait nobody awaits then must not become an unhandled rejection.
  for (const w of waits) w.catch(() => {});
  await ctx.sleep(holdMs);
  await held.release();
  // Only stat's wait: rename's ends when stat lets go of the directory, just below.
  const [s] = await Promise.allSettled(waits.slice(0, 1));
  if (s?.status === 'fulfilled') await s.value.release();
  await statDir.release();
  const [, r] = await Promise.allSettled(waits);
  if (r.status === 'fulfilled') await r.value.release();
}

/** A client that holds locks and then drops off the network (no goodbye): its session expires after the lease. */
export async function vanish(ctx: Ctx, url: string, token: string | undefined, waiter: LockClient, n: number): Promise<void> {
  const c = await connect(url, { name: `node-4`, ...(token === undefined ? {} : { token }) });
  try {
    const o = c.owner(`node-4/smbd-${n}`);
    await o.lock('lin', `inode:share-${n % 3}`, 'EX');
    await o.setlk('advlock', `/export/share/db-${n % 3}.lck`, { type: 'write', start: 0, len: 0 });
    const w = waiter.owner(`node-1/backup-${n}`).lock('lin', `inode:share-${n % 3}`, 'PR');
    await ctx.sleep(1_000);
    c.conn.vanish();
    const l = await w;
    await ctx.sleep(500);
    await l.release();
  } finally {
    await c.close().catch(() => {});
  }
}
