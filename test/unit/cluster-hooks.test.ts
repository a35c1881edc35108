/** The two hooks a cluster node sets in the core: admission of every state-creating request, and external token blocks. */

import { describe, expect, it } from 'vitest';
import { LockError, LockManager } from '../../src/index.js';
import { codeOf } from '../spec/harness.js';

const DOMAINS = [{ name: 'lin', kind: 'dlm' as const }, { name: 'adv', kind: 'posix' as const }];

describe('cluster admission', () => {
  function gated() {
    const calls: [string, string, boolean, string | null][] = [];
    const lm = new LockManager({
      domains: DOMAINS,
      tokens: { external: true },
      admission: (domain, resource, reclaim, client) => {
        calls.push([domain, resource, reclaim, client]);
        if (resource.startsWith('elsewhere')) throw new LockError('ESTALE', 'mastered elsewhere', { generation: '42' });
        if (resource.startsWith('recovering') && !reclaim) throw new LockError('EGRACE', 'in recovery');
      },
    });
    lm.advanceTokens(1, 1_000_000);
    return { lm, calls };
  }

  it('asks the cluster before every new lock, in-process owners included, and relays its refusal', async () => {
    const { lm, calls } = gated();
    const o = lm.owner('local');
    const err = await o.lock('lin', 'elsewhere:1', 'EX').catch((e: LockError) => e);
    expect(err).toMatchObject({ code: 'ESTALE', generation: '42' });
    expect(await codeOf(o.setlk('adv', 'recovering:f', { type: 'read', start: 0, len: 1 }))).toBe('EGRACE');
    const r = await lm.owner('remote', { client: 'c1' }).lock('lin', 'recovering:2', 'PR', { reclaim: true });
    expect(r.state).toBe('granted');
    expect(calls).toEqual([
      ['lin', 'elsewhere:1', false, null],
      ['adv', 'recovering:f', false, null],
      ['lin', 'recovering:2', true, 'c1'],
    ]);
    expect(lm.snapshot().domains.find((d) => d.name === 'lin')!.resources.map((x) => x.name)).toEqual(['recovering:2']);
  });

  it('asks again for an up-conversion, not for a down-conversion, a release or an unlock', async () => {
    const { lm, calls } = gated();
    const o = lm.owner('a');
    const l = await o.lock('lin', 'r', 'PR');
    await o.setlk('adv', 'f', { type: 'write', start: 0, len: 10 });
    calls.length = 0;
    await l.convert('EX');
    await l.convert('NL');
    await o.setlk('adv', 'f', { type: 'unlock', start: 0, len: 10 });
    l.release();
    expect(calls).toEqual([['lin', 'r', false, null]]);
  });
});

describe('external fencing-token blocks', () => {
  it('issues nothing before a block, then only tokens of the blocks handed in, in order', async () => {
    const lm = new LockManager({ domains: DOMAINS, tokens: { external: true } });
    const o = lm.owner('a');
    const e = await o.lock('lin', 'r0', 'EX').catch((x: LockError) => x);
    expect(e).toMatchObject({ code: 'ENOLCK', limit: 'tokenBlock' });
    // Refused before anything changed: nothing is held or queued.
    expect(lm.stats()['lin']).toMatchObject({ held: 0, waiting: 0, resources: 0 });

    lm.advanceTokens(1001, 1002);
    lm.advanceTokens(5001, 5003); // queued behind the first block
    expect(lm.tokensRemaining).toBe(5);
    const tokens: bigint[] = [];
    for (let i = 0; i < 5; i++) {
      const l = await o.lock('lin', `r${i}`, 'EX');
      tokens.push(l.token);
    }
    expect(tokens).toEqual([1001n, 1002n, 5001n, 5002n, 5003n]);
    expect(lm.tokensRemaining).toBe(0);
    expect(await codeOf(o.lock('lin', 'r9', 'EX'))).toBe('ENOLCK');
    expect(() => lm.advanceTokens(4000, 4100)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
  });
});

describe('revoking the resources a node no longer masters', () => {
  it('takes away locks and waits on the chosen resources only, and names their clients', async () => {
    const lm = new LockManager({ domains: DOMAINS });
    const a = lm.owner('a', { client: 'ca' });
    const b = lm.owner('b', { client: 'cb' });
    const local = lm.owner('local');
    const moving = await a.lock('lin', 'moving', 'EX');
    const waiter = codeOf(b.lock('lin', 'moving', 'PR'));
    const staying = await local.lock('lin', 'staying', 'EX');
    await b.setlk('adv', 'moving-file', { type: 'write', start: 0, len: 10 });
    const posixWait = codeOf(a.setlk('adv', 'moving-file', { type: 'read', start: 5, len: 1 }, { wait: true }));

    const clients = lm.revokeResources((_d, r) => r.startsWith('moving'), 'node-failed');
    expect([...clients].sort()).toEqual(['ca', 'cb']);
    expect(moving.state).toBe('lost');
    expect(moving.lostReason).toBe('node-failed');
    expect(await waiter).toBe('EREVOKED');
    expect(await posixWait).toBe('EREVOKED');
    expect(await b.getlk('adv', 'moving-file', { type: 'write', start: 0, len: 0 })).toBeNull();
    expect(staying.state).toBe('granted');
    expect(lm.stats()['lin']).toMatchObject({ held: 1, waiting: 0 });
  });
});
