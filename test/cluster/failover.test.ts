/**
 * Failover and handover against real `lockscope serve` nodes on a real etcd:
 * a master killed with SIGKILL while a client holds locks there and a rival
 * waits for them; a node joining while locks are held on the share it takes.
 * The client keeps every lock (reclaimed on the new masters, tokens above
 * the old ones), the rival is never granted while the holder holds, and
 * resources whose master did not change keep granting during the failover.
 */

import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { LockClient, ReclaimReport, RemoteHandle } from '../../client/index.js';
import { Rendezvous, resourceKey } from '../../src/rendezvous.js';
import { etcdAvailable } from './etcd.js';
import { ADMIN, NodeProcess, clusterFixture, holderProcess, settledCluster } from './nodes.js';
import { until } from '../server/support.js';

const run = etcdAvailable() ? describe : describe.skip;

function masterOf(members: string[], domain: string, resource: string): string {
  return new Rendezvous(members.map((name) => ({ name, weight: 1 }))).master(resourceKey(domain, resource))!;
}

/** `count` resources of `domain` that `node` masters among `members`, and whose master under `after` is as `moved` says. */
function resources(domain: string, members: string[], node: string, count: number, after?: { members: string[]; moved: boolean }): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count && i < 100_000; i++) {
    const r = `${domain === 'adv' ? 'file:/' : 'inode:'}${i}`;
    if (masterOf(members, domain, r) !== node) continue;
    if (after !== undefined && (masterOf(after.members, domain, r) !== node) !== after.moved) continue;
    out.push(r);
  }
  return out;
}

run('failover and handover (real nodes, real etcd)', () => {
  const f = clusterFixture({ node: { graceMs: 30_000, leaseTtl: 2 } });
  const { nodes } = f;
  const client = (urls: string | string[], name: string): Promise<LockClient> => f.client(urls, name);

  it('a master killed with SIGKILL: its locks are reclaimed on the new masters, a waiting rival is not granted meanwhile, tokens go up', async () => {
    const members = ['n1', 'n2', 'n3'];
    const victim = nodes.find((n) => n.name === 'n3')!;
    // The holder is attached to the victim: it must learn the new view from the other members (R5).
    const holder = await client([victim.url], 'holder');
    const rival = await client([nodes[0]!.url], 'rival');
    const reports: ReclaimReport[] = [];
    holder.on('reclaim', (r) => reports.push(r));

    const onVictim = resources('lin', members, 'n3', 6);
    const elsewhere = resources('lin', members, 'n1', 3);
    const posixOnVictim = resources('adv', members, 'n3', 2);
    const o = holder.owner('job');
    const held: RemoteHandle[] = [];
    for (const r of [...onVictim, ...elsewhere]) held.push(await o.lock('lin', r, 'EX'));
    for (const f of posixOnVictim) await o.setlk('adv', f, { type: 'write', start: 0, len: 100 });
    const tokensBefore = held.map((h) => h.token);

    // The rival queues behind two of the victim's locks: its waits are on the victim when it dies.
    let rivalGranted = 0;
    const rivalWaits = onVictim.slice(0, 2).map((r) => rival.owner('r').lock('lin', r, 'EX', { timeoutMs: 60_000 }).then((l) => {
      rivalGranted++;
      return l;
    }));
    // And holds NL on a third, converting to EX behind the holder: the conversion is queued on the victim.
    const nl = await rival.owner('c').lock('lin', onVictim[2]!, 'NL');
    const converting = nl.convert('EX');
    converting.catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    expect(rivalGranted).toBe(0);
    expect(nl.state).toBe('converting');

    await victim.kill();
    const t0 = Date.now();
    await until(() => reports.length > 0, 30_000);
    const failoverMs = Date.now() - t0;
    const report = reports[0]!;
    expect(report.lost).toEqual([]);
    expect(report.reclaimed).toBe(onVictim.length + posixOnVictim.length);

    // Every lock is still held: the moved ones on their new masters with higher tokens, the others untouched.
    for (let i = 0; i < held.length; i++) {
      const h = held[i]!;
      expect(h.state).toBe('granted');
      if (i < onVictim.length) expect(h.token).toBeGreaterThan(tokensBefore[i]!);
      else expect(h.token).toBe(tokensBefore[i]);
    }
    // The posix ranges moved too: another client sees them held on the new masters.
    const looker = await client([nodes[1]!.url], 'looker');
    for (const f of posixOnVictim) {
      expect(await looker.owner('l').getlk('adv', f, { type: 'read', start: 10, len: 1 })).toMatchObject({ owner: 'job', type: 'write' });
    }
    // Nor is the rival granted while the holder holds; a resource that kept its master grants at once.
    expect(rivalGranted).toBe(0);
    const free = resources('lin', members, 'n1', 20).filter((r) => !elsewhere.includes(r))[0]!;
    const quick = await rival.owner('q').lock('lin', free, 'EX', { timeoutMs: 2000 });
    await quick.release();

    // The grace ends because every expected client reclaimed, not at its 30 s bound.
    const survivors = nodes.filter((n) => n !== victim);
    await until(async () => (await Promise.all(survivors.map((n) => n.cluster()))).every((s) => !s.grace.inGrace), 20_000);
    expect(survivors.some((n) => n.events('cluster-lift').some((l) => l.why === 'all-reclaimed'))).toBe(true);

    // The survivors' /metrics say what happened, in a form Prometheus takes.
    const text = await (await fetch(`${nodes[0]!.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    const metric = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(metric('lockscope_cluster_members')).toBe(2);
    expect(metric('lockscope_cluster_member')).toBe(1);
    expect(metric('lockscope_cluster_failovers_total')).toBeGreaterThanOrEqual(1);
    expect(metric('lockscope_cluster_grace_active')).toBe(0);
    const survivorsReclaims = await Promise.all(survivors.map(async (n) => {
      const t = await (await fetch(`${n.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
      return Number(/^lockscope_cluster_reclaims_total (\S+)$/m.exec(t)?.[1]);
    }));
    expect(survivorsReclaims.reduce((a, b) => a + b, 0)).toBe(onVictim.length + posixOnVictim.length + 1); // the rival's NL too
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(promtool.error).toBeUndefined();
    expect(promtool.status, promtool.stderr + promtool.stdout).toBe(0);

    // The holder lets go: the rival gets the locks, with tokens above the holder's.
    for (const h of held) await h.release();
    const got = await Promise.all(rivalWaits);
    for (let i = 0; i < got.length; i++) expect(got[i]!.token).toBeGreaterThan(held[i]!.token);
    for (const l of got) await l.release();
    // The conversion moved with its lock and was asked again of the new master: granted now.
    await converting;
    expect([nl.state, nl.mode]).toEqual(['granted', 'EX']);
    expect(nl.token).toBeGreaterThan(held[2]!.token);
    await nl.release();
    await o.releaseAll();
    console.log(`failover: SIGKILL to every lock reclaimed on the new masters in ${failoverMs} ms (lease TTL 2 s)`);
  }, 90_000);

  it('a node joins: the locks on its share move to it from the live old masters, and nothing is lost or doubled', async () => {
    const live = nodes.filter((n) => n.child !== null);
    const members = live.map((n) => n.name);
    await settledCluster(live, members.length);
    const holder = await client([live[0]!.url], 'join-holder');
    const reports: ReclaimReport[] = [];
    holder.on('reclaim', (r) => reports.push(r));
    const after = [...members, 'n4'];
    const moving = members.flatMap((m) => resources('lin', members, m, 2, { members: after, moved: true }));
    const staying = resources('lin', members, members[0]!, 2, { members: after, moved: false });
    const o = holder.owner('job');
    const held = new Map<string, RemoteHandle>();
    for (const r of [...moving, ...staying]) held.set(r, await o.lock('lin', r, 'PW'));
    const before = new Map([...held].map(([r, h]) => [r, h.token]));
    // A client whose only business on a moving resource is a queued wait: the old master lists it for n4 too, and
    // n4's recovery (and the cluster's grace) must still end when it says it is done, not at the 30 s bound.
    const queued = await client([live[0]!.url], 'join-queued');
    const waiting = queued.owner('w').lock('lin', moving[0]!, 'EX');
    waiting.catch(() => {});
    // A conversion queued on the old master (NL to EX, behind the holder's PW) moves with its lock.
    const converter = await client([live[0]!.url], 'join-converter');
    const nl = await converter.owner('c').lock('lin', moving[1]!, 'NL');
    const converting = nl.convert('EX');
    converting.catch(() => {});
    await until(() => nl.state === 'converting', 5_000);

    const n4 = await NodeProcess.create('n4', f.etcd.endpoints, { graceMs: 30_000, leaseTtl: 2 });
    nodes.push(n4);
    await n4.start();
    await until(() => reports.length > 0, 30_000);
    expect(reports[0]!.lost.map((l) => `${l.resource} ${l.code}`)).toEqual([]);
    expect(reports[0]!.reclaimed).toBe(moving.length);
    for (const [r, h] of held) {
      expect(h.state).toBe('granted');
      if (moving.includes(r)) expect(h.token).toBeGreaterThan(before.get(r)!);
      else expect(h.token).toBe(before.get(r));
    }
    // Well before the bound: every client listed for n4 said it is done, the queued one included.
    await until(async () => {
      const s = await n4.cluster();
      return s.recovery.since === null && !s.grace.inGrace;
    }, 15_000);
    // The moved locks live on n4 now: a rival there is refused at once.
    const rival = await client([n4.url], 'join-rival');
    rival.router = null;
    for (const r of moving) await expect(rival.owner('r').lock('lin', r, 'EX', { noQueue: true })).rejects.toMatchObject({ code: 'EAGAIN' });
    await settledCluster(nodes.filter((n) => n.child !== null), after.length);
    for (const h of held.values()) await h.release();
    // The queued wait went on to n4 and is granted once the holder let go; so is the conversion.
    const got = await waiting;
    expect(got.state).toBe('granted');
    await got.release();
    await converting;
    expect([nl.state, nl.mode]).toEqual(['granted', 'EX']);
    await nl.release();
  }, 90_000);

  it('a second node dies during the grace of the first: the live client still keeps every lock; the dead client\'s lock waits out the bound', async () => {
    const n3 = nodes.find((n) => n.name === 'n3')!;
    await n3.start(); // back as a new member
    const live = nodes.filter((n) => n.child !== null);
    const members = live.map((n) => n.name).sort();
    await settledCluster(live, members.length);
    const holder = await client(live.map((n) => n.url), 'twice');
    const reports: ReclaimReport[] = [];
    holder.on('reclaim', (r) => reports.push(r));
    const o = holder.owner('job');
    const [first, second] = [live.find((n) => n.name === 'n3')!, live.find((n) => n.name === 'n4')!];
    const onFirst = resources('lin', members, 'n3', 3);
    const onSecond = resources('lin', members, 'n4', 3);
    const held = new Map<string, RemoteHandle>();
    for (const r of [...onFirst, ...onSecond]) held.set(r, await o.lock('lin', r, 'EX'));
    const before = new Map([...held].map(([r, h]) => [r, h.token]));
    // A client that dies with the first node: the survivors wait for it until the grace's bound (30 s here).
    const [dead] = resources('lin', members, 'n3', 4).filter((r) => !onFirst.includes(r));
    const gone = await holderProcess(first, 'dies-with-n3', [dead!]);

    await Promise.all([first.kill(), gone.kill()]);
    const survivor = live.find((n) => n.name === 'n1')!;
    await until(async () => (await survivor.cluster()).grace.inGrace === true && !(await survivor.cluster()).members.some((m: { node: string; inView: boolean }) => m.node === 'n3' && m.inView), 20_000);
    await until(() => reports.length > 0, 20_000);
    // The second failure, while the first grace still waits for the dead client.
    await second.kill();
    await until(() => reports.reduce((n, r) => n + r.reclaimed, 0) >= onFirst.length + onSecond.length, 30_000);
    expect(reports.flatMap((r) => r.lost)).toEqual([]);
    for (const [r, h] of held) {
      expect(h.state).toBe('granted');
      expect(h.token).toBeGreaterThan(before.get(r)!);
    }
    expect((await survivor.cluster()).grace.inGrace).toBe(true);
    // The dead client's lock is not granted to anyone before the bound.
    const rival = await client([survivor.url], 'twice-rival');
    await expect(rival.owner('r').lock('lin', dead!, 'EX', { timeoutMs: 500 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    for (const h of held.values()) await h.release();
  }, 120_000);
});
