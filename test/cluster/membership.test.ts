import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Membership, type View } from '../../server/cluster/membership.js';
import { openEtcd } from '../../server/cluster/etcd.js';
import { EtcdCluster, etcdAvailable } from './etcd.js';
import { Relay } from './proxy.js';
import { until } from '../server/support.js';
import { freePort } from '../recovery/support.js';

const run = etcdAvailable() ? describe : describe.skip;

run('cluster membership through a real etcd', () => {
  let etcd: EtcdCluster;
  const open: Membership[] = [];
  const clients: ReturnType<typeof openEtcd>[] = [];

  beforeAll(async () => {
    etcd = await EtcdCluster.start(1);
  }, 30_000);

  afterAll(async () => {
    for (const m of open) await m.close();
    for (const c of clients) c.close();
    await etcd?.stop();
  });

  function member(cluster: string, node: string, endpoints: string[] = etcd.urls, ttlSec = 2, weight = 1): Membership {
    const client = openEtcd(endpoints, 500);
    clients.push(client);
    const m = new Membership({ etcd: client, cluster, node, weight, advertise: `http://127.0.0.1:1/${node}`, ttlSec });
    open.push(m);
    return m;
  }

  const names = (v: View): string[] => v.members.map((m) => m.node);

  it('gives every member the same view under the same generation, and a new generation on each change', async () => {
    const a = member('c1', 'n1');
    const b = member('c1', 'n2', etcd.urls, 2, 3);
    const va = await a.join();
    expect(names(va)).toEqual(['n1']);
    await b.join();
    await until(() => a.view.generation === b.view.generation && a.view.members.length === 2, 5000);
    expect(names(a.view)).toEqual(['n1', 'n2']);
    expect(a.view.members.find((m) => m.node === 'n2')!.weight).toBe(3);
    expect(BigInt(a.view.generation)).toBeGreaterThan(BigInt(va.generation));
    expect(a.mayGrant()).toBe(true);
    expect(b.mayGrant()).toBe(true);

    await b.close();
    await until(() => a.view.members.length === 1, 5000);
    expect(names(a.view)).toEqual(['n1']);
  });

  it('fences a node cut off from etcd before etcd expires it, and takes it back as a new member', async () => {
    const relay = new Relay(Number(new URL(etcd.urls[0]!).port));
    const viaRelay = await relay.start();
    try {
      const survivor = member('c2', 's1');
      const cut = member('c2', 's2', [viaRelay]);
      await survivor.join();
      await cut.join();
      await until(() => survivor.view.members.length === 2, 5000);
      const before = survivor.view.generation;

      let fencedAt = 0;
      let goneAt = 0;
      cut.on('fenced', () => { fencedAt = performance.now(); });
      survivor.on('view', (v) => { if (!goneAt && !names(v).includes('s2')) goneAt = performance.now(); });
      relay.blackhole();
      await until(() => goneAt > 0, 10_000);

      // Rule M2: the cut node stopped granting before the survivor could see it gone.
      expect(fencedAt).toBeGreaterThan(0);
      expect(fencedAt).toBeLessThan(goneAt);
      expect(cut.mayGrant()).toBe(false);
      expect(BigInt(survivor.view.generation)).toBeGreaterThan(BigInt(before));

      relay.pass();
      await until(() => cut.state === 'member', 15_000);
      await until(() => names(survivor.view).includes('s2') && survivor.view.generation === cut.view.generation, 5000);
      expect(cut.mayGrant()).toBe(true);
    } finally {
      await relay.stop();
    }
  }, 40_000);

  it('refuses a second live process with the same node name', async () => {
    const first = member('c3', 'dup');
    await first.join();
    const second = member('c3', 'dup');
    await expect(second.join()).rejects.toMatchObject({ code: 'EINVAL' });
    expect(first.mayGrant()).toBe(true);
  }, 20_000);

  it('fails a join against an unreachable etcd with EETCD, without hanging', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const m = member('c4', 'lonely', [nobody]);
    await expect(m.join()).rejects.toMatchObject({ code: 'EETCD' });
    expect(m.mayGrant()).toBe(false);
  }, 20_000);
});
