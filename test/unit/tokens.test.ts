/**
 * Fencing-token reservation when `reserve` fails (src/tokens.ts T1, T2): the
 * counter issues from what it has reserved, refuses new requests EIO while a
 * quarter block is kept for queued waiters, never issues past the last
 * durable reservation, and resumes once a reservation succeeds.
 */

import { describe, expect, it } from 'vitest';
import { LockManager } from '../../src/index.js';
import { codeOf } from '../spec/harness.js';

describe('token reservation that fails', () => {
  it('issues from the reserved block, refuses EIO before the last quarter, and grants a queued waiter from it', async () => {
    const reserved: number[] = [];
    let failing = false;
    const reserve = (upTo: number): void => {
      if (failing) throw new Error('ENOSPC: no space left on device');
      reserved.push(upTo);
    };
    const lm = new LockManager({ domains: [{ name: 'd', kind: 'dlm' }, { name: 'px', kind: 'posix' }], stacks: 'off', tokens: { block: 8, reserve } });
    const o = lm.owner('a');
    const first = await o.lock('d', 'r1', 'EX');
    expect(reserved).toEqual([8]);
    // A waiter queued before the disk fails.
    const waiting = lm.owner('b').lock('d', 'r1', 'EX');
    failing = true;
    const tokens = [first.token];
    for (const r of ['r2', 'r3', 'r4', 'r5', 'r6']) tokens.push((await o.lock('d', r, 'EX')).token);
    expect(tokens).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    // Two tokens (a quarter block) left: new requests are refused before they change anything.
    expect(await codeOf(o.lock('d', 'r7', 'EX'))).toBe('EIO');
    expect(await codeOf(o.setlk('px', 'f', { type: 'write', start: 0, len: 1 }))).toBe('EIO');
    expect(lm.snapshot().domains.find((d) => d.name === 'd')!.resources.map((r) => r.name).sort()).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    // The waiter queued before is granted from what is kept back.
    first.release();
    expect((await waiting).token).toBe(7n);
    expect(reserved).toEqual([8]);
    failing = false;
    expect((await o.lock('d', 'r7', 'EX')).token).toBe(8n);
    expect(reserved).toEqual([8, 16]);
  });
});
