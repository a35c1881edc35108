/**
 * POSIX advisory byte-range locks, in the spirit of the Connectathon lock
 * tests and LTP's fcntl tests: exact split/merge, getlk reporting the piece as
 * held, F_SETLK vs F_SETLKW, and waiters woken exactly when they fit.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LockOwner } from '../../src/index.js';
import { codeOf, STANDARD_DOMAINS, track, type HarnessFactory, type LockHarness } from './harness.js';

type Held = Array<[string, number, number | null]>;

export function definePosixSuite(label: string, make: HarnessFactory): void {
  describe(`posix locks (${label})`, () => {
    let h: LockHarness;
    let a: LockOwner;
    let b: LockOwner;
    beforeEach(async () => {
      h = await make(STANDARD_DOMAINS);
      a = h.owner('a');
      b = h.owner('b');
    });
    afterEach(async () => {
      await h.close();
    });

    /** The owner's pieces as [type, start, end|null], sorted by start. */
    async function held(owner: string, resource = 'f'): Promise<Held> {
      const snap = await h.snapshot();
      const r = snap.domains.find((d) => d.name === 'adv')!.resources.find((x) => x.name === resource);
      return (r?.granted ?? [])
        .filter((l) => l.owner === owner)
        .map((l): [string, number, number | null] => [l.mode!, l.range!.start, l.range!.end])
        .sort((x, y) => x[1] - y[1]);
    }
    const set = (o: LockOwner, type: 'read' | 'write' | 'unlock', start: number, len: number) => o.setlk('adv', 'f', { type, start, len });

    it('a read in the middle of a write splits it in three', async () => {
      await set(a, 'write', 0, 100);
      await set(a, 'read', 40, 20);
      expect(await held('a')).toEqual([['write', 0, 40], ['read', 40, 60], ['write', 60, 100]]);
    });

    it('adjacent and overlapping pieces of the same type merge', async () => {
      await set(a, 'read', 0, 10);
      await set(a, 'read', 10, 10);
      await set(a, 'read', 15, 10);
      expect(await held('a')).toEqual([['read', 0, 25]]);
      await set(a, 'write', 30, 5);
      await set(a, 'write', 25, 5);
      expect(await held('a')).toEqual([['read', 0, 25], ['write', 25, 35]]);
    });

    it('unlocking a sub-range splits, and unlocking what is not held is a no-op', async () => {
      await set(a, 'write', 0, 100);
      expect(await set(a, 'unlock', 10, 10)).toBeNull();
      expect(await held('a')).toEqual([['write', 0, 10], ['write', 20, 100]]);
      await set(a, 'unlock', 200, 10);
      expect(await held('a')).toEqual([['write', 0, 10], ['write', 20, 100]]);
      await set(a, 'unlock', 0, 0);
      expect(await held('a')).toEqual([]);
    });

    it('len 0 locks to the end, and getlk reports it as len 0', async () => {
      await set(a, 'write', 1000, 0);
      expect(await b.getlk('adv', 'f', { type: 'read', start: 2 ** 52, len: 1 })).toEqual({ owner: 'a', type: 'write', start: 1000, len: 0 });
      expect(await b.getlk('adv', 'f', { type: 'read', start: 0, len: 1000 })).toBeNull();
    });

    it('getlk returns the conflicting piece exactly as held, or null', async () => {
      await set(a, 'write', 0, 100);
      expect(await b.getlk('adv', 'f', { type: 'read', start: 50, len: 10 })).toEqual({ owner: 'a', type: 'write', start: 0, len: 100 });
      await set(a, 'read', 0, 100);
      expect(await b.getlk('adv', 'f', { type: 'read', start: 50, len: 10 })).toBeNull();
      expect(await b.getlk('adv', 'f', { type: 'write', start: 99, len: 5 })).toEqual({ owner: 'a', type: 'read', start: 0, len: 100 });
      expect(await a.getlk('adv', 'f', { type: 'write', start: 0, len: 0 })).toBeNull(); // own locks never conflict
    });

    it('reads share, a write conflicts with anything overlapping; F_SETLK gives EAGAIN', async () => {
      await set(a, 'read', 0, 10);
      await set(b, 'read', 5, 10);
      expect(await codeOf(set(b, 'write', 9, 1))).toBe('EAGAIN');
      expect(await codeOf(set(h.owner('c'), 'write', 14, 1))).toBe('EAGAIN');
      await set(h.owner('c'), 'write', 15, 1);
      expect(await held('b')).toEqual([['read', 5, 15]]);
    });

    it('an owner can upgrade its own read to write when nobody else overlaps', async () => {
      await set(a, 'read', 0, 10);
      await set(a, 'write', 0, 10);
      expect(await held('a')).toEqual([['write', 0, 10]]);
    });

    it('F_SETLKW waits and is granted by a partial unlock that frees its range', async () => {
      await set(a, 'write', 0, 100);
      const w = track(b.setlk('adv', 'f', { type: 'write', start: 10, len: 10 }, { wait: true }));
      await set(a, 'unlock', 50, 10); // elsewhere: not enough
      await h.settle();
      expect(w.done).toBe(false);
      await set(a, 'unlock', 5, 20);
      const got = await w.promise;
      expect(typeof got!.token).toBe('bigint');
      expect(await held('b')).toEqual([['write', 10, 20]]);
      expect(await held('a')).toEqual([['write', 0, 5], ['write', 25, 50], ['write', 60, 100]]);
    });

    it('a downgrade from write to read wakes a waiting reader, not a waiting writer', async () => {
      await set(a, 'write', 0, 10);
      const r = track(b.setlk('adv', 'f', { type: 'read', start: 0, len: 10 }, { wait: true }));
      const w = track(h.owner('c').setlk('adv', 'f', { type: 'write', start: 0, len: 10 }, { wait: true }));
      await h.settle();
      await set(a, 'write', 0, 10); // re-applying the same lock changes nothing
      await h.settle();
      expect([r.done, w.done]).toEqual([false, false]);
      await set(a, 'read', 0, 10);
      await h.settle();
      expect([r.done, w.done]).toEqual([true, false]);
      await set(a, 'unlock', 0, 0);
      await set(b, 'unlock', 0, 0);
      await w.promise;
    });

    it('a blocking request with timeoutMs fails with ETIMEDOUT and leaves nothing behind', async () => {
      await set(a, 'write', 0, 1);
      expect(await codeOf(b.setlk('adv', 'f', { type: 'read', start: 0, len: 1 }, { wait: true, timeoutMs: 20 }))).toBe('ETIMEDOUT');
      const snap = await h.snapshot();
      expect(snap.domains.find((d) => d.name === 'adv')!.resources[0]!.waiting).toEqual([]);
    });

    it('Connectathon-style: one owner locks the file in pieces, another tests every boundary', async () => {
      await set(a, 'write', 0, 1);
      await set(a, 'write', 2, 2);
      await set(a, 'read', 8, 0);
      const probe = (start: number, len: number, type: 'read' | 'write' = 'write') => b.getlk('adv', 'f', { type, start, len });
      expect(await probe(0, 1)).toEqual({ owner: 'a', type: 'write', start: 0, len: 1 });
      expect(await probe(1, 1)).toBeNull();
      expect(await probe(1, 2)).toEqual({ owner: 'a', type: 'write', start: 2, len: 2 });
      expect(await probe(4, 4)).toBeNull();
      expect(await probe(4, 5)).toEqual({ owner: 'a', type: 'read', start: 8, len: 0 });
      expect(await probe(100, 1, 'read')).toBeNull();
      expect(await probe(OFFSET_LAST, 1)).toEqual({ owner: 'a', type: 'read', start: 8, len: 0 });
    });
  });
}

const OFFSET_LAST = 2 ** 53 - 2;
