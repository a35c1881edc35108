/**
 * Waiting, cancelling and bad input, for every way of making owners.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { codeOf, queues, STANDARD_DOMAINS, track, type HarnessFactory, type LockHarness } from './harness.js';

export function defineWaitSuite(label: string, make: HarnessFactory): void {
  describe(`waits, cancels and input (${label})`, () => {
    let h: LockHarness;
    beforeEach(async () => {
      h = await make(STANDARD_DOMAINS);
    });
    afterEach(async () => {
      await h.close();
    });

    it('timeoutMs fails with ETIMEDOUT and whoever was behind moves up at once', async () => {
      await h.owner('a').lock('lin', 'r', 'PR');
      const b = h.owner('b').lock('lin', 'r', 'EX', { timeoutMs: 30 });
      const c = track(h.owner('c').lock('lin', 'r', 'PR'));
      expect(await codeOf(b)).toBe('ETIMEDOUT');
      await c.promise;
      expect(await queues(h, 'lin', 'r')).toEqual({ granted: ['a:PR', 'c:PR'], converting: [], waiting: [] });
    });

    it('an AbortSignal fails the wait with ECANCELED and takes it out of the queue', async () => {
      await h.owner('a').lock('lin', 'r', 'PR');
      const ac = new AbortController();
      const b = track(h.owner('b').lock('lin', 'r', 'EX', { signal: ac.signal }));
      const c = track(h.owner('c').lock('lin', 'r', 'PR'));
      await h.settle();
      expect(c.done).toBe(false);
      ac.abort();
      expect(await codeOf(b.promise)).toBe('ECANCELED');
      await c.promise;
    });

    it('an already aborted signal fails at once and queues nothing', async () => {
      await h.owner('a').lock('lin', 'r', 'EX');
      expect(await codeOf(h.owner('b').lock('lin', 'r', 'EX', { signal: AbortSignal.abort() }))).toBe('ECANCELED');
      expect((await queues(h, 'lin', 'r')).waiting).toEqual([]);
    });

    it('a timed-out conversion leaves the lock granted in its old mode', async () => {
      const a = await h.owner('a').lock('lin', 'r', 'PR');
      await h.owner('b').lock('lin', 'r', 'PR');
      expect(await codeOf(a.convert('EX', { timeoutMs: 20 }))).toBe('ETIMEDOUT');
      expect(a.mode).toBe('PR');
      expect(a.state).toBe('granted');
    });

    it('releaseAll drops every lock at once and fails pending waits with ECANCELED', async () => {
      const o = h.owner('job');
      await o.lock('lin', 'r1', 'EX');
      await o.setlk('adv', 'f', { type: 'write', start: 0, len: 10 });
      await h.owner('other').lock('lin', 'r2', 'EX');
      const pending = track(o.lock('lin', 'r2', 'PR'));
      const waiter = track(h.owner('w').lock('lin', 'r1', 'EX'));
      await h.settle();
      await o.releaseAll();
      expect(await codeOf(pending.promise)).toBe('ECANCELED');
      await waiter.promise;
      expect(await h.owner('x').getlk('adv', 'f', { type: 'write', start: 0, len: 0 })).toBeNull();
    });

    it('await using releases the lock at the end of the block', async () => {
      {
        await using lock = await h.owner('a').lock('lin', 'scoped', 'EX');
        expect(lock.state).toBe('granted');
      }
      const b = await h.owner('b').lock('lin', 'scoped', 'EX', { noQueue: true });
      expect(b.mode).toBe('EX');
    });

    it('release is idempotent and reports why the lock ended', async () => {
      const a = await h.owner('a').lock('lin', 'r', 'EX');
      await a.release();
      await a.release();
      expect(a.state).toBe('released');
      expect(a.lostReason).toBe('released');
    });

    describe('bad input is EINVAL (or ENOENT) and changes nothing', () => {
      const cases: Array<[string, string, (h: LockHarness) => Promise<unknown>]> = [
        ['unknown mode', 'EINVAL', (x) => x.owner('a').lock('lin', 'r', 'XX' as never)],
        ['lowercase mode', 'EINVAL', (x) => x.owner('a').lock('lin', 'r', 'ex' as never)],
        ['unknown domain', 'ENOENT', (x) => x.owner('a').lock('nope', 'r', 'EX')],
        ['posix call on a dlm domain', 'EINVAL', (x) => x.owner('a').setlk('lin', 'r', { type: 'read', start: 0, len: 1 })],
        ['dlm call on a posix domain', 'EINVAL', (x) => x.owner('a').lock('adv', 'r', 'EX')],
        ['empty resource', 'EINVAL', (x) => x.owner('a').lock('lin', '', 'EX')],
        ['257-byte resource', 'EINVAL', (x) => x.owner('a').lock('lin', 'r'.repeat(257), 'EX')],
        ['resource over 256 bytes in UTF-8', 'EINVAL', (x) => x.owner('a').lock('lin', 'é'.repeat(129), 'EX')],
        ['non-string resource', 'EINVAL', (x) => x.owner('a').lock('lin', 42 as never, 'EX')],
        ['unknown option', 'EINVAL', (x) => x.owner('a').lock('lin', 'r', 'EX', { bogus: 1 } as never)],
        ['negative timeout', 'EINVAL', (x) => x.owner('a').lock('lin', 'r', 'EX', { timeoutMs: -1 })],
        ['NaN timeout', 'EINVAL', (x) => x.owner('a').lock('lin', 'r', 'EX', { timeoutMs: NaN })],
        ['non-boolean noQueue', 'EINVAL', (x) => x.owner('a').lock('lin', 'r', 'EX', { noQueue: 'yes' as never })],
        ['bad alt', 'EINVAL', (x) => x.owner('a').lock('lin', 'r', 'EX', { alt: 'EX' as never })],
        ['posix negative start', 'EINVAL', (x) => x.owner('a').setlk('adv', 'f', { type: 'read', start: -1, len: 1 })],
        ['posix fractional len', 'EINVAL', (x) => x.owner('a').setlk('adv', 'f', { type: 'read', start: 0, len: 1.5 })],
        ['posix range past 2^53-1', 'EINVAL', (x) => x.owner('a').setlk('adv', 'f', { type: 'read', start: 2 ** 53 - 10, len: 20 })],
        ['posix bad type', 'EINVAL', (x) => x.owner('a').setlk('adv', 'f', { type: 'exclusive' as never, start: 0, len: 1 })],
        ['getlk of unlock', 'EINVAL', (x) => x.owner('a').getlk('adv', 'f', { type: 'unlock', start: 0, len: 1 })],
      ];
      for (const [name, code, call] of cases) {
        it(name, async () => {
          const before = await h.snapshot();
          expect(await codeOf(call(h))).toBe(code);
          const after = await h.snapshot();
          expect(after.domains).toEqual(before.domains);
        });
      }
    });
  });

  describe(`limits (${label})`, () => {
    it('locksPerOwnerMax, waitersPerResourceMax and resourcesPerDomainMax give ENOLCK naming the limit', async () => {
      const h = await make(
        [{ name: 'lin', kind: 'dlm', limits: { resourcesPerDomainMax: 3, waitersPerResourceMax: 1 } }],
        { locksPerOwnerMax: 2 },
      );
      try {
        const o = h.owner('a');
        await o.lock('lin', 'r1', 'EX');
        await o.lock('lin', 'r2', 'EX');
        const err = (await o.lock('lin', 'r3', 'EX').then(() => null, (e: unknown) => e)) as { code: string; limit: string };
        expect([err.code, err.limit]).toEqual(['ENOLCK', 'locksPerOwnerMax']);
        void h.owner('b').lock('lin', 'r1', 'EX').catch(() => {});
        const w = (await h.owner('c').lock('lin', 'r1', 'EX').then(() => null, (e: unknown) => e)) as { code: string; limit: string };
        expect([w.code, w.limit]).toEqual(['ENOLCK', 'waitersPerResourceMax']);
        await h.owner('d').lock('lin', 'r3', 'EX');
        const r = (await h.owner('e').lock('lin', 'r4', 'EX').then(() => null, (e: unknown) => e)) as { code: string; limit: string };
        expect([r.code, r.limit]).toEqual(['ENOLCK', 'resourcesPerDomainMax']);
      } finally {
        await h.close();
      }
    });
  });
}
