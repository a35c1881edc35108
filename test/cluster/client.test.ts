/**
 * The cluster client against three real `lockscope serve` nodes on a real
 * etcd: given one node's URL it learns the members and sends each request to
 * its resource's master, with the same owner API as a single server; when a
 * node joins, requests refused ESTALE by the old master go to the new one.
 */

import { describe, expect, it } from 'vitest';
import type { ConnectOptions, LockClient } from '../../client/index.js';
import { Rendezvous, resourceKey } from '../../src/rendezvous.js';
import { etcdAvailable } from './etcd.js';
import { NodeProcess, clusterFixture } from './nodes.js';
import { until } from '../server/support.js';

const run = etcdAvailable() ? describe : describe.skip;

function ring(nodes: string[]): Rendezvous {
  return new Rendezvous(nodes.map((name) => ({ name, weight: 1 })));
}

/** The first `inode:i` each node masters under the view of these members. */
function onePerNode(members: string[]): Map<string, string> {
  const r = ring(members);
  const out = new Map<string, string>();
  for (let i = 0; out.size < members.length && i < 1000; i++) {
    const m = r.master(resourceKey('lin', `inode:${i}`))!;
    if (!out.has(m)) out.set(m, `inode:${i}`);
  }
  return out;
}

async function inView(n: NodeProcess): Promise<string[]> {
  const s = await n.cluster();
  return (s.members ?? []).filter((m: { inView: boolean }) => m.inView).map((m: { node: string }) => m.node);
}

run('the cluster client (three real nodes, real etcd)', () => {
  const f = clusterFixture({ node: { graceMs: 3000 }, settleMs: 20_000 });
  const { nodes } = f;
  const client = (urls: string | string[], name: string, options?: ConnectOptions): Promise<LockClient> => f.client(urls, name, options);

  it('learns the members from one node and takes locks mastered on every node, where each master enforces them', async () => {
    const c = await client(nodes[0]!.url, 'router');
    expect(c.router?.members).toEqual(['n1', 'n2', 'n3']);
    const byNode = onePerNode(['n1', 'n2', 'n3']);
    const o = c.owner('job');
    const held = new Map<string, Awaited<ReturnType<typeof o.lock>>>();
    for (const [node, resource] of byNode) {
      expect(c.router!.master('lin', resource)).toBe(node);
      held.set(node, await o.lock('lin', resource, 'EX'));
    }
    // Each lock lives on its master: a rival attached there is refused at once.
    for (const [node, resource] of byNode) {
      const n = nodes.find((x) => x.name === node)!;
      const rival = await client(n.url, `rival-${node}`);
      rival.router = null; // this rival talks to that node only
      await expect(rival.owner('r').lock('lin', resource, 'EX', { noQueue: true })).rejects.toMatchObject({ code: 'EAGAIN' });
    }
    // Tokens come from each node's own etcd block: all distinct.
    expect(new Set([...held.values()].map((h) => h.token)).size).toBe(3);
    for (const h of held.values()) await h.release();
    await o.releaseAll();
  }, 30_000);

  it('routes posix locks too, getlk included, and releaseAll reaches every node the owner used', async () => {
    const c = await client([`http://127.0.0.1:1`, nodes[1]!.url], 'posix-router', { connectTimeoutMs: 1000 }); // the first URL answers nobody
    const other = await client(nodes[2]!.url, 'posix-other');
    const a = c.owner('a');
    const files = ['file:/a', 'file:/b', 'file:/c', 'file:/d', 'file:/e', 'file:/f'];
    for (const f of files) await a.setlk('adv', f, { type: 'write', start: 0, len: 100 });
    const masters = new Set(files.map((f) => c.router!.master('adv', f)));
    expect(masters.size).toBeGreaterThan(1);
    for (const f of files) {
      expect(await other.owner('b').getlk('adv', f, { type: 'read', start: 10, len: 1 })).toMatchObject({ owner: 'a', type: 'write', start: 0, len: 100 });
    }
    await a.releaseAll();
    for (const f of files) expect(await other.owner('b').getlk('adv', f, { type: 'read', start: 10, len: 1 })).toBeNull();
  }, 30_000);

  it('follows a node that joins: the new view reaches the client (pushed, or with an ESTALE) and the request goes to the new master', async () => {
    const c = await client(nodes[0]!.url, 'joiner-watch');
    const g0 = c.router!.generation;
    const n4 = await NodeProcess.create('n4', f.etcd.endpoints, { graceMs: 3000 });
    nodes.push(n4);
    await n4.start();
    await until(async () => (await inView(nodes[0]!)).length === 4 && !(await nodes[0]!.cluster()).grace.inGrace, 20_000);
    // A resource n4 masters now, which another node mastered under the client's (older) view.
    const before = ring(['n1', 'n2', 'n3']);
    const after = ring(['n1', 'n2', 'n3', 'n4']);
    let moved = '';
    for (let i = 0; i < 1000 && moved === ''; i++) {
      const r = `inode:${i}`;
      if (after.master(resourceKey('lin', r)) === 'n4' && before.master(resourceKey('lin', r)) !== 'n4') moved = r;
    }
    const l = await c.owner('j').lock('lin', moved, 'EX');
    expect(l.state).toBe('granted');
    expect(BigInt(c.router!.generation)).toBeGreaterThan(BigInt(g0));
    expect(c.router!.master('lin', moved)).toBe('n4');
    const rival = await client(n4.url, 'rival-n4');
    rival.router = null;
    await expect(rival.owner('r').lock('lin', moved, 'EX', { noQueue: true })).rejects.toMatchObject({ code: 'EAGAIN' });
    await l.release();
  }, 60_000);
});
