/**
 * Deadlocks across nodes, against real `lockscope serve` nodes on a real
 * etcd: an ABBA cycle between two clients whose resources are mastered on
 * different nodes, a cycle through three nodes, a cycle that dissolves
 * (a wait times out) while the detector waits to confirm it, and the
 * detector's node killed while it holds a cycle it found. The detector runs
 * every 200 ms and waits 1.5 s before it checks a cycle (clusterDeadlock in
 * the nodes' config), so that the dissolving cycle is deterministic.
 */

import { describe, expect, it } from 'vitest';
import type { LockClient, RemoteHandle } from '../../client/index.js';
import { DeadlockError, type CycleEntry } from '../../src/index.js';
import { etcdAvailable } from './etcd.js';
import { ADMIN, clusterFixture, mastered, runCli, type NodeProcess } from './nodes.js';
import { until } from '../server/support.js';
import { launch, openDashboard } from '../browser/support.js';

const run = etcdAvailable() ? describe : describe.skip;
const CONFIRM_MS = 1500;

/** Settles with the error a request failed with, or null when it was granted. */
function outcome(p: Promise<RemoteHandle>): Promise<{ lock: RemoteHandle | null; error: Error | null }> {
  return p.then((lock) => ({ lock, error: null }), (error: Error) => ({ lock: null, error }));
}

async function deadlocksOf(n: NodeProcess): Promise<Array<{ victim: string | null; nodes?: string[]; cycle: CycleEntry[] }>> {
  const res = await fetch(`${n.url}/api/deadlocks`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return (await res.json()) as Array<{ victim: string | null; nodes?: string[]; cycle: CycleEntry[] }>;
}

run('deadlocks across nodes (real nodes, real etcd)', () => {
  const f = clusterFixture({ node: { leaseTtl: 2, config: { clusterDeadlock: { intervalMs: 200, confirmMs: CONFIRM_MS } } } });
  const { nodes } = f;
  const members = ['n1', 'n2', 'n3'];
  const byName = (name: string): NodeProcess => nodes.find((n) => n.name === name)!;

  /**
   * A ring of owners, one per resource: owner i holds resources[i] and then
   * asks for resources[i + 1]. Returns each closing request's outcome.
   */
  async function ring(clients: LockClient[], resources: string[], timeouts: (number | undefined)[] = []) {
    const owners = clients.map((c, i) => c.owner(`ring-${i}`));
    const held: RemoteHandle[] = [];
    for (let i = 0; i < owners.length; i++) held.push(await owners[i]!.lock('lin', resources[i]!, 'EX'));
    const asks = owners.map((o, i) => {
      const t = timeouts[i];
      return outcome(o.lock('lin', resources[(i + 1) % resources.length]!, 'EX', t === undefined ? {} : { timeoutMs: t }));
    });
    return { owners, held, asks };
  }

  it('ABBA between two clients on two nodes: one victim gets EDEADLK with the whole cycle, the other is granted', async () => {
    const r1 = mastered(members, 'n1', 'abba-a-');
    const r2 = mastered(members, 'n2', 'abba-b-');
    const a = await f.client([byName('n1').url], 'abba-a');
    const b = await f.client([byName('n2').url], 'abba-b');
    const { held, asks } = await ring([a, b], [r1, r2]);
    const first = await Promise.race(asks.map((p, i) => p.then((o) => ({ ...o, i }))));
    expect(first.error).toBeInstanceOf(DeadlockError);
    const err = first.error as DeadlockError;
    expect(err.code).toBe('EDEADLK');
    expect(err.cycle).toHaveLength(2);
    expect(new Set(err.cycle.map((e) => e.node))).toEqual(new Set(['n1', 'n2']));
    expect(err.cycle.map((e) => e.resource).sort()).toEqual([r1, r2].sort());
    for (const e of err.cycle) {
      expect(e.wanted).toBe('EX');
      expect(e.blocker?.hard).toBe(true);
      expect(e.stack).toContain('deadlock.test.ts'); // the request site of each wait
    }
    expect(err.message).toMatch(/across nodes n1, n2/);
    // The victim gives up what it holds: the other is granted.
    await held[first.i]!.release();
    const other = await asks[1 - first.i]!;
    expect(other.error).toBeNull();
    expect(other.lock!.state).toBe('granted');
    // The victim's master recorded it, marked as across nodes.
    const victimNode = err.cycle.find((e) => e.resource === (first.i === 0 ? r2 : r1))!.node!;
    const recorded = (await deadlocksOf(byName(victimNode))).filter((d) => d.nodes !== undefined);
    expect(recorded.at(-1)).toMatchObject({ victim: `ring-${first.i}`, nodes: ['n1', 'n2'] });
    // Its dashboard shows it marked as across nodes, each wait with its node.
    const browser = await launch();
    try {
      const page = await openDashboard(browser, byName(victimNode).url, ADMIN);
      await page.waitForSelector('#deadlocks .deadlock.across', { timeout: 10_000 });
      const text = (await page.textContent('#deadlocks .deadlock.across')) ?? '';
      expect(text).toContain('across nodes n1, n2');
      expect(text).toContain('on n1');
      expect(text).toContain('on n2');
    } finally {
      await browser.close();
    }
    await other.lock!.release();
    await held[1 - first.i]!.release();
  }, 30_000);

  it('the detector in the leader\'s metrics and in `lockscope cluster status`', async () => {
    const leader = await leaderOf(nodes);
    const text = await (await fetch(`${leader.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    const metric = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(metric('lockscope_cluster_detector_leader')).toBe(1);
    expect(metric('lockscope_cluster_detector_passes_total')).toBeGreaterThan(0);
    expect(metric('lockscope_cluster_deadlocks_total')).toBeGreaterThanOrEqual(1); // the ABBA above
    expect(metric('lockscope_cluster_detector_missing')).toBe(0);
    const other = nodes.find((n) => n !== leader)!;
    const otherText = await (await fetch(`${other.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    expect(otherText).toMatch(/^lockscope_cluster_detector_leader 0$/m);
    const status = await runCli(['cluster', 'status', '--server', leader.url], { LOCKSCOPE_TOKEN: ADMIN });
    expect(status.status).toBe(0);
    expect(status.stdout).toMatch(new RegExp(`deadlocks across nodes: run by ${leader.name}; here: \\d+ passes, \\d+ cycles, [1-9]\\d* broken`));
  });

  it('a cycle through three nodes: exactly one victim', async () => {
    const rs = [mastered(members, 'n1', 'tri-'), mastered(members, 'n2', 'tri-'), mastered(members, 'n3', 'tri-')];
    const clients = await Promise.all(nodes.map((n, i) => f.client([n.url], `tri-${i}`)));
    const { held, asks } = await ring(clients, rs);
    const first = await Promise.race(asks.map((p, i) => p.then((o) => ({ ...o, i }))));
    expect((first.error as DeadlockError).code).toBe('EDEADLK');
    expect((first.error as DeadlockError).cycle).toHaveLength(3);
    expect(new Set((first.error as DeadlockError).cycle.map((e) => e.node))).toEqual(new Set(members));
    await held[first.i]!.release();
    // The ring unwinds: each remaining ask is granted once the one it waits for lets go.
    for (let k = 1; k < 3; k++) {
      const i = (first.i - k + 3) % 3;
      const o = await asks[i]!;
      expect(o.error).toBeNull();
      await o.lock!.release();
      await held[i]!.release();
    }
  }, 30_000);

  it('a cycle that dissolves (a wait times out) before it is confirmed: no victim', async () => {
    const leader = await leaderOf(nodes);
    const before = (await leader.cluster()).detector;
    const r1 = mastered(members, 'n2', 'dis-a-');
    const r2 = mastered(members, 'n3', 'dis-b-');
    const a = await f.client([byName('n2').url], 'dis-a');
    const b = await f.client([byName('n3').url], 'dis-b');
    // b's request gives up after 900 ms: the detector has found the cycle by then and waits 1.5 s to confirm it.
    const { held, asks } = await ring([a, b], [r1, r2], [undefined, 900]);
    const bAsk = await asks[1]!;
    expect((bAsk.error as { code?: string }).code).toBe('ETIMEDOUT');
    await until(async () => (await leader.cluster()).detector.falsePositives > before.falsePositives, 10_000);
    const after = (await leader.cluster()).detector;
    expect(after.cycles).toBeGreaterThan(before.cycles);
    expect(after.victims).toBe(before.victims);
    // a is still waiting (no victim): it is granted when b lets go.
    await held[1]!.release();
    const aAsk = await asks[0]!;
    expect(aAsk.error).toBeNull();
    await aAsk.lock!.release();
    await held[0]!.release();
  }, 30_000);

  it('the detector node killed while it confirms a cycle: another node is elected and breaks it', async () => {
    const leader = await leaderOf(nodes);
    const others = nodes.filter((n) => n !== leader);
    // Mastered on the survivors with the leader in the view: with rendezvous hashing they stay put when it goes.
    const r1 = mastered(members, others[0]!.name, 'kill-a-');
    const r2 = mastered(members, others[1]!.name, 'kill-b-');
    const before = (await leader.cluster()).detector.cycles;
    const a = await f.client([others[0]!.url], 'kill-a');
    const b = await f.client([others[1]!.url], 'kill-b');
    const { held, asks } = await ring([a, b], [r1, r2]);
    await until(async () => (await leader.cluster()).detector?.cycles > before, 10_000);
    await leader.kill(); // mid-search: it found the cycle and waits to confirm it
    const first = await Promise.race(asks.map((p, i) => p.then((o) => ({ ...o, i }))));
    expect((first.error as DeadlockError).code).toBe('EDEADLK');
    const status = await others[0]!.cluster();
    expect(status.detector.leader).not.toBe(leader.name);
    await held[first.i]!.release();
    const other = await asks[1 - first.i]!;
    expect(other.error).toBeNull();
    await other.lock!.release();
    await held[1 - first.i]!.release();
  }, 40_000);
});

/** The node elected to run the cluster's detector, once every node names the same one. */
async function leaderOf(nodes: NodeProcess[]): Promise<NodeProcess> {
  let name: string | null = null;
  await until(async () => {
    const s = await Promise.all(nodes.map((n) => n.cluster()));
    name = s[0]?.detector?.leader ?? null;
    return name !== null && s.every((x) => x.detector?.leader === name);
  }, 10_000);
  return nodes.find((n) => n.name === name)!;
}
