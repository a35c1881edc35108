/**
 * The parts of a snapshot read alone (the wait-for graph for the feed, the
 * owners, the hangs for the REST API) are the snapshot's own parts: a
 * reader that asks for one part sees what the whole snapshot would show.
 */

import { expect, it } from 'vitest';
import { FakeClock, LockManager } from '../../src/index.js';

async function busy(): Promise<LockManager> {
  const clock = new FakeClock();
  const lm = new LockManager({
    clock, deadlock: { detect: 'off' },
    domains: [{ name: 'lin', kind: 'dlm', softTimeoutMs: 100 }, { name: 'adv', kind: 'posix', softTimeoutMs: 100 }, { name: 'idle', kind: 'dlm' }],
  });
  const [a, b, c] = ['a', 'b', 'c'].map((n) => lm.owner(n, { meta: { who: n } }));
  await a!.lock('lin', 'r1', 'EX');
  await b!.lock('lin', 'r2', 'EX');
  await c!.lock('lin', 'r3', 'PR');
  void b!.lock('lin', 'r1', 'PR').catch(() => {});
  void a!.lock('lin', 'r2', 'PR').catch(() => {});
  void c!.lock('lin', 'r1', 'CR').catch(() => {});
  await a!.setlk('adv', 'f', { type: 'write', start: 0, len: 10 });
  await c!.setlk('adv', 'f', { type: 'read', start: 20, len: 10 });
  void b!.setlk('adv', 'f', { type: 'write', start: 5, len: 20 }, { wait: true }).catch(() => {});
  clock.advance(150);
  return lm;
}

it('the wait-for graph read alone is the snapshot\'s edges, cycles and the owners on them', async () => {
  const lm = await busy();
  const snap = lm.snapshot();
  const g = lm.waitForGraph();
  expect(snap.edges.length).toBeGreaterThanOrEqual(4);
  expect(g.edges).toEqual(snap.edges);
  expect(g.cycles).toEqual(snap.cycles);
  expect(g.cycles).toHaveLength(1);
  const onEdges = new Set(snap.edges.flatMap((e) => [e.from, e.to]));
  const byId = (x: { id: number }, y: { id: number }): number => x.id - y.id;
  expect(g.owners.sort(byId)).toEqual(snap.owners.filter((o) => onEdges.has(o.id)).sort(byId));
  lm.close();
});

it('the owners read alone are the snapshot\'s, whole or cut by locksMax', async () => {
  const lm = await busy();
  expect(lm.snapshotOwners()).toEqual(lm.snapshot().owners);
  for (const locksMax of [1, 2, 3, 5, 8]) {
    const snap = lm.snapshot({ locksMax });
    expect(lm.snapshotOwners({ locksMax }), `locksMax ${locksMax}`).toEqual(snap.owners);
  }
  expect(() => lm.snapshotOwners({ locksMax: 0 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  lm.close();
});

it('the hangs read alone are the snapshot\'s hangs in progress', async () => {
  const lm = await busy();
  const hangs = lm.hangs();
  expect(hangs.map((h) => [h.owner, h.resource])).toEqual([['b', 'r1'], ['a', 'r2'], ['c', 'r1'], ['b', 'f']]);
  expect(hangs).toEqual(lm.snapshot().hangs);
  lm.close();
});

it('the hang counts are the hangs in progress counted per domain, every domain listed, without copying them', async () => {
  const lm = await busy();
  const count = (): Record<string, { hanging: number; persistent: number }> => {
    const out: Record<string, { hanging: number; persistent: number }> = { lin: { hanging: 0, persistent: 0 }, adv: { hanging: 0, persistent: 0 }, idle: { hanging: 0, persistent: 0 } };
    for (const h of lm.hangs()) out[h.domain]![h.classification === 'persistent' ? 'persistent' : 'hanging']++;
    return out;
  };
  expect(Object.fromEntries(lm.hangCounts())).toEqual({ lin: { hanging: 3, persistent: 0 }, adv: { hanging: 1, persistent: 0 }, idle: { hanging: 0, persistent: 0 } });
  expect(Object.fromEntries(lm.hangCounts())).toEqual(count());
  // Past persistentAfterMs (default: five soft timeouts) every one still blocked is persistent.
  (lm.clock as FakeClock).advance(2_000);
  expect(Object.fromEntries(lm.hangCounts())).toEqual({ lin: { hanging: 0, persistent: 3 }, adv: { hanging: 0, persistent: 1 }, idle: { hanging: 0, persistent: 0 } });
  expect(Object.fromEntries(lm.hangCounts())).toEqual(count());
  lm.close();
});
