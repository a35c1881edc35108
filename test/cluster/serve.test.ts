/**
 * Three real `lockscope serve` nodes on a real etcd: they agree on the view
 * and on every resource's master, a node grants only what it masters, a
 * killed node's share is recovered on the survivors while the rest keeps
 * granting, tokens keep increasing across the failover, and a node paused
 * past its lease grants nothing when it runs again.
 */

import { describe, expect, it } from 'vitest';
import { LockClient } from '../../client/index.js';
import { LockError } from '../../src/index.js';
import { EtcdCluster, etcdAvailable } from './etcd.js';
import { ADMIN, CLIENT, NodeProcess, clusterFixture, holderProcess, runCli, runServe } from './nodes.js';
import { until } from '../server/support.js';
import { openEtcd } from '../../server/cluster/etcd.js';
import { freePort } from '../recovery/support.js';

const run = etcdAvailable() ? describe : describe.skip;

async function masterOf(n: NodeProcess, resource: string): Promise<string> {
  const s = await n.cluster(`?domain=lin&resource=${encodeURIComponent(resource)}`);
  return s.master.node as string;
}

/** A resource name that `node` masters under the current view, the first of `inode:0…`. */
async function mastered(n: NodeProcess, node: string, skip = new Set<string>()): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const r = `inode:${i}`;
    if (!skip.has(r) && (await masterOf(n, r)) === node) return r;
  }
  throw new Error(`no resource mastered by ${node}`);
}

run('a cluster of lockscope serve processes (real etcd)', () => {
  const f = clusterFixture({ node: { graceMs: 4000 }, settleMs: 20_000 });
  const { nodes } = f;
  const client = (n: NodeProcess, name: string): Promise<LockClient> => f.client(n.url, name);

  it('agrees on members and masters on every node, and grants only what a node masters', async () => {
    const views = await Promise.all(nodes.map((n) => n.cluster('?domain=lin&resource=inode:5')));
    expect(views.map((v) => v.node)).toEqual(['n1', 'n2', 'n3']);
    for (const v of views) {
      expect(v.members.map((m: { node: string; inView: boolean; live: boolean }) => [m.node, m.inView, m.live])).toEqual([
        ['n1', true, true], ['n2', true, true], ['n3', true, true],
      ]);
      expect(v.generation).toBe(views[0].generation);
      expect(v.master).toEqual(views[0].master);
    }

    const r1 = await mastered(nodes[0]!, 'n1');
    const r2 = await mastered(nodes[0]!, 'n2');
    const c1 = await client(nodes[0]!, 'app-on-n1');
    const held = await c1.owner('job').lock('lin', r1, 'EX');
    expect(held.state).toBe('granted');
    // An owner that talks to n1 only (the cluster client would route it to n2): n1 refuses what it does not master.
    const err = await c1.directOwner('job').lock('lin', r2, 'EX').catch((e: LockError) => e);
    expect(err).toBeInstanceOf(LockError);
    expect(err).toMatchObject({ code: 'ESTALE', generation: views[0].generation, node: 'n1' });
    held.release();
  }, 30_000);

  it('keeps a client\'s record while another session of the same client holds locks on the node (B5)', async () => {
    const n1 = nodes[0]!;
    const r = await mastered(n1, 'n1');
    const first = await client(n1, 'twice-connected');
    const l = await first.owner('o').lock('lin', r, 'EX');
    // The same client connected again (as after a connection it gave up on), its second session ending first.
    const second = new LockClient(n1.url, { token: CLIENT, name: 'twice-connected' }, first.identity);
    await second.conn.open();
    await second.close();
    await until(() => n1.events('session-ended').some((e) => e.client === 'twice-connected'), 5_000);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const reader = openEtcd(f.etcd.urls, 1000);
    try {
      const keys = await reader.getAll().prefix('/lockscope/').keys();
      expect(keys.filter((k) => k.endsWith(`/clients/n1/${first.identity.clientId}`))).toHaveLength(1);
    } finally {
      reader.close();
    }
    await l.release();
  }, 30_000);

  it('lockscope cluster status prints the cluster from etcd or from a node, for a person or as JSON', async () => {
    const fromEtcd = await runCli(['cluster', 'status', '--etcd', f.etcd.endpoints, '--domain', 'lin', '--resource', 'inode:5']);
    expect(fromEtcd.status).toBe(0);
    const g = (await nodes[0]!.cluster()).generation;
    expect(fromEtcd.stdout).toContain(`cluster default: 3 members, generation ${g}`);
    expect(fromEtcd.stdout).toMatch(/^n1 +1 +member/m);
    expect(fromEtcd.stdout).toContain('grace: none');
    const master = await masterOf(nodes[0]!, 'inode:5');
    expect(fromEtcd.stdout).toContain(`lin/inode:5 is mastered by ${master}`);

    const fromNode = await runCli(['cluster', 'status', '--server', nodes[1]!.url, '--json'], { LOCKSCOPE_TOKEN: ADMIN });
    expect(fromNode.status).toBe(0);
    const s = JSON.parse(fromNode.stdout);
    expect(s).toMatchObject({ cluster: 'default', generation: g, node: 'n2' });
    expect(s.members.map((m: { node: string }) => m.node)).toEqual(['n1', 'n2', 'n3']);

    expect((await runCli(['cluster', 'status'])).status).toBe(2);
    expect((await runCli(['cluster', 'status', '--etcd', f.etcd.endpoints, '--domain', 'lin'])).status).toBe(2);
    const down = await runCli(['cluster', 'status', '--server', `http://127.0.0.1:${await freePort()}`]);
    expect(down.status).toBe(1);
  }, 30_000);

  it('recovers a killed node\'s share on the survivors while their own resources keep granting; tokens keep increasing', async () => {
    const [n1, n2, n3] = nodes as [NodeProcess, NodeProcess, NodeProcess];
    const onN3 = await mastered(n1, 'n3');
    const onN1 = await mastered(n1, 'n1');
    // The holder's client runs in its own process and dies with its node: nobody holds its lock any more, and the
    // grace that waits for it runs to its bound (a live client would reclaim it: failover.test.ts).
    const victim = await holderProcess(n3, 'app-on-n3', [onN3]);
    const tokenBefore = BigInt(victim.tokens[onN3]!);
    const { generation: g0, tokenMark: markBefore } = await n1.cluster();
    // Every token n3 could ever issue lies at or below the cluster's mark.
    expect(tokenBefore).toBeLessThanOrEqual(BigInt(markBefore));

    await Promise.all([n3.kill(), victim.kill()]);
    await until(async () => (await n1.cluster()).members.filter((m: { inView: boolean }) => m.inView).length === 2, 15_000);
    const after = await n1.cluster(`?domain=lin&resource=${onN3}`);
    expect(BigInt(after.generation)).toBeGreaterThan(BigInt(g0));
    const newMaster = after.master.node === 'n1' ? n1 : n2;
    expect(['n1', 'n2']).toContain(after.master.node);

    // n3's resource is in recovery on its new master: a rival is not granted it meanwhile (its holder's client
    // was recorded; it died with its node, so the grace runs to its bound).
    const rival = await client(newMaster, 'rival');
    const early = await rival.owner('r').lock('lin', onN3, 'EX', { timeoutMs: 300 }).catch((e: LockError) => e);
    expect(early).toMatchObject({ code: 'ETIMEDOUT' });
    // A resource n1 mastered all along keeps granting during the failover.
    const local = await client(n1, 'unaffected');
    const t0 = Date.now();
    const unaffected = await local.owner('u').lock('lin', onN1, 'EX');
    expect(unaffected.state).toBe('granted');
    expect(Date.now() - t0).toBeLessThan(2000);

    // When the grace ends the rival gets it, with a token above the dead master's.
    const later = await rival.owner('r').lock('lin', onN3, 'EX', { timeoutMs: 15_000 });
    expect(later.token).toBeGreaterThan(tokenBefore);
    expect(later.token).toBeGreaterThan(BigInt(markBefore));
    later.release();
    unaffected.release();
  }, 60_000);

  it('a node paused past its lease grants nothing when it runs again, and comes back as a new member', async () => {
    const [n1, n2] = nodes as [NodeProcess, NodeProcess];
    const onN2 = await mastered(n1, 'n2');
    const c = await client(n2, 'app-on-n2');
    const g0 = (await n1.cluster()).generation;
    n2.pause();
    await until(async () => (await n1.cluster()).members.filter((m: { inView: boolean }) => m.inView).length === 1, 15_000);
    const departedAt = BigInt((await n1.cluster()).generation);
    // While n2 is stopped its resource is remastered on n1, and another client takes it there.
    const other = await client(n1, 'holder-on-n1');
    const held = await other.owner('h').lock('lin', onN2, 'EX', { timeoutMs: 15_000 });
    n2.resume();
    // The first thing the resumed node does with a request for it: refuse it (fenced, no longer its resource, or,
    // back as a new member already, held by the client above, whose lock moved back with it): never a grant.
    const direct = c.directOwner('d'); // to n2 alone, no routing
    const err = await direct.lock('lin', onN2, 'EX', { noQueue: true, timeoutMs: 2000 }).catch((e: LockError) => e);
    expect(err).toBeInstanceOf(LockError);
    expect(['ETIMEDOUT', 'ESTALE', 'EGRACE', 'EAGAIN']).toContain((err as LockError).code);
    expect(held.state).toBe('granted');
    await until(async () => (await n2.cluster()).members?.filter((m: { inView: boolean }) => m.inView).length === 2, 20_000);
    const fenced = n2.events('cluster-fenced');
    expect(fenced.length).toBeGreaterThan(0);
    expect(BigInt((await n2.cluster()).generation)).toBeGreaterThan(BigInt(g0));
    await other.router!.failover.idle();
    expect(held.state).toBe('granted');
    await held.release();
    // Back as a new member, n2 records its clients again before their next request (B5): the survivors forget the
    // records of its earlier life (written before the view it left in) once their grace is over (N7), and must find
    // this one if n2 dies now.
    const again = await c.owner('again').lock('lin', onN2, 'EX', { timeoutMs: 15_000 });
    const reader = openEtcd(f.etcd.urls, 1000);
    try {
      const kvs = (await reader.getAll().prefix('/lockscope/').exec()).kvs.filter((kv) => kv.key.toString().endsWith(`/clients/n2/${c.identity.clientId}`));
      expect(kvs.length).toBe(1);
      expect(BigInt(kvs[0]!.mod_revision)).toBeGreaterThan(departedAt);
    } finally {
      reader.close();
    }
    await again.release();
  }, 60_000);

  it('refuses a bad --etcd at once (exit 2) and an unreachable etcd with EETCD (exit 1), without hanging', async () => {
    const bad = await runServe(['--no-demo', '--port', '0', '--etcd', 'not a url', '--node', 'x'], 20_000);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('EINVAL');
    const noName = await runServe(['--no-demo', '--port', '0', '--etcd', 'http://127.0.0.1:1'], 20_000);
    expect(noName.status).toBe(2);
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const down = await runServe(['--no-demo', '--port', '0', '--etcd', nobody, '--node', 'x'], 30_000);
    expect(down.status).toBe(1);
    expect(down.stderr + down.stdout).toContain('EETCD');
  }, 90_000);

  it('a node stops on SIGTERM even when etcd is gone (its lease then simply expires)', async () => {
    const lone = await EtcdCluster.start(1);
    const n = await NodeProcess.create('lone', lone.endpoints, { graceMs: 2000 });
    try {
      await n.start();
      await lone.stop();
      // Past its fence deadline, with rejoin attempts against the missing etcd under way.
      await until(() => n.events('cluster-fenced').length > 0, 15_000);
      const exited = new Promise<number | null>((resolve) => n.child!.once('exit', (code) => resolve(code)));
      n.child!.kill('SIGTERM');
      // Every close step that talks to etcd is bounded (settleWithin): the node must not wait on an etcd that is gone.
      expect(await exited).toBe(0);
      expect(n.events('closed')).toHaveLength(1);
    } finally {
      await n.kill();
    }
  }, 30_000);
});
