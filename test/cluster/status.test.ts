import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClusterNode } from '../../server/cluster/node.js';
import { openEtcd } from '../../server/cluster/etcd.js';
import { formatClusterStatus, readClusterStatus } from '../../server/cluster/status.js';
import { Rendezvous, resourceKey } from '../../src/rendezvous.js';
import { EtcdCluster, etcdAvailable } from './etcd.js';
import { until } from '../server/support.js';

const run = etcdAvailable() ? describe : describe.skip;

run('cluster status (real etcd)', () => {
  let etcd: EtcdCluster;
  const nodes: ClusterNode[] = [];
  let reader: ReturnType<typeof openEtcd>;

  beforeAll(async () => {
    etcd = await EtcdCluster.start(1);
    reader = openEtcd(etcd.urls, 1000);
    for (const [name, weight] of [['n1', 1], ['n2', 3]] as const) {
      const n = new ClusterNode({
        endpoints: etcd.urls, cluster: 'st', node: name, weight, advertise: `http://127.0.0.1:7${weight}00`, ttlSec: 2, graceMs: 30_000, tokenBlock: 500,
      });
      nodes.push(n);
      await n.start();
    }
    await until(() => nodes.every((n) => n.view.members.length === 2 && n.graceRecord.recovery === 0), 10_000);
  }, 30_000);

  afterAll(async () => {
    for (const n of nodes) await n.close();
    reader?.close();
    await etcd?.stop();
  });

  it('reads members, generation, grace and token mark from etcd alone, and names a resource\'s master', async () => {
    const s = await readClusterStatus(reader, 'st', { domain: 'lin', resource: 'inode:7' });
    expect(s.generation).toBe(nodes[0]!.view.generation);
    expect(s.members.map((m) => [m.node, m.weight, m.advertise, m.inView, m.live])).toEqual([
      ['n1', 1, 'http://127.0.0.1:7100', true, true],
      ['n2', 3, 'http://127.0.0.1:7300', true, true],
    ]);
    expect(s.grace.inGrace).toBe(false);
    expect(s.tokenMark).toBeGreaterThanOrEqual(1000);
    const expected = new Rendezvous([{ name: 'n1', weight: 1 }, { name: 'n2', weight: 3 }]).master(resourceKey('lin', 'inode:7'));
    expect(s.master).toEqual({ domain: 'lin', resource: 'inode:7', node: expected });
    expect(await nodes[1]!.status({ domain: 'lin', resource: 'inode:7' })).toMatchObject({ generation: s.generation, master: s.master });
  });

  it('prints one line per member for a person, with control characters escaped', async () => {
    const s = await readClusterStatus(reader, 'st', { domain: 'lin', resource: 'evil\u001b[2J\rname' });
    const text = formatClusterStatus(s);
    expect(text).toContain(`cluster st: 2 members, generation ${s.generation}`);
    expect(text).toMatch(/^n1 +1 +member/m);
    expect(text).toMatch(/^n2 +3 +member/m);
    expect(text).toContain('grace: none');
    expect(text).toContain('lin/evil\\x1b[2J\\x0dname is mastered by');
    expect(text).not.toContain('\u001b');
  });

  it('says whom a node\'s recovery still waits for, as a node answers it (GET /api/cluster)', async () => {
    const s = await readClusterStatus(reader, 'st');
    expect(nodes[0]!.recovery()).toEqual({ since: null, waitingFor: [], waiting: 0, handoversFrom: [], ready: true, boundAt: null });
    const recovering = { since: Date.UTC(2026, 11, 3, 7), waitingFor: ['app-1#ab', 'evil\u001b[2J'], waiting: 3, handoversFrom: ['n2'], ready: true, boundAt: Date.UTC(2026, 11, 3, 7, 1) };
    const text = formatClusterStatus({ ...s, node: 'n1', recovery: recovering });
    expect(text).toContain('n1 is recovering since 2026-12-03T07:00:00.000Z');
    expect(text).toContain('waiting for 3 clients to reclaim: app-1#ab, evil\\x1b[2J, … (1 more)');
    expect(text).toContain('waiting for the handover lists of n2');
    expect(text).toContain('lifted anyway at 2026-12-03T07:01:00.000Z');
    expect(formatClusterStatus({ ...s, node: 'n1', recovery: nodes[0]!.recovery() })).not.toContain('recovering');
  });

  it('answers an empty cluster without failing', async () => {
    const s = await readClusterStatus(reader, 'nobody-here');
    expect(s).toMatchObject({ cluster: 'nobody-here', generation: '0', members: [], tokenMark: 0 });
    expect(formatClusterStatus(s)).toContain('cluster nobody-here: 0 members, generation 0');
  });
});
