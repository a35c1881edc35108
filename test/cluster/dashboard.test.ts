/**
 * The dashboard of a cluster node, in real Chromium: the cluster panel lists
 * the members and the generation the node acts on, shows the cluster-wide
 * grace while a dead node's share is being recovered, and the member gone
 * once it is.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, openDashboard, type Browser } from '../browser/support.js';
import { EtcdCluster, etcdAvailable } from './etcd.js';
import { ADMIN, NodeProcess, holderProcess } from './nodes.js';
import { until } from '../server/support.js';
import { Rendezvous, resourceKey } from '../../src/rendezvous.js';

const run = etcdAvailable() ? describe : describe.skip;

run('the cluster panel of the dashboard (real nodes, real etcd, real Chromium)', () => {
  let etcd: EtcdCluster;
  let browser: Browser;
  const nodes: NodeProcess[] = [];

  beforeAll(async () => {
    etcd = await EtcdCluster.start(1);
    for (const name of ['n1', 'n2']) nodes.push(await NodeProcess.create(name, etcd.endpoints, { graceMs: 6_000, leaseTtl: 2 }));
    await Promise.all(nodes.map((n) => n.start()));
    await until(async () => (await Promise.all(nodes.map((n) => n.cluster()))).every((s) => s.members?.filter((m: { inView: boolean }) => m.inView).length === 2 && !s.grace.inGrace), 20_000);
    browser = await launch();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const n of nodes) await n.kill();
    await etcd?.stop();
  });

  it('lists the members and the generation, shows the grace while a dead node\'s share is recovered, then the member gone', async () => {
    const [n1, n2] = nodes as [NodeProcess, NodeProcess];
    const page = await openDashboard(browser, n1.url, ADMIN);
    const rows = (): Promise<string[]> => page.$$eval('#cluster-panel tr.cluster-member', (trs) => trs.map((tr) => tr.textContent ?? ''));
    await page.waitForSelector('#cluster-panel:not([hidden]) tr.cluster-member', { timeout: 5000 });
    const status = await n1.cluster();
    expect(await rows()).toHaveLength(2);
    expect((await rows()).join('\n')).toMatch(/n1 \(this\).*member/);
    expect(await page.textContent('#cluster-summary')).toContain(`generation ${status.generation}`);
    expect(await page.textContent('#cluster-grace')).toContain('grace: none');

    // A client holding a lock on n2 dies with it: n1 recovers n2's share until the grace's bound (6 s).
    let onN2 = '';
    const ring = new Rendezvous([{ name: 'n1', weight: 1 }, { name: 'n2', weight: 1 }]);
    for (let i = 0; onN2 === ''; i++) if (ring.master(resourceKey('lin', `inode:${i}`)) === 'n2') onN2 = `inode:${i}`;
    const holder = await holderProcess(n2, 'dies-with-n2', [onN2]);
    await Promise.all([n2.kill(), holder.kill()]);
    await page.waitForFunction(`document.getElementById('cluster-grace')?.textContent.includes('in force')`, undefined, { timeout: 15_000 });
    expect(await page.textContent('#cluster-grace')).toContain('nodes waiting for clients to reclaim: n1');
    await page.screenshot({ path: '/tmp/lockscope-cluster-panel.png', clip: { x: 0, y: 0, width: 1500, height: 500 } });
    expect(await rows()).toHaveLength(1);
    await page.waitForFunction(`document.getElementById('cluster-grace')?.textContent.includes('grace: none')`, undefined, { timeout: 15_000 });
    await page.close();
  }, 60_000);
});
