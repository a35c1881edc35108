/**
 * Diagnosis across nodes, against real `lockscope serve` nodes on a real
 * etcd: a hang on one node whose root blocker holds on another (the `hang`
 * report, the log line and the automatic dump's summary name the holder, its
 * node, its client and where it asked for the lock); a cluster dump taken
 * while one node is paused (written, that node named missing); `inspect`
 * answering about an owner, a resource and the cycles over a cluster dump,
 * offline; and the peer routes refusing a caller without the cluster's
 * secret and a bad body.
 *
 * `lin` has a 1 s soft timeout here; the cross-node detector confirms a cycle
 * only after 60 s, so a cycle made for the dump stays for the dump to see.
 * The lease TTL is 10 s, so a node paused for a dump's deadline (5 s) stays
 * a member.
 */

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { describe, expect, it } from 'vitest';
import type { RemoteHandle } from '../../client/index.js';
import type { Hang } from '../../src/index.js';
import { readDump } from '../../collectors/read-archive.js';
import { etcdAvailable } from './etcd.js';
import { ADMIN, clusterFixture, DOMAINS, mastered, runCli, type NodeProcess } from './nodes.js';
import { until } from '../server/support.js';
import { launch, openDashboard } from '../browser/support.js';

const run = etcdAvailable() ? describe : describe.skip;
const members = ['n1', 'n2', 'n3'];

async function get<T>(n: NodeProcess, path: string): Promise<T> {
  const res = await fetch(`${n.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
  return (await res.json()) as T;
}

/** The archives in a node's dump directory (none before its first dump made the directory). */
function archives(n: NodeProcess): string[] {
  return existsSync(n.dumps) ? readdirSync(n.dumps).filter((f) => f.endsWith('.tar.gz')) : [];
}

async function dumpNow(n: NodeProcess): Promise<string> {
  const res = await fetch(`${n.url}/api/dumps`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
  const { id } = (await res.json()) as { id: string };
  expect(typeof id).toBe('string');
  return join(n.dumps, readdirSync(n.dumps).find((f) => f.startsWith(id))!);
}

run('diagnosis across nodes (real nodes, real etcd)', () => {
  const f = clusterFixture({
    node: {
      leaseTtl: 10,
      config: {
        domains: [...DOMAINS.map((d) => (d.name === 'lin' ? { ...d, softTimeoutMs: 1000 } : d)), { name: 'slow', kind: 'dlm', softTimeoutMs: 60_000 }],
        clusterDeadlock: { intervalMs: 200, confirmMs: 60_000 },
      },
    },
  });
  const { nodes } = f;
  const byName = (name: string): NodeProcess => nodes.find((n) => n.name === name)!;

  it('a hang on n1 whose root blocker holds on n2: the report, the log line and the dump name the holder, its node, client and site', async () => {
    const r1 = mastered(members, 'n1', 'hang-a-');
    const r2 = mastered(members, 'n2', 'hang-b-', 'slow'); // a wait here does not hang within the test
    const holder = await f.client([byName('n2').url], 'holder-app');
    const middle = await f.client([byName('n1').url], 'middle-app');
    const waiter = await f.client([byName('n3').url], 'waiter-app');
    const held: RemoteHandle = await holder.owner('root-holder').lock('slow', r2, 'EX');
    const m = middle.owner('middle');
    const mid = await m.lock('lin', r1, 'EX');
    const midAsk = m.lock('slow', r2, 'EX'); // waits on n2 for root-holder
    const ask = waiter.owner('late-waiter').lock('lin', r1, 'EX'); // waits on n1 for middle
    const n1 = byName('n1');

    await until(async () => (await get<Hang[]>(n1, '/api/hangs')).some((h) => h.owner === 'late-waiter' && h.nodes !== undefined), 15_000);
    const hang = (await get<Hang[]>(n1, '/api/hangs')).find((h) => h.owner === 'late-waiter')!;
    expect(hang.nodes!.missing).toEqual([]);
    expect(hang.rootBlockers).toHaveLength(1);
    const root = hang.rootBlockers[0]!;
    expect(root).toMatchObject({ owner: 'root-holder', node: 'n2', connected: true });
    expect(root.client).toMatch(/^holder-app#/); // the client's id: its name and a per-connect suffix
    expect(root.holds).toHaveLength(1);
    expect(root.holds[0]).toMatchObject({ domain: 'slow', resource: r2, mode: 'EX', node: 'n2' });
    expect(root.holds[0]!.stack).toContain('diagnosis.test.ts'); // where root-holder asked for it
    // The chain goes through middle, waiting on n2.
    expect(hang.chain.some((l) => l.owner === 'middle' && l.node === 'n2' && l.waitsFor.some((w) => w.owner === 'root-holder' && w.resource === r2))).toBe(true);

    // The dashboard of n1 says where the root blocker holds.
    const browser = await launch();
    try {
      const page = await openDashboard(browser, n1.url, ADMIN);
      await page.waitForFunction(`document.getElementById('hangs')?.textContent.includes('root-holder on n2')`, undefined, { timeout: 10_000 });
      expect(await page.textContent('#hangs')).toMatch(/root-holder on n2, client holder-app#\w+ connected \(EX slow:hang-b-\d+\)/);
    } finally {
      await browser.close();
    }

    // The log line, written once the report was complete.
    const line = n1.events('hang').find((l) => l.owner === 'late-waiter');
    expect(line).toBeDefined();
    expect(JSON.stringify(line)).toContain('root-holder');
    expect(JSON.stringify(line)).toContain('n2');

    // The automatic dump the hang took on n1 holds every node and says the same.
    await until(() => archives(n1).length > 0, 15_000);
    const file = archives(n1)[0]!;
    const dump = await readDump(join(n1.dumps, file));
    expect(dump.manifest.trigger).toBe('soft-timeout');
    expect([...dump.manifest.nodes].sort()).toEqual(members);
    expect(dump.manifest.missingNodes).toEqual([]);
    const summary = dump.files.get('summary.txt')!.toString();
    expect(summary).toMatch(/Its root blocker: root-holder on node n2, client holder-app#\w+ connected, which holds EX on slow:hang-b-\d+/);
    expect(summary).toContain('diagnosis.test.ts');
    expect(summary).not.toContain('no stack captured'); // the waiter's site too: a cluster client captures it before it routes
    for (const n of ['n2', 'n3']) expect(dump.files.has(`nodes/${n}/waitfor.json`)).toBe(true);
    expect(JSON.parse(dump.files.get('cluster.json')!.toString())).toMatchObject({ node: 'n1', answered: ['n2', 'n3'], missing: [] });
    // One automatic dump per cluster: a hang on n2 now is not dumped again.
    const r3 = mastered(members, 'n2', 'hang-c-');
    const held3 = await holder.owner('root-holder').lock('lin', r3, 'EX');
    const ask3 = waiter.owner('second-waiter').lock('lin', r3, 'EX');
    const n2 = byName('n2');
    await until(() => n2.events('dump-skipped').length > 0, 15_000);
    expect(n2.events('dump-skipped')[0]).toMatchObject({ trigger: 'soft-timeout', reason: 'rate-limited' });
    expect(archives(n2)).toEqual([]);
    await held3.release();
    await (await ask3).release();

    await held.release();
    const got = await midAsk;
    await got.release();
    await mid.release();
    await (await ask).release();
  }, 45_000);

  it('a cluster dump with n3 paused is written, n3 named missing; inspect answers --owner, --resource and --cycles over it offline', async () => {
    // An ABBA across n1 and n2 the detector will not break before the dump (it confirms after 60 s).
    const r1 = mastered(members, 'n1', 'dump-a-');
    const r2 = mastered(members, 'n2', 'dump-b-');
    const a = await f.client([byName('n1').url], 'dump-a');
    const b = await f.client([byName('n2').url], 'dump-b');
    const oa = a.owner('ring-a');
    const ob = b.owner('ring-b');
    await oa.lock('lin', r1, 'EX');
    await ob.lock('lin', r2, 'EX');
    void oa.lock('lin', r2, 'EX').catch(() => {});
    void ob.lock('lin', r1, 'EX').catch(() => {});
    // Both waits are in: the detector found the cycle (it holds it 60 s before it checks).
    await until(async () => (await Promise.all(nodes.map((n) => n.cluster()))).some((s) => (s.detector?.cycles ?? 0) > 0), 15_000);

    const n3 = byName('n3');
    n3.pause();
    let path: string;
    try {
      path = await dumpNow(byName('n2'));
    } finally {
      n3.resume();
    }
    const dump = await readDump(path);
    expect(dump.manifest.trigger).toBe('manual');
    expect([...dump.manifest.nodes].sort()).toEqual(['n1', 'n2']);
    expect(dump.manifest.missingNodes).toEqual(['n3']);
    const summary = dump.files.get('summary.txt')!.toString();
    expect(summary).toContain('did not answer in time: n3');
    // The summary reasons over the cluster: the cycle across nodes, and ring-b, a root blocker on n2 alone, waits on n1.
    expect(summary).toMatch(/Across nodes .*1 cycle:\n\* across nodes n1, n2: ring-(a|b) -> ring-(a|b) -> ring-(a|b)/);
    expect(summary).toContain('It waits itself on node n1 (nodes/n1/)');
    expect(summary).toContain('ring-b (waits on node n1)');
    expect(dump.files.has('nodes/n1/waits.json')).toBe(true);
    expect(dump.files.has('nodes/n2/waits.json')).toBe(true);

    const cycles = await runCli(['inspect', path, '--cycles']);
    expect(cycles.status).toBe(0);
    expect(cycles.stdout).toMatch(/across nodes n1, n2/);
    expect(cycles.stdout).toContain('ring-a');
    expect(cycles.stdout).toContain('ring-b');
    expect(cycles.stdout).not.toContain('no stack captured');
    const owner = await runCli(['inspect', path, '--owner', 'ring-a', '--json']);
    expect(owner.status).toBe(0);
    const data = JSON.parse(owner.stdout) as { owner: string; nodes: Record<string, { matches: Array<{ holds: Array<{ resource: string }>; waits: Array<{ resource: string }> }> }> };
    // ring-a holds r1 on n1 and waits for r2 on n2: each node's part says its half.
    expect(data.nodes.n1!.matches[0]!.holds.map((h) => h.resource)).toEqual([r1]);
    expect(data.nodes.n2!.matches[0]!.waits.map((w) => w.resource)).toEqual([r2]);
    const resource = await runCli(['inspect', path, '--resource', `lin:${r2}`]);
    expect(resource.status).toBe(0);
    expect(resource.stdout).toContain('on node n2');
    expect(resource.stdout).toMatch(/ring-b holds EX/);
    expect(resource.stdout).toMatch(/ring-a waits for EX/);
  }, 45_000);

  it('one view of the cluster from any node: every member\'s locks, sessions and hangs tagged with their node, filterable by node', async () => {
    // The ring of the dump test still holds: ring-a holds on n1 and waits on n2, ring-b the other way round.
    const n3 = byName('n3');
    const locks = await get<{ node: string; answered: string[]; missing: string[]; rows: Array<{ node: string; owner: string; state: string; resource: string }> }>(n3, '/api/cluster/view/locks?owner=ring-a');
    expect(locks.node).toBe('n3');
    expect([...locks.answered].sort()).toEqual(members);
    expect(locks.missing).toEqual([]);
    expect(locks.rows.map((r) => [r.node, r.state]).sort()).toEqual([['n1', 'granted'], ['n2', 'waiting']]);
    const onlyN2 = await get<{ answered: string[]; rows: Array<{ node: string }> }>(n3, '/api/cluster/view/locks?nodes=n2');
    expect(onlyN2.answered).toEqual(['n2']);
    expect(onlyN2.rows.length).toBeGreaterThan(0);
    expect(onlyN2.rows.every((r) => r.node === 'n2')).toBe(true);
    const sessions = await get<{ rows: Array<{ node: string }> }>(n3, '/api/cluster/view/sessions');
    expect(new Set(sessions.rows.map((r) => r.node))).toEqual(new Set(members));
    const graph = await get<{ graphs: Record<string, { edges: unknown[] }> }>(n3, '/api/cluster/view/graph');
    expect(Object.keys(graph.graphs).sort()).toEqual(members);
    // The merged snapshot: ring-a and ring-b are one owner each across n1 and n2, and their cycle is a cycle of it.
    const merged = await get<{ snapshot: { nodes: string[]; owners: Array<{ id: number; name: string }>; edges: Array<{ from: number; to: number }>; cycles: Array<{ owners: string[] }> } }>(n3, '/api/cluster/view/snapshot');
    expect([...merged.snapshot.nodes].sort()).toEqual(members);
    const id = (name: string): number[] => merged.snapshot.owners.filter((o) => o.name === name).map((o) => o.id);
    expect(id('ring-a')).toHaveLength(1);
    expect(id('ring-b')).toHaveLength(1);
    expect(merged.snapshot.edges).toContainEqual(expect.objectContaining({ from: id('ring-a')[0], to: id('ring-b')[0] }));
    expect(merged.snapshot.edges).toContainEqual(expect.objectContaining({ from: id('ring-b')[0], to: id('ring-a')[0] }));
    expect(merged.snapshot.cycles.some((c) => [...c.owners].sort().join() === 'ring-a,ring-b')).toBe(true);

    // A posix lock held on n2, to be shown with its node too (posix pieces are rows of their own on the page).
    const px = await f.client([n3.url], 'posix-app');
    const pxResource = mastered(members, 'n2', 'px-', 'adv');
    await px.owner('px-holder').setlk('adv', pxResource, { type: 'write', start: 0, len: 100 });

    // The dashboard of n3 in its cluster scope: every member's locks, the cycle across nodes drawn, the node filter.
    const browser = await launch();
    try {
      const page = await openDashboard(browser, n3.url, ADMIN);
      await page.waitForSelector('#cluster-panel:not([hidden]) #cluster-scope', { timeout: 10_000 });
      await page.selectOption('#cluster-scope', 'cluster');
      await page.waitForFunction(`document.getElementById('node')?.textContent.startsWith('cluster:')`, undefined, { timeout: 10_000 });
      expect(await page.textContent('#node')).toBe('cluster: n1, n2, n3');
      const shown = (): Promise<{ rows: Array<{ owner: string; node?: string }>; cycles: string[][] }> => page.evaluate(`(() => {
        const m = window.lockscope.shown();
        return { rows: [...m.rows.values()].map((r) => ({ owner: r.owner, node: r.node })), cycles: m.cycles.map((c) => c.owners) };
      })()`);
      const all = await shown();
      expect(all.rows.filter((r) => r.owner === 'ring-a').map((r) => r.node).sort()).toEqual(['n1', 'n2']);
      expect(all.rows.filter((r) => r.owner === 'px-holder').map((r) => r.node)).toEqual(['n2']);
      expect(all.cycles.some((c) => [...c].sort().join() === 'ring-a,ring-b')).toBe(true);
      await page.waitForSelector('#graph .cycle', { timeout: 5000, state: 'attached' });
      await page.screenshot({ path: '/tmp/lockscope-cluster-scope.png', fullPage: false });
      // The table's node filter picks one member's rows.
      await page.selectOption('#f-node', 'n2');
      const rows = await page.$$eval('#table .row', (els) => els.length);
      expect(rows).toBeGreaterThan(0);
      const owners = await page.$$eval('#table .row', (els) => els.map((e) => e.textContent ?? ''));
      expect(owners.some((t) => t.includes('ring-b'))).toBe(true); // ring-b holds on n2
    } finally {
      await browser.close();
    }

    // Bad input: a view that is not one, a member that is not one, a filter the view does not take.
    for (const [path, message] of [['/api/cluster/view/nope', /view/], ['/api/cluster/view/locks?nodes=n9', /n9/], ['/api/cluster/view/hangs?owner=x', /only nodes/]] as const) {
      const res = await fetch(`${n3.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('EINVAL');
      expect(body.error.message).toMatch(message);
    }
  });

  it('the peer routes refuse a caller without the cluster secret (EPERM) and a bad body (EINVAL)', async () => {
    const n1 = byName('n1');
    const none = await fetch(`${n1.url}/api/cluster/peer/waits`, { method: 'POST' });
    expect(none.status).toBe(403);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('EPERM');
    const wrong = await fetch(`${n1.url}/api/cluster/peer/waits`, { method: 'POST', headers: { 'x-lockscope-peer': 'not-the-secret' } });
    expect(wrong.status).toBe(403);
    const etcd = new Etcd3({ hosts: f.etcd.endpoints.split(',') });
    try {
      const secret = await etcd.get('/lockscope/default/peer').string();
      expect(secret).toMatch(/^[0-9a-f]{64}$/);
      const bad = await fetch(`${n1.url}/api/cluster/peer/check`, {
        method: 'POST', headers: { 'x-lockscope-peer': secret!, 'content-type': 'application/json' }, body: JSON.stringify({ generation: 1, keys: 'x' }),
      });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('EINVAL');
      const ok = await fetch(`${n1.url}/api/cluster/peer/waits`, { method: 'POST', headers: { 'x-lockscope-peer': secret! } });
      expect(ok.status).toBe(200);
      expect(((await ok.json()) as { node: string }).node).toBe('n1');
    } finally {
      etcd.close();
    }
  });
});
