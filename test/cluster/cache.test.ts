/**
 * Cached grants (client/cache.ts) across a cluster of real `lockscope
 * serve` nodes on a real etcd: grants cached on different masters are
 * re-granted without a message, a rival attached to another node calls one
 * back, and a failover keeps the grant in use (reclaimed on the new master,
 * token higher) and gives up the idle one, which the rival then gets; and
 * owners of one cluster client pass a grant among them in place on its
 * master (C4, C9), once each is known there.
 */

import { describe, expect, it } from 'vitest';
import type { ReclaimReport } from '../../client/index.js';
import { Rendezvous, resourceKey } from '../../src/rendezvous.js';
import { etcdAvailable } from './etcd.js';
import { ADMIN, clusterFixture } from './nodes.js';
import { until } from '../server/support.js';

const run = etcdAvailable() ? describe : describe.skip;

function onNode(members: string[], node: string, count: number, prefix: string): string[] {
  const ring = new Rendezvous(members.map((name) => ({ name, weight: 1 })));
  const out: string[] = [];
  for (let i = 0; out.length < count && i < 10_000; i++) if (ring.master(resourceKey('lin', `${prefix}${i}`)) === node) out.push(`${prefix}${i}`);
  return out;
}

run('cached grants across a cluster (real nodes, real etcd)', () => {
  const f = clusterFixture({ node: { graceMs: 30_000, leaseTtl: 2 } });

  it('re-granted without a message on any master, called back across nodes, and through a failover: in use kept, idle given up', async () => {
    const members = ['n1', 'n2', 'n3'];
    const victim = f.nodes.find((n) => n.name === 'n3')!;
    const holder = await f.client([f.nodes[0]!.url], 'holder', { cache: { minHoldMs: 0 } });
    const rival = await f.client([f.nodes[1]!.url], 'rival');
    const reports: ReclaimReport[] = [];
    holder.on('reclaim', (r) => reports.push(r));
    const [inUseRes, idleRes] = onNode(members, 'n3', 2, 'cached:');
    const [otherRes] = onNode(members, 'n1', 1, 'cached:');
    const o = holder.owner('job');

    const inUse = await o.lock('lin', inUseRes!, 'EX');
    const idle = await o.lock('lin', idleRes!, 'EX');
    await idle.release();
    const again = await o.lock('lin', idleRes!, 'PR');
    expect(again.id).toBe(idle.id);
    expect(again.token).toBeGreaterThan(idle.token);
    await again.release();

    // A rival attached to n2 wants a grant cached on n1: the callback crosses nodes, the grant moves.
    const other = await o.lock('lin', otherRes!, 'EX');
    await other.release();
    const taken = await rival.owner('r').lock('lin', otherRes!, 'EX', { timeoutMs: 5_000 });
    expect(taken.token).toBeGreaterThan(other.token);
    await taken.release();

    // n3 dies: the grant in use is reclaimed on its new master; the idle one is given up once reclaimed (C5).
    const before = inUse.token;
    await victim.kill();
    await until(() => reports.length > 0, 30_000);
    expect(reports[0]!.lost).toEqual([]);
    expect(inUse.state).toBe('granted');
    expect(inUse.token).toBeGreaterThan(before);
    const got = await rival.owner('r').lock('lin', idleRes!, 'EX', { timeoutMs: 30_000 });
    expect(got.state).toBe('granted');
    await got.release();
    // The rival waits for the grant in use until its user lets go.
    let granted = false;
    const waiting = rival.owner('r').lock('lin', inUseRes!, 'EX', { timeoutMs: 30_000 }).then((l) => { granted = true; return l; });
    await new Promise((r) => setTimeout(r, 300));
    expect(granted).toBe(false);
    await inUse.release();
    const last = await waiting;
    expect(last.token).toBeGreaterThan(inUse.token);
    await last.release();
  }, 90_000);

  it('owners of one client pass a grant on its master among them without a new grant there: idle (C4) and at the release (C9)', async () => {
    const members = ['n1', 'n2', 'n3'];
    const master = f.nodes.find((n) => n.name === 'n2')!;
    // Attached to n1; the resources are mastered on n2, where each owner becomes known by a first lock of its own.
    const c = await f.client([f.nodes[0]!.url], 'owners', { cache: true });
    const [res, aOwn, bOwn] = onNode(members, 'n2', 3, 'handover:');
    const [a, b] = [c.owner('a'), c.owner('b')];
    await (await a.lock('lin', aOwn!, 'EX')).release();
    await (await b.lock('lin', bOwn!, 'EX')).release();
    const grantsOn = async (): Promise<{ id: number; owner: string }[]> => {
      const r = await fetch(`${master.url}/api/locks?domain=lin`, { headers: { authorization: `Bearer ${ADMIN}` } });
      const rows = (await r.json()) as { id: number; owner: string; resource: string }[];
      return rows.filter((l) => l.resource === res);
    };

    // C4: a's idle grant passes to b in place: the same lock on n2, now b's, with a higher token.
    const first = await a.lock('lin', res!, 'EX');
    const asA = (await grantsOn()).find((l) => l.id === first.id)!.owner;
    await first.release();
    const second = await b.lock('lin', res!, 'EX');
    expect(second.id).toBe(first.id);
    expect(second.token).toBeGreaterThan(first.token);
    await until(async () => (await grantsOn()).some((l) => l.id === first.id && l.owner !== asA && /b/.test(l.owner)), 5_000);

    // C9: a asks while b uses it: a waits in the client, and is handed the grant at b's release (within the minimum
    // hold: a wait that lasts 10 ms also reaches the server, whose callback then lets the grant pass only that long).
    let handed = false;
    const third = a.lock('lin', res!, 'EX').then((l) => { handed = true; return l; });
    await new Promise((r) => setTimeout(r, 2));
    expect(handed).toBe(false);
    await second.release();
    const got = await third;
    expect(got.id).toBe(first.id);
    expect(got.token).toBeGreaterThan(second.token);
    await got.release();
    expect((await grantsOn()).map((l) => l.id)).toEqual([first.id]);
  }, 60_000);
});
