/**
 * POSIX lock properties over random operation sequences, checked against a
 * byte-map reference model (posix-model.ts): the exact outcome of every
 * F_SETLK and F_GETLK, the exact pieces each owner holds, the pieces implied
 * by the events, and, with blocking requests, safety and liveness.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock, LockManager, type PosixRequest, type ResourceSnapshot, type SetlkResult } from '../../src/index.js';
import { cellsOf, PosixModel, requestArb, requestCells, snapshotRuns, type Run } from './posix-model.js';
import { flush, resources, Tracked } from './support.js';

const DOMAIN = 'adv';
const FILES = ['f0', 'f1'] as const;
const OWNERS = ['a', 'b', 'c', 'd'] as const;

type PosixOp =
  | { kind: 'setlk'; owner: number; file: number; req: PosixRequest; wait: boolean; timeoutMs: number | null; abortable: boolean }
  | { kind: 'getlk'; owner: number; file: number; req: PosixRequest }
  | { kind: 'releaseAll'; owner: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'abort'; pick: number };

function posixOps(blocking: boolean): fc.Arbitrary<PosixOp[]> {
  const owner = fc.nat(OWNERS.length - 1);
  const file = blocking ? fc.constant(0) : fc.nat(FILES.length - 1);
  const setlk = fc.record({
    kind: fc.constant('setlk' as const), owner, file,
    // Blocking runs crowd a few bytes, so waits pile up and wake-ups interact.
    req: blocking ? requestArb(['read', 'read', 'write', 'write', 'unlock'], 8) : requestArb(['read', 'write', 'write', 'unlock']),
    wait: blocking ? fc.boolean() : fc.constant(false),
    timeoutMs: blocking ? fc.constantFrom(null, null, null, 0, 5, 20) : fc.constant(null),
    abortable: blocking ? fc.boolean() : fc.constant(false),
  });
  const getlk = fc.record({ kind: fc.constant('getlk' as const), owner, file, req: requestArb(['read', 'write']) });
  const releaseAll = fc.record({ kind: fc.constant('releaseAll' as const), owner });
  const extra = blocking
    ? [
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(1, 5, 10, 30) }) },
        { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat(20) }) },
      ]
    : [];
  const op: fc.Arbitrary<PosixOp> = fc.oneof({ weight: 8, arbitrary: setlk }, { weight: 2, arbitrary: getlk }, { weight: 1, arbitrary: releaseAll }, ...extra);
  return fc.array(op, { minLength: 1, maxLength: 40, size: 'max' });
}

function newWorld(detect = true): { clock: FakeClock; lm: LockManager; owners: ReturnType<LockManager['owner']>[]; fromEvents: PosixModel } {
  const clock = new FakeClock();
  const lm = new LockManager({ node: 'prop', clock, stacks: 'off', domains: [{ name: DOMAIN, kind: 'posix', deadlock: detect }] });
  const owners = OWNERS.map((name) => lm.owner(name));
  // What the events say each owner holds: a grant sets the request's range, a release clears it.
  const fromEvents = new PosixModel();
  lm.on('granted', (e) => fromEvents.set(e.resource, e.owner, cellsOf(e.range!.start, e.range!.end), e.mode as 'read' | 'write'));
  lm.on('released', (e) => fromEvents.set(e.resource, e.owner, cellsOf(e.range!.start, e.range!.end), 0));
  return { clock, lm, owners, fromEvents };
}

const overlaps = (a: Run, b: Run): boolean => (b.end === null || a.start < b.end) && (a.end === null || b.start < a.end);

/** Pieces of different owners overlap only when both are read; each owner's pieces are sorted, disjoint and merged. */
function checkPieces(rs: ResourceSnapshot[], file: string): void {
  const runs = snapshotRuns(rs, file);
  for (let i = 0; i < runs.length; i++) {
    for (let j = i + 1; j < runs.length; j++) {
      const [a, b] = [runs[i]!, runs[j]!];
      if (a.owner === b.owner) {
        if (j !== i + 1) continue;
        const ok = a.end !== null && (a.end < b.start || (a.end === b.start && a.type !== b.type));
        if (!ok) throw new Error(`${file}: ${a.owner}'s pieces out of order, overlapping or unmerged: ${JSON.stringify([a, b])}`);
      } else if (overlaps(a, b) && (a.type === 'write' || b.type === 'write')) {
        throw new Error(`${file}: conflicting pieces held together: ${JSON.stringify([a, b])}`);
      }
    }
  }
}

/** Every queued request conflicts with a piece of another owner (else it should have been granted). */
function checkWaitersBlocked(rs: ResourceSnapshot[], file: string): void {
  const r = rs.find((x) => x.name === file);
  if (r === undefined) return;
  const runs = snapshotRuns(rs, file);
  for (const w of r.waiting) {
    const want: Run = { owner: w.owner, type: w.requested as Run['type'], start: w.range!.start, end: w.range!.end };
    const blocked = runs.some((p) => p.owner !== w.owner && overlaps(p, want) && (p.type === 'write' || want.type === 'write'));
    if (!blocked) throw new Error(`${file}: ${w.owner}'s ${w.requested} on ${JSON.stringify(w.range)} waits though nothing conflicts`);
  }
}

describe('posix properties', () => {
  it('F_SETLK and F_GETLK agree with a byte-map model: outcome, pieces held, conflict reported, and the events', async () => {
    await fc.assert(
      fc.asyncProperty(posixOps(false), async (ops) => {
        const { lm, owners, fromEvents } = newWorld();
        const model = new PosixModel();
        let lastToken = 0n;
        for (const op of ops) {
          if (op.kind === 'setlk') {
            const name = OWNERS[op.owner]!;
            const file = FILES[op.file]!;
            const t = new Tracked<SetlkResult | null>(owners[op.owner]!.setlk(DOMAIN, file, op.req));
            await flush(1);
            const cells = requestCells(op.req);
            if (op.req.type === 'unlock') {
              expect(t.outcome).toEqual({ status: 'granted', value: null });
              model.set(file, name, cells, 0);
            } else if (model.conflicts(file, name, cells, op.req.type)) {
              expect({ op, outcome: t.outcome }).toEqual({ op, outcome: { status: 'failed', code: 'EAGAIN' } });
            } else {
              expect({ op, status: t.outcome.status }).toEqual({ op, status: 'granted' });
              const token = (t.outcome as { value: SetlkResult }).value.token;
              expect(token).toBeGreaterThan(lastToken);
              lastToken = token;
              model.set(file, name, cells, op.req.type);
            }
          } else if (op.kind === 'getlk') {
            const name = OWNERS[op.owner]!;
            const file = FILES[op.file]!;
            const got = await owners[op.owner]!.getlk(DOMAIN, file, op.req);
            const type = op.req.type as 'read' | 'write';
            if (!model.conflicts(file, name, requestCells(op.req), type)) {
              expect({ op, got }).toEqual({ op, got: null });
            } else {
              expect(got).not.toBeNull();
              const piece: Run = { owner: got!.owner, type: got!.type, start: got!.start, end: got!.len === 0 ? null : got!.start + got!.len };
              const asked: Run = { owner: name, type, start: op.req.start, end: op.req.len === 0 ? null : op.req.start + op.req.len };
              expect(model.runs(file)).toContainEqual(piece);
              expect({ other: piece.owner !== name, overlaps: overlaps(piece, asked), conflicts: piece.type === 'write' || type === 'write' })
                .toEqual({ other: true, overlaps: true, conflicts: true });
            }
          } else if (op.kind === 'releaseAll') {
            owners[op.owner]!.releaseAll();
            model.dropOwner(OWNERS[op.owner]!);
          }
          const rs = resources(lm.snapshot(), DOMAIN);
          for (const file of FILES) {
            expect(snapshotRuns(rs, file)).toEqual(model.runs(file));
            expect(fromEvents.runs(file)).toEqual(model.runs(file));
          }
          expect(rs.map((r) => r.name).sort()).toEqual(FILES.filter((f) => model.runs(f).length > 0));
          const holding = OWNERS.map((o) => FILES.flatMap((f) => model.runs(f)).filter((r) => r.owner === o).length);
          expect(owners.map((o) => o.holding)).toEqual(holding);
        }
      }),
      { numRuns: 200 },
    );
  });

  // With detection on, grants during the drain can close a real cycle; its victim fails with EDEADLK.
  it.each([false, true])('with blocking requests (detect: %s): no conflicting pieces, no needless waits, events match, every wait ends once holders unlock', async (detect) => {
    await fc.assert(
      fc.asyncProperty(posixOps(true), async (ops) => {
        const { clock, lm, owners, fromEvents } = newWorld(detect);
        const requests: Array<{ owner: number; t: Tracked<SetlkResult | null>; controller: AbortController | null }> = [];
        const check = (): void => {
          const rs = resources(lm.snapshot(), DOMAIN);
          for (const file of FILES) {
            checkPieces(rs, file);
            checkWaitersBlocked(rs, file);
            expect(fromEvents.runs(file)).toEqual(snapshotRuns(rs, file));
          }
          for (const { t } of requests) {
            if (t.outcome.status === 'failed') expect(['EAGAIN', 'ETIMEDOUT', 'ECANCELED', 'EDEADLK']).toContain(t.outcome.code);
          }
        };
        for (const op of ops) {
          if (op.kind === 'setlk') {
            const controller = op.abortable ? new AbortController() : null;
            const options = {
              wait: op.wait,
              ...(op.timeoutMs !== null ? { timeoutMs: op.timeoutMs } : {}),
              ...(controller !== null ? { signal: controller.signal } : {}),
            };
            requests.push({ owner: op.owner, t: new Tracked(owners[op.owner]!.setlk(DOMAIN, FILES[op.file]!, op.req, options)), controller });
          } else if (op.kind === 'getlk') {
            await owners[op.owner]!.getlk(DOMAIN, FILES[op.file]!, op.req);
          } else if (op.kind === 'releaseAll') {
            const mine = requests.filter((r) => r.owner === op.owner && r.t.pending);
            owners[op.owner]!.releaseAll();
            await flush();
            expect(mine.map((r) => r.t.outcome)).toEqual(mine.map(() => ({ status: 'failed', code: 'ECANCELED' })));
          } else if (op.kind === 'advance') {
            clock.advance(op.ms);
          } else {
            const abortable = requests.filter((r) => r.controller !== null && r.t.pending);
            if (abortable.length > 0) abortable[op.pick % abortable.length]!.controller!.abort();
          }
          await flush();
          check();
        }
        // Drain: every owner unlocks everything (its waits stay), until nothing is held or queued.
        const waiting = requests.filter((r) => r.t.pending);
        for (let round = 0; round < 50 && lm.snapshot().domains[0]!.resources.length > 0; round++) {
          for (const o of owners) await o.setlk(DOMAIN, FILES[0], { type: 'unlock', start: 0, len: 0 });
          for (const o of owners) await o.setlk(DOMAIN, FILES[1], { type: 'unlock', start: 0, len: 0 });
          await flush();
          check();
        }
        const unfinished = waiting.filter((r) => r.t.outcome.status !== 'granted' && !(detect && r.t.outcome.status === 'failed' && r.t.outcome.code === 'EDEADLK'));
        expect(unfinished.map((r) => r.t.outcome)).toEqual([]);
        expect(lm.snapshot().domains[0]!.resources).toEqual([]);
        expect(owners.map((o) => [o.holding, o.waiting])).toEqual(owners.map(() => [0, 0]));
        clock.advance(5_000); // lets the detector's periodic pass run with nothing waiting
        expect(clock.pending).toBe(0);
      }),
      { numRuns: 250 },
    );
  });
});
