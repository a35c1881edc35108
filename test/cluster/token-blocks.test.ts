import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenBlocks } from '../../server/cluster/token-blocks.js';
import { openEtcd } from '../../server/cluster/etcd.js';
import { EtcdCluster, etcdAvailable } from './etcd.js';

const run = etcdAvailable() ? describe : describe.skip;

run('token blocks in a real etcd', () => {
  let etcd: EtcdCluster;
  const clients: ReturnType<typeof openEtcd>[] = [];

  beforeAll(async () => {
    etcd = await EtcdCluster.start(1);
  }, 30_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await etcd?.stop();
  });

  function blocks(key: string, size: number): TokenBlocks {
    const c = openEtcd(etcd.urls, 1000);
    clients.push(c);
    return new TokenBlocks(c, key, size);
  }

  it('never hands out overlapping blocks, however many nodes reserve at once', async () => {
    const nodes = Array.from({ length: 10 }, () => blocks('/t/tokens', 1000));
    const got = (await Promise.all(nodes.flatMap((n) => [n.reserve(), n.reserve(), n.reserve()])))
      .sort((a, b) => a.first - b.first);
    expect(got).toHaveLength(30);
    expect(got[0]!.first).toBe(1);
    for (let i = 0; i < got.length; i++) {
      expect(got[i]!.last - got[i]!.first).toBe(999);
      if (i > 0) expect(got[i]!.first).toBe(got[i - 1]!.last + 1);
    }
    expect(await nodes[0]!.highWater()).toBe(30_000);
  });

  it('a block reserved later lies above every block reserved before it', async () => {
    const a = blocks('/t/tokens-order', 10);
    const b = blocks('/t/tokens-order', 1_000_000);
    const first = await a.reserve();
    const second = await b.reserve();
    const third = await a.reserve();
    expect(second.first).toBeGreaterThan(first.last);
    expect(third.first).toBeGreaterThan(second.last);
  });

  it('refuses to pass 2^53 - 1 rather than repeat a token', async () => {
    const c = openEtcd(etcd.urls, 1000);
    clients.push(c);
    await c.put('/t/tokens-end').value(String(Number.MAX_SAFE_INTEGER - 5));
    const near = new TokenBlocks(c, '/t/tokens-end', 10);
    await expect(near.reserve()).rejects.toMatchObject({ code: 'ENOLCK', limit: 'tokenMax' });
    expect(await near.highWater()).toBe(Number.MAX_SAFE_INTEGER - 5);
  });
});
