/**
 * Reads and big releases that must not hold the event loop
 * (server/README.md "Reads", rules R1–R3 and B5): snapshot reads bounded,
 * feed refreshes throttled per connection, a session's expiry, goodbye and
 * releaseAll done in slices that yield. The server runs in this process
 * (createServer on a free port), so a sampler on this event loop sees
 * whether a release ran in one turn or in several.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import type { LockClient } from '../../client/index.js';
import type { LockServer } from '../../server/index.js';
import { serverLimits } from '../../server/limits.js';
import { api, client, linkOf, sleep, startServer, TOKENS, until } from './support.js';

let server: LockServer | null = null;
const clients: LockClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => {});
  await server?.close();
  server = null;
});

/**
 * Runs on every turn of this event loop (setImmediate) until stopped: the
 * values of `read` strictly between `low` and `high` it saw. A release done
 * in one turn leaves none; one done in slices leaves some.
 */
function sampler(read: () => number, low: number, high: number): { stop(): number[] } {
  const seen: number[] = [];
  let on = true;
  const tick = (): void => {
    if (!on) return;
    const v = read();
    if (v > low && v < high && seen.at(-1) !== v) seen.push(v);
    setImmediate(tick);
  };
  setImmediate(tick);
  return {
    stop() {
      on = false;
      return seen;
    },
  };
}

const N = 10_000;

async function holdMany(c: LockClient, n: number, prefix: string): Promise<ReturnType<LockClient['owner']>> {
  const o = c.owner(`${prefix}-owner`);
  for (let i = 0; i < n; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, n - i) }, (_, j) => o.lock('lin', `${prefix}-${i + j}`, 'EX')));
  }
  return o;
}

describe('big releases yield to the event loop (B5)', () => {
  it("a session's lease expiry of 10,000 locks runs in slices, and every lock goes", async () => {
    server = await startServer({ leaseMs: 200 });
    const c = await client(server, 'many');
    await holdMany(c, N, 'exp');
    const lm = server.manager;
    expect(lm.lockTotal).toBe(N);
    const s = sampler(() => lm.lockTotal, 0, N);
    linkOf(c).disconnect(); // gone without goodbye: the lease runs out
    await until(() => lm.lockTotal === 0, 20_000);
    expect(s.stop().length).toBeGreaterThanOrEqual(2);
    await c.close().catch(() => {});
  });

  it("a client's goodbye and an owner's releaseAll run in slices too", async () => {
    server = await startServer();
    const lm = server.manager;
    const c = await client(server, 'all');
    const o = await holdMany(c, N, 'ra');
    let s = sampler(() => lm.lockTotal, 0, N);
    await o.releaseAll();
    expect(lm.lockTotal).toBe(0);
    expect(s.stop().length).toBeGreaterThanOrEqual(2);
    await holdMany(c, N, 'bye');
    s = sampler(() => lm.lockTotal, 0, N);
    await c.close();
    await until(() => lm.lockTotal === 0, 20_000);
    expect(s.stop().length).toBeGreaterThanOrEqual(2);
  });
});

describe('snapshot reads (R1–R3)', () => {
  it('/api/snapshot, /api/locks and /api/owners carry a bounded page, and the snapshot says what it left out', async () => {
    server = await startServer();
    const lm = server.manager;
    const owners = Array.from({ length: 10 }, (_, i) => lm.owner(`local-${i}`));
    const total = serverLimits.apiSnapshotLocksMax + 5_000;
    for (let i = 0; i < total; i++) await owners[i % 10]!.lock('lin', `big-${i}`, 'EX');
    const { status, body } = await api(server, '/api/snapshot');
    expect(status).toBe(200);
    const shown = body.domains.flatMap((d: any) => d.resources).reduce((n: number, r: any) => n + r.granted.length + r.converting.length + r.waiting.length, 0);
    expect(shown).toBe(serverLimits.apiSnapshotLocksMax);
    expect(body.truncated).toEqual({ locks: serverLimits.apiSnapshotLocksMax, total });
    const locks = await api(server, '/api/locks');
    expect(locks.body).toHaveLength(Math.min(serverLimits.apiRowsMax, serverLimits.apiSnapshotLocksMax));
    const ownersRead = await api(server, '/api/owners');
    expect(ownersRead.body.map((o: any) => o.name).sort()).toEqual(owners.map((o) => o.name).sort());
    // The core's own snapshot, for dumps, is still whole.
    expect(lm.snapshot().truncated).toBeUndefined();
    for (const o of owners) o.releaseAll();
  });

  it("a feed connection's refreshes are throttled: thirty at once get two snapshots, the last one current", async () => {
    server = await startServer();
    const feed = io(`${server.url}/feed`, { transports: ['websocket'], auth: { token: TOKENS.viewer }, reconnection: false, forceNew: true });
    const snapshots: any[] = [];
    feed.on('snapshot', (s) => snapshots.push(s));
    await until(() => snapshots.length === 1);
    const c = await client(server, 'feeder');
    clients.push(c);
    for (let i = 0; i < 30; i++) feed.emit('refresh');
    await until(() => snapshots.length >= 2);
    // The throttled one, for all the others; it is sent once the connection's interval has passed.
    await c.owner('late').lock('lin', 'after-the-refreshes', 'EX');
    await until(() => snapshots.length >= 3);
    await sleep(1200);
    expect(snapshots).toHaveLength(3);
    const names = snapshots[2].domains.flatMap((d: any) => d.resources.map((r: any) => r.name));
    expect(names).toContain('after-the-refreshes');
    feed.disconnect();
  });
});
