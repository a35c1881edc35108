/**
 * No false deadlocks: owners that always acquire in one global order can
 * never deadlock, however they interleave, whatever the modes, kinds and
 * queue positions. Any EDEADLK here is a false positive of the detector.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LockManager, type DlmMode, type LockHandle } from '../../src/index.js';

const RESOURCES = ['a', 'b', 'c', 'd', 'e', 'f'];
const MODES: DlmMode[] = ['NL', 'CR', 'CW', 'PR', 'PW', 'EX'];

interface Step {
  resource: number;
  mode: DlmMode;
  /** Also take a posix range on the same name (ordered after the dlm lock). */
  posix: 'read' | 'write' | null;
  yields: number;
}

const planArb = fc.array(
  fc.uniqueArray(
    fc.record({
      resource: fc.integer({ min: 0, max: RESOURCES.length - 1 }),
      mode: fc.constantFrom(...MODES),
      posix: fc.constantFrom('read' as const, 'write' as const, null),
      yields: fc.integer({ min: 0, max: 3 }),
    }),
    { minLength: 1, maxLength: 4, selector: (s) => s.resource },
  ),
  { minLength: 2, maxLength: 8 },
);

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function runOwner(lm: LockManager, name: string, steps: Step[]): Promise<string[]> {
  const o = lm.owner(name);
  const codes: string[] = [];
  const held: LockHandle[] = [];
  const ordered = [...steps].sort((x, y) => x.resource - y.resource);
  try {
    for (const s of ordered) {
      held.push(await o.lock('lin', RESOURCES[s.resource]!, s.mode));
      if (s.posix !== null) await o.setlk('adv', RESOURCES[s.resource]!, { type: s.posix, start: 0, len: 10 }, { wait: true });
      for (let i = 0; i < s.yields; i++) await tick();
    }
  } catch (err) {
    codes.push((err as { code?: string }).code ?? String(err));
  } finally {
    o.releaseAll();
  }
  return codes;
}

describe('no false deadlock under ordered contention', () => {
  for (const detect of ['immediate', 'deferred'] as const) {
    it(`detect: ${detect}`, async () => {
      await fc.assert(
        fc.asyncProperty(planArb, async (plan) => {
          const lm = new LockManager({
            domains: [{ name: 'lin', kind: 'dlm' }, { name: 'adv', kind: 'posix' }],
            deadlock: { detect, delayMs: 1 },
            stacks: 'off',
          });
          const results = await Promise.all(plan.map((steps, i) => runOwner(lm, `o${i}`, steps)));
          lm.detectDeadlocks();
          expect(results.flat()).toEqual([]);
          expect(lm.deadlocks).toEqual([]);
          expect(lm.snapshot().domains.flatMap((d) => d.resources)).toEqual([]);
          lm.close();
        }),
        { numRuns: 150 },
      );
    });
  }
});
