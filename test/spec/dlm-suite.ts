/**
 * DLM lock behaviour, written once and run against every way of making
 * owners (in-process now, the remote client later).
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MODES, compatible, type LockHandle } from '../../src/index.js';
import { codeOf, queues, STANDARD_DOMAINS, track, type HarnessFactory, type LockHarness } from './harness.js';

export function defineDlmSuite(label: string, make: HarnessFactory): void {
  describe(`dlm locks (${label})`, () => {
    let h: LockHarness;
    beforeEach(async () => {
      h = await make(STANDARD_DOMAINS);
    });
    afterEach(async () => {
      await h.close();
    });

    describe('compatibility matrix', () => {
      // Written out from the VMS/Linux DLM table, not computed with the implementation's own compatible():
      // each row is a held mode, each column a requested one, in the order NL CR CW PR PW EX.
      const MATRIX: Record<string, string> = {
        NL: 'yyyyyy',
        CR: 'yyyyyn',
        CW: 'yyynnn',
        PR: 'yynynn',
        PW: 'yynnnn',
        EX: 'ynnnnn',
      };
      it('the core\'s compatible() agrees with the table', () => {
        for (const held of MODES) for (const wanted of MODES) {
          expect(compatible(MODES.indexOf(held), MODES.indexOf(wanted)), `${held}/${wanted}`).toBe(MATRIX[held]![MODES.indexOf(wanted)] === 'y');
        }
      });
      for (const held of MODES) {
        for (const wanted of MODES) {
          const ok = MATRIX[held]![MODES.indexOf(wanted)] === 'y';
          it(`${held} held, ${wanted} requested: ${ok ? 'granted' : 'EAGAIN'}`, async () => {
            await h.owner('a').lock('lin', 'r', held);
            const p = h.owner('b').lock('lin', 'r', wanted, { noQueue: true });
            if (ok) expect((await p).mode).toBe(wanted);
            else expect(await codeOf(p)).toBe('EAGAIN');
          });
        }
      }
    });

    it('grants queued requests in FIFO order, and a compatible request waits behind an incompatible one', async () => {
      const a = await h.owner('a').lock('lin', 'r', 'EX');
      const b = track(h.owner('b').lock('lin', 'r', 'PR'));
      const c = track(h.owner('c').lock('lin', 'r', 'EX'));
      const d = track(h.owner('d').lock('lin', 'r', 'PR'));
      await h.settle();
      expect(await queues(h, 'lin', 'r')).toEqual({ granted: ['a:EX'], converting: [], waiting: ['b:>PR', 'c:>EX', 'd:>PR'] });
      await a.release();
      await h.settle();
      expect([b.done, c.done, d.done]).toEqual([true, false, false]);
      await b.value!.release();
      await h.settle();
      expect([c.done, d.done]).toEqual([true, false]);
      await c.value!.release();
      expect((await d.promise).mode).toBe('PR');
    });

    it('a new request waits when anyone is queued, even if compatible with every holder', async () => {
      await h.owner('a').lock('lin', 'r', 'PR');
      const b = track(h.owner('b').lock('lin', 'r', 'EX'));
      const c = track(h.owner('c').lock('lin', 'r', 'PR'));
      await h.settle();
      expect([b.done, c.done]).toEqual([false, false]);
      expect(await codeOf(h.owner('d').lock('lin', 'r', 'NL', { noQueue: true }))).toBe('EAGAIN');
    });

    it('grants queued conversions before queued new requests', async () => {
      const a = await h.owner('a').lock('lin', 'r', 'PR');
      const b = await h.owner('b').lock('lin', 'r', 'PR');
      const c = track(h.owner('c').lock('lin', 'r', 'EX'));
      const conv = track(a.convert('EX'));
      await h.settle();
      expect(await queues(h, 'lin', 'r')).toEqual({ granted: ['b:PR'], converting: ['a:PR>EX'], waiting: ['c:>EX'] });
      await b.release();
      await h.settle();
      expect(conv.done).toBe(true);
      expect(a.mode).toBe('EX');
      expect(c.done).toBe(false);
      await a.release();
      expect((await c.promise).mode).toBe('EX');
    });

    it('grants a compatible conversion in place even with requests queued', async () => {
      const a = await h.owner('a').lock('lin', 'r', 'CR');
      const b = await h.owner('b').lock('lin', 'r', 'PR');
      const c = track(h.owner('c').lock('lin', 'r', 'EX'));
      await h.settle();
      await a.convert('PR');
      expect(a.mode).toBe('PR');
      expect(c.done).toBe(false);
      await b.release();
      await a.release();
      await c.promise;
    });

    it('quecvt queues a compatible conversion behind earlier conversions', async () => {
      const d = await h.owner('d').lock('lin', 'r', 'PR');
      const b = await h.owner('b').lock('lin', 'r', 'NL');
      const a = await h.owner('a').lock('lin', 'r', 'NL');
      const bConv = track(b.convert('EX'));
      await h.settle();
      const plain = await a.convert('CR');
      expect(plain.mode).toBe('CR');
      await a.convert('NL');
      const aConv = track(a.convert('CR', { quecvt: true }));
      await h.settle();
      expect(await queues(h, 'lin', 'r')).toEqual({ granted: ['d:PR'], converting: ['b:NL>EX', 'a:NL>CR'], waiting: [] });
      await d.release();
      await h.settle();
      expect([bConv.done, aConv.done]).toEqual([true, false]);
      await b.release();
      await aConv.promise;
      expect(a.mode).toBe('CR');
    });

    it('down-conversions are granted at once and let waiters in', async () => {
      const a = await h.owner('a').lock('lin', 'r', 'EX');
      const b = track(h.owner('b').lock('lin', 'r', 'PR'));
      await h.settle();
      expect(b.done).toBe(false);
      await a.convert('PR');
      expect((await b.promise).mode).toBe('PR');
      expect(a.mode).toBe('PR');
    });

    it('noQueue fails with EAGAIN and changes nothing', async () => {
      await h.owner('a').lock('lin', 'r', 'EX');
      const before = await queues(h, 'lin', 'r');
      expect(await codeOf(h.owner('b').lock('lin', 'r', 'PR', { noQueue: true }))).toBe('EAGAIN');
      expect(await queues(h, 'lin', 'r')).toEqual(before);
    });

    it('expedite grants NL at once, past the queues; without it NL waits its turn', async () => {
      await h.owner('a').lock('lin', 'r', 'EX');
      const b = track(h.owner('b').lock('lin', 'r', 'EX'));
      const nl = track(h.owner('c').lock('lin', 'r', 'NL'));
      await h.settle();
      expect(nl.done).toBe(false);
      const fast = await h.owner('d').lock('lin', 'r', 'NL', { expedite: true });
      expect(fast.mode).toBe('NL');
      expect(b.done).toBe(false);
      expect(await codeOf(h.owner('e').lock('lin', 'r', 'PR', { expedite: true }))).toBe('EINVAL');
    });

    it('alt grants the alternative mode when the requested one cannot be granted', async () => {
      await h.owner('a').lock('lin', 'r', 'PR');
      const b = await h.owner('b').lock('lin', 'r', 'PW', { alt: 'PR' });
      expect(b.mode).toBe('PR');
      const c = await h.owner('c').lock('lin', 'r2', 'PW', { alt: 'PR' });
      expect(c.mode).toBe('PW');
    });

    describe('conversion deadlock', () => {
      async function twoReaders(): Promise<[LockHandle, LockHandle]> {
        return [await h.owner('a').lock('lin', 'r', 'PR'), await h.owner('b').lock('lin', 'r', 'PR')];
      }

      it('policy error: EDEADLK with the cycle, the lock keeps its old mode', async () => {
        const [a, b] = await twoReaders();
        const aConv = track(a.convert('EX'));
        await h.settle();
        const err = (await b.convert('EX').then(() => null, (e: unknown) => e)) as { code: string; cycle: unknown[] };
        expect(err.code).toBe('EDEADLK');
        expect(err.cycle).toEqual([
          expect.objectContaining({ owner: 'b', resource: 'r', held: 'PR', wanted: 'EX' }),
          expect.objectContaining({ owner: 'a', resource: 'r', held: 'PR', wanted: 'EX' }),
        ]);
        expect(b.mode).toBe('PR');
        expect(b.state).toBe('granted');
        await b.release();
        await aConv.promise;
        expect(a.mode).toBe('EX');
        const snap = await h.snapshot();
        expect(snap.deadlocks.map((d) => [d.kind, d.policy, d.victim])).toEqual([['conversion', 'error', 'b']]);
      });

      it('policy demote: the granted mode drops to NL and the conversion stays queued from NL', async () => {
        const [a, b] = await twoReaders();
        const aConv = track(a.convert('EX'));
        const bConv = track(b.convert('EX', { convDeadlock: 'demote' }));
        await h.settle();
        expect(aConv.done).toBe(true);
        expect(a.mode).toBe('EX');
        expect(b.mode).toBe('NL');
        expect(b.demoted).toBe(true);
        expect(bConv.done).toBe(false);
        await a.release();
        await bConv.promise;
        expect(b.mode).toBe('EX');
        expect(b.demoted).toBe(false);
      });

      it('policy notify: the other holder is told, both stay queued', async () => {
        const seen: string[] = [];
        const a = await h.owner('a').lock('lin', 'r', 'PR', { onBlocking: (m) => seen.push(`a:${m}`) });
        const b = await h.owner('b').lock('lin', 'r', 'PR');
        const aConv = track(a.convert('EX'));
        const bConv = track(b.convert('EX', { convDeadlock: 'notify' }));
        await h.settle();
        expect(seen).toEqual(['a:EX']);
        expect([aConv.done, bConv.done]).toEqual([false, false]);
        await a.release(); // what a notified holder does
        await bConv.promise;
        expect(await codeOf(aConv.promise)).toBe('ECANCELED');
      });
    });

    describe('byte ranges', () => {
      it('locks conflict only where ranges overlap and modes are incompatible', async () => {
        await h.owner('a').lock('data', 'f', 'EX', { range: { start: 0, end: 100 } });
        const b = await h.owner('b').lock('data', 'f', 'EX', { range: { start: 100, end: 200 } });
        expect(b.range).toEqual({ start: 100, end: 200 });
        expect(await codeOf(h.owner('c').lock('data', 'f', 'PR', { range: { start: 99, end: 101 }, noQueue: true }))).toBe('EAGAIN');
      });

      it('a queued request does not hold up a request for a range it does not overlap', async () => {
        await h.owner('a').lock('data', 'f', 'EX', { range: { start: 0, end: 10 } });
        const waiting = track(h.owner('b').lock('data', 'f', 'EX', { range: { start: 5, end: 15 } }));
        const c = await h.owner('c').lock('data', 'f', 'EX', { range: { start: 20, end: 30 }, noQueue: true });
        await h.settle();
        expect(waiting.done).toBe(false);
        expect(c.mode).toBe('EX');
      });

      it('rejects bad ranges with EINVAL and ranges in a domain without them', async () => {
        const o = h.owner('a');
        expect(await codeOf(o.lock('data', 'f', 'EX', { range: { start: 10, end: 10 } }))).toBe('EINVAL');
        expect(await codeOf(o.lock('data', 'f', 'EX', { range: { start: -1, end: 10 } }))).toBe('EINVAL');
        expect(await codeOf(o.lock('data', 'f', 'EX', { range: { start: 0, end: 2 ** 53 } }))).toBe('EINVAL');
        expect(await codeOf(o.lock('lin', 'f', 'EX', { range: { start: 0, end: 1 } }))).toBe('EINVAL');
        expect((await h.snapshot()).domains.flatMap((d) => d.resources)).toEqual([]);
      });
    });

    describe('lock value block', () => {
      it('is written on release from EX and returned on the next grant, with a sequence number', async () => {
        const a = await h.owner('a').lock('data', 'v', 'EX');
        expect(a.lvb).toEqual(new Uint8Array(16));
        expect(a.lvbSeq).toBe(0);
        await a.release({ lvb: new Uint8Array([1, 2, 3]) });
        const b = await h.owner('b').lock('data', 'v', 'PR');
        expect([...b.lvb!.slice(0, 4)]).toEqual([1, 2, 3, 0]);
        expect(b.lvbSeq).toBe(1);
        expect(b.lvbValid).toBe(true);
      });

      it('is written on a down-conversion from PW and read on an up-conversion', async () => {
        const a = await h.owner('a').lock('data', 'v', 'PW');
        const b = await h.owner('b').lock('data', 'v', 'NL');
        await a.convert('NL', { lvb: new Uint8Array([9]) });
        await b.convert('EX');
        expect(b.lvb![0]).toBe(9);
        expect(b.lvbSeq).toBe(1);
      });

      it('refuses writes from modes that cannot write, or that are too big, and changes nothing', async () => {
        const a = await h.owner('a').lock('data', 'v', 'PR');
        expect(await codeOf(Promise.resolve().then(() => a.release({ lvb: new Uint8Array([1]) })))).toBe('EINVAL');
        expect(a.state).toBe('granted');
        const b = await h.owner('b').lock('data', 'w', 'EX');
        expect(await codeOf(Promise.resolve().then(() => b.release({ lvb: new Uint8Array(17) })))).toBe('EINVAL');
        expect(b.state).toBe('granted');
        const c = await h.owner('c').lock('lin', 'x', 'EX');
        expect(await codeOf(Promise.resolve().then(() => c.release({ lvb: new Uint8Array(8) })))).toBe('EINVAL');
      });
    });

    it('onBlocking is called once per highest blocked mode', async () => {
      const seen: string[] = [];
      await h.owner('a').lock('lin', 'r', 'EX', { onBlocking: (m) => seen.push(m) });
      void h.owner('b').lock('lin', 'r', 'CR').catch(() => {});
      await h.settle();
      void h.owner('c').lock('lin', 'r', 'CR').catch(() => {});
      void h.owner('d').lock('lin', 'r', 'PR').catch(() => {});
      await h.settle();
      void h.owner('e').lock('lin', 'r', 'CR').catch(() => {});
      await h.settle();
      expect(seen).toEqual(['CR', 'PR']);
    });

    it('fencing tokens strictly increase per resource, across releases and up-conversions', async () => {
      const tokens: bigint[] = [];
      for (let i = 0; i < 5; i++) {
        const l = await h.owner(`o${i}`).lock('lin', 'fenced', i % 2 ? 'PR' : 'EX');
        tokens.push(l.token);
        if (i === 3) tokens.push((await l.convert('EX')).token);
        await l.release();
      }
      expect(tokens.every((t, i) => i === 0 || t > tokens[i - 1]!)).toBe(true);
      expect(typeof tokens[0]).toBe('bigint');
    });
  });
}

