/**
 * etcd's own failure: the leader of a three-member etcd cluster killed with
 * SIGKILL under a lockscope cluster whose client holds locks on every node.
 * Every etcd call has a deadline and moves on to another endpoint (E1), so
 * the nodes keep (or regain) their membership; a node that could not renew
 * in time fences itself and its locks move (B4, F1). Nothing held by the
 * live client is lost, and new locks are granted afterwards.
 */

import { describe, expect, it } from 'vitest';
import type { ReclaimReport, RemoteHandle } from '../../client/index.js';
import { etcdAvailable } from './etcd.js';
import { clusterFixture, settledCluster } from './nodes.js';
import { until } from '../server/support.js';

const run = etcdAvailable() ? describe : describe.skip;

run('the etcd leader killed under a lockscope cluster (three etcd members, three nodes)', () => {
  const f = clusterFixture({ etcdMembers: 3, node: { graceMs: 20_000, leaseTtl: 3 } });
  const { nodes } = f;

  it('keeps every lock the client holds, and grants new ones once etcd has a new leader', async () => {
    const client = await f.client(nodes.map((n) => n.url), 'through-etcd-failover');
    const reports: ReclaimReport[] = [];
    client.on('reclaim', (r) => reports.push(r));
    const o = client.owner('job');
    const held: RemoteHandle[] = [];
    const masters = new Set<string>();
    for (let i = 0; held.length < 9; i++) {
      held.push(await o.lock('lin', `inode:${i}`, 'EX'));
      masters.add(client.router!.master('lin', `inode:${i}`)!);
    }
    expect(masters.size).toBe(3);

    const leader = await f.etcd.leader();
    expect(leader).toBeGreaterThanOrEqual(0);
    f.etcd.kill(leader);
    // A new leader among the two left; the lockscope members settle on one view with all three nodes.
    await until(async () => (await f.etcd.leader()) >= 0, 15_000);
    await settledCluster(nodes, 3, 40_000);
    // Whatever moved (a node that fenced itself while etcd elected) was reclaimed, nothing lost.
    await client.router!.failover.idle();
    expect(reports.flatMap((r) => r.lost)).toEqual([]);
    for (const h of held) expect(h.state).toBe('granted');
    const fresh = await o.lock('lin', 'inode:after-election', 'EX', { timeoutMs: 10_000 });
    expect(fresh.state).toBe('granted');
    const fenced = nodes.flatMap((n) => n.events('cluster-fenced').map(() => n.name));
    console.log(`etcd leader e${leader} killed: nodes fenced meanwhile: [${fenced.join(', ')}]; locks moved: ${reports.reduce((n, r) => n + r.reclaimed, 0)}`);
    for (const h of [...held, fresh]) await h.release();
  }, 150_000);
});
