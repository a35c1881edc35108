/**
 * The demo workload (`lockscope demo`, which `npm start` runs; never
 * `lockscope serve`): simulated cluster nodes, each a real client of this server
 * over loopback, so their sessions, owners and stacks show up exactly as a
 * production client's would. Steady traffic comes from demo/workload.ts,
 * the staged incidents (deadlock, hang, vanished client) from
 * demo/incidents.ts, the settings from demo/config.ts.
 */

import { connect, type LockClient } from '../client/index.js';
import { DEMO, DEMO_DOMAINS } from './demo/config.js';
import { abba, slowHolder, vanish } from './demo/incidents.js';
import { runNode, type Ctx } from './demo/workload.js';

export { DEMO, DEMO_DOMAINS };

export interface Demo {
  stop(): Promise<void>;
}

export async function startDemo(url: string, options: { token?: string } = {}): Promise<Demo> {
  let stopped = false;
  const sleepers = new Set<() => void>();
  const ctx: Ctx = {
    stopped: () => stopped,
    // Sleeps end early when the demo stops, and one begun after it stopped ends at once (an incident that ends
    // after stop() would otherwise sleep out its 15-30 s interval before its loop sees `stopped`).
    sleep: (ms) => stopped ? Promise.resolve() : new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        sleepers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      sleepers.add(done);
    }),
  };
  const token = options.token;
  const clients: LockClient[] = [];
  for (let i = 1; i <= DEMO.nodes; i++) clients.push(await connect(url, { name: `node-${i}`, ...(token === undefined ? {} : { token }) }));
  const tasks: Promise<void>[] = clients.flatMap((c, i) => runNode(ctx, c, i + 1));
  // Rounds start every `everyMs` (start to start), not `everyMs` after the previous round ended: a round lasts
  // up to ~11 s (a persistent hang, an expiring lease), and sleeping after it made the "every 25 s" the README
  // states 30-36 s in fact. A round that overruns its slot moves the next start to the following slot.
  const every = (firstMs: number, everyMs: number, run: (n: number) => Promise<void>): Promise<void> => (async () => {
    const origin = Date.now() + firstMs;
    await ctx.sleep(firstMs);
    for (let n = 1; !stopped; n++) {
      await run(n).catch(() => {});
      await ctx.sleep(nextSlotMs(origin, everyMs, Date.now()));
    }
  })();
  tasks.push(
    every(DEMO.deadlockFirstMs, DEMO.deadlockEveryMs, (n) => abba(ctx, clients[0]!, clients[1]!, n)),
    every(DEMO.slowHolderFirstMs, DEMO.slowHolderEveryMs, (n) => slowHolder(ctx, clients, n)),
    every(DEMO.disconnectFirstMs, DEMO.disconnectEveryMs, (n) => vanish(ctx, url, token, clients[0]!, n)),
  );
  return {
    async stop(): Promise<void> {
      stopped = true;
      for (const wake of [...sleepers]) wake();
      // Closing the clients fails their pending requests, which ends every task's current round.
      await Promise.allSettled(clients.map((c) => c.close()));
      await Promise.allSettled(tasks);
    },
  };
}

/** Milliseconds from `now` to the next start of a schedule that began at `origin` with period `everyMs`. */
export function nextSlotMs(origin: number, everyMs: number, now: number): number {
  const elapsed = Math.max(0, now - origin);
  const wait = everyMs - (elapsed % everyMs);
  return wait === everyMs && elapsed > 0 ? 0 : wait;
}
