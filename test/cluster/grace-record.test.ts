import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  add, allEnforcing, EMPTY_RECORD, GraceStore, inGrace, join, lift, remove, settle, start, type GraceRecord,
} from '../../server/cluster/grace-record.js';
import { openEtcd } from '../../server/cluster/etcd.js';
import { EtcdCluster, etcdAvailable } from './etcd.js';

function rec(current: number, recovery: number, nodes: GraceRecord['nodes']): GraceRecord {
  return { current, recovery, nodes };
}

describe('grace record transitions (pure)', () => {
  it('add: a new node enforces without need; adding it again changes nothing', () => {
    const r = add(EMPTY_RECORD, 'n1')!;
    expect(r).toEqual(rec(1, 0, { n1: { need: false, enforcing: true } }));
    expect(add(r, 'n1')).toBeNull();
  });

  it('start: opens a grace (R = C, C = C + 1) only when none is in force', () => {
    const r1 = start(rec(1, 0, { n1: { need: false, enforcing: false } }), 'n1')!;
    expect(r1).toEqual(rec(2, 1, { n1: { need: true, enforcing: true } }));
    const r2 = start(r1, 'n2')!;
    expect(r2).toEqual(rec(2, 1, { n1: { need: true, enforcing: true }, n2: { need: true, enforcing: true } }));
  });

  it('join: only into a grace already in force', () => {
    expect(join(rec(3, 0, {}), 'n1')).toBeNull();
    expect(join(rec(3, 2, {}), 'n1')).toEqual(rec(3, 2, { n1: { need: true, enforcing: true } }));
  });

  it('enforcing check: every node enforcing, and the asking node present', () => {
    const r = rec(2, 1, { n1: { need: true, enforcing: true }, n2: { need: false, enforcing: false } });
    expect(allEnforcing(r, 'n1')).toBe(false);
    const r2 = rec(2, 1, { n1: { need: true, enforcing: true }, n2: { need: false, enforcing: true } });
    expect(allEnforcing(r2, 'n1')).toBe(true);
    expect(allEnforcing(r2, 'n3')).toBe(false);
  });

  it('lift: the last node to clear need ends the grace; settle then clears enforcing', () => {
    const r = rec(2, 1, { n1: { need: true, enforcing: true }, n2: { need: true, enforcing: true } });
    const r1 = lift(r, 'n1')!;
    expect(r1.recovery).toBe(1);
    expect(settle(r1, 'n1')).toBeNull(); // grace still in force: keep enforcing
    const r2 = lift(r1, 'n2')!;
    expect(r2).toEqual(rec(2, 0, { n1: { need: false, enforcing: true }, n2: { need: false, enforcing: true } }));
    expect(settle(r2, 'n1')).toEqual(rec(2, 0, { n1: { need: false, enforcing: false }, n2: { need: false, enforcing: true } }));
    expect(lift(r2, 'n1')).toBeNull();
  });

  it('remove: a node that left cannot hold the grace open', () => {
    const r = rec(2, 1, { n1: { need: false, enforcing: true }, dead: { need: true, enforcing: true } });
    const r1 = remove(r, 'dead')!;
    expect(r1).toEqual(rec(2, 0, { n1: { need: false, enforcing: true } }));
    expect(inGrace(r1)).toBe(false);
    expect(remove(r1, 'dead')).toBeNull();
  });
});

const run = etcdAvailable() ? describe : describe.skip;

run('grace record in a real etcd', () => {
  let etcd: EtcdCluster;
  const clients: ReturnType<typeof openEtcd>[] = [];

  beforeAll(async () => {
    etcd = await EtcdCluster.start(1);
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await etcd?.stop();
  });

  function store(key: string): GraceStore {
    const c = openEtcd(etcd.urls, 1000);
    clients.push(c);
    return new GraceStore(c, key);
  }

  it('loses no update when many nodes change the record at once', async () => {
    const nodes = Array.from({ length: 12 }, (_, i) => `n${i}`);
    const stores = nodes.map(() => store('/t/grace-concurrent'));
    await Promise.all(stores.map((s, i) => s.update((r) => start(r, nodes[i]!))));
    const { record } = await stores[0]!.read();
    // Exactly one grace opened (C bumped once), and every node's flags are there.
    expect(record.current).toBe(2);
    expect(record.recovery).toBe(1);
    expect(Object.keys(record.nodes).sort()).toEqual([...nodes].sort());
    expect(Object.values(record.nodes).every((f) => f.need && f.enforcing)).toBe(true);

    await Promise.all(stores.map((s, i) => s.update((r) => lift(r, nodes[i]!))));
    const after = (await stores[0]!.read()).record;
    expect(after.recovery).toBe(0);
    expect(Object.values(after.nodes).some((f) => f.need)).toBe(false);
  });

  it('tells a watcher of every record written', async () => {
    const writer = store('/t/grace-watch');
    const reader = store('/t/grace-watch');
    const seen: GraceRecord[] = [];
    await reader.watch((r) => seen.push(r));
    await writer.update((r) => start(r, 'a'));
    await writer.update((r) => lift(r, 'a'));
    const deadline = Date.now() + 5000;
    while (seen.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(seen.map((r) => r.recovery)).toEqual([0, 1, 0]);
    await reader.close();
  });
});
