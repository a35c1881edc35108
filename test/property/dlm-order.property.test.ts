/**
 * DLM ordering and reporting over random operation sequences:
 * FIFO grants within the wait queue (grant rules 2 and 4), and a model of
 * every lock built only from the manager's events (plus the promise
 * rejections, the one signal of a failed wait) that must equal snapshot().
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReportedRange, ResourceSnapshot } from '../../src/index.js';
import { DlmWorld, dlmOps, RESOURCES, type WorldShape } from './dlm-world.js';
import { compat } from './support.js';

function waitingIds(rs: ResourceSnapshot[], resource: string): number[] {
  return rs.find((r) => r.name === resource)?.waiting.map((l) => l.id) ?? [];
}

describe('dlm FIFO (domain without ranges, new requests only)', () => {
  // Detection off: a request that would deadlock is refused by the detector, which is not what this property is about.
  const shape: WorldShape = { ranges: false, owners: 4, resources: 2, rich: false, detect: false };

  it('grants at once exactly when the queues are empty and the mode fits; grants queued requests in queue order', async () => {
    await fc.assert(
      fc.asyncProperty(dlmOps(shape, 40), async (ops) => {
        const w = new DlmWorld(shape);
        /** Per resource: lock ids in `waiting`-event order, until granted or failed. */
        const queues = new Map<string, number[]>(RESOURCES.map((r) => [r, []]));
        const jumps: string[] = [];
        w.lm.on('waiting', (e) => queues.get(e.resource)!.push(e.id));
        w.lm.on('granted', (e) => {
          const q = queues.get(e.resource)!;
          const at = q.indexOf(e.id);
          if (at < 0) return;
          // Requests ahead of it may have left the queue (timeout, abort) in this same step; none may still wait.
          const still = new Set(waitingIds(w.resourcesNow(), e.resource));
          const ahead = q.slice(0, at).filter((id) => still.has(id));
          if (ahead.length > 0) jumps.push(`#${e.id} granted on ${e.resource} while ${ahead.join(', ')} queued ahead`);
          q.splice(at, 1);
        });
        const settleQueues = (): void => {
          const failed = new Set(w.requests.filter((r) => r.tracked.outcome.status === 'failed' && r.lockId !== null).map((r) => r.lockId));
          for (const [name, q] of queues) queues.set(name, q.filter((id) => !failed.has(id)));
          const rs = w.resourcesNow();
          for (const [name, q] of queues) expect({ resource: name, waiting: waitingIds(rs, name) }).toEqual({ resource: name, waiting: q });
          expect(jumps).toEqual([]);
          // Whoever heads a queue waits only for a holder whose mode conflicts with its own.
          for (const r of rs) {
            const head = r.waiting[0];
            if (head !== undefined) expect({ head: head.id, blocked: r.granted.some((g) => !compat(g.mode!, head.requested!)) }).toEqual({ head: head.id, blocked: true });
          }
        };
        for (const op of ops) {
          if (op.kind !== 'lock') {
            await w.play(op);
            settleQueues();
            continue;
          }
          const res = w.resourcesNow().find((r) => r.name === RESOURCES[op.res]);
          const queuesEmpty = res === undefined || res.waiting.length + res.converting.length === 0;
          const fits = res === undefined || res.granted.every((g) => compat(g.mode!, op.mode));
          const req = (await w.play(op))!;
          const expected = queuesEmpty && fits
            ? { queued: false, outcome: 'granted' }
            : op.noQueue
              ? { queued: false, outcome: 'EAGAIN' }
              : op.timeoutMs === 0
                ? { queued: false, outcome: 'ETIMEDOUT' }
                : { queued: true, outcome: 'pending' };
          const o = req.tracked.outcome;
          const outcome = o.status === 'failed' ? o.code : o.status;
          expect({ op, queued: req.queued, outcome }).toEqual({ op, ...expected });
          settleQueues();
        }
        await w.drain();
        settleQueues();
        expect([...queues.values()].flat()).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});

interface ModelLock {
  owner: string;
  resource: string;
  state: 'granted' | 'converting' | 'waiting';
  mode: string | null;
  requested: string | null;
  range: ReportedRange | null;
  token: string | null;
}

/** Keeps a model of every lock from the events; `problems` collects events that do not fit the model. */
function eventModel(w: DlmWorld): { locks: Map<number, ModelLock>; problems: string[]; applyFailures: () => void } {
  const locks = new Map<number, ModelLock>();
  const problems: string[] = [];
  const lm = w.lm;
  // Fencing tokens: every grant or up-conversion carries a token above all earlier ones on the
  // resource. Registered before the model's listeners, so it sees the model as it was.
  const lastToken = new Map<string, bigint>();
  const tokenUp = (resource: string, token: string, changed: boolean): void => {
    const last = lastToken.get(resource) ?? 0n;
    if (changed && BigInt(token) <= last) problems.push(`token ${token} on ${resource} not above ${last}`);
    if (BigInt(token) > last) lastToken.set(resource, BigInt(token));
  };
  lm.on('granted', (e) => tokenUp(e.resource, e.token, true));
  lm.on('converted', (e) => tokenUp(e.resource, e.token, locks.get(e.id)?.token !== e.token));
  lm.on('waiting', (e) => {
    if (e.held === null) {
      if (locks.has(e.id)) problems.push(`waiting #${e.id}: already known`);
      locks.set(e.id, { owner: e.owner, resource: e.resource, state: 'waiting', mode: null, requested: e.mode, range: e.range, token: null });
      return;
    }
    // A conversion's waiting event carries the id of the wait, not the lock's: tie it to the lock being converted.
    const m = w.converting === null ? undefined : locks.get(w.converting);
    if (m === undefined || m.state !== 'granted' || m.mode !== e.held) problems.push(`waiting (conversion) ${JSON.stringify(e)} vs ${JSON.stringify(m)}`);
    else Object.assign(m, { state: 'converting', requested: e.mode });
  });
  lm.on('granted', (e) => {
    const m = locks.get(e.id);
    if (m !== undefined && m.state !== 'waiting') problems.push(`granted #${e.id} but it was ${m.state}`);
    locks.set(e.id, { owner: e.owner, resource: e.resource, state: 'granted', mode: e.mode, requested: null, range: e.range, token: e.token });
  });
  lm.on('converted', (e) => {
    const m = locks.get(e.id);
    if (m === undefined || m.state === 'waiting' || m.mode !== e.from) problems.push(`converted ${JSON.stringify(e)} vs ${JSON.stringify(m)}`);
    else Object.assign(m, { state: 'granted', mode: e.mode, requested: null, token: e.token });
  });
  lm.on('released', (e) => {
    const m = locks.get(e.id);
    if (m === undefined || m.state === 'waiting' || m.mode !== e.mode || e.reason !== 'released') problems.push(`released ${JSON.stringify(e)} vs ${JSON.stringify(m)}`);
    locks.delete(e.id);
  });
  lm.on('deadlock', (d) => {
    // The demote policy drops the converting lock's granted mode to NL and keeps the conversion queued.
    if (d.kind === 'conversion' && d.policy === 'demote') {
      const m = w.converting === null ? undefined : locks.get(w.converting);
      if (m === undefined) problems.push(`demote deadlock without a known converting lock`);
      else m.mode = 'NL';
    }
  });
  const seen = new Set<number>();
  const applyFailures = (): void => {
    for (const r of w.requests) {
      if (r.tracked.outcome.status !== 'failed' || !r.queued || seen.has(r.seq)) continue;
      seen.add(r.seq);
      const m = locks.get(r.lockId!);
      if (r.kind === 'lock' && m?.state === 'waiting') locks.delete(r.lockId!);
      else if (r.kind === 'convert' && m?.state === 'converting') Object.assign(m, { state: 'granted', requested: null });
    }
  };
  return { locks, problems, applyFailures };
}

function snapshotLocks(rs: ResourceSnapshot[]): Array<[number, ModelLock]> {
  return rs
    .flatMap((r) => [...r.granted, ...r.converting, ...r.waiting].map((l): [number, ModelLock] => [
      l.id, { owner: l.owner, resource: r.name, state: l.state, mode: l.mode, requested: l.requested, range: l.range, token: l.token },
    ]))
    .sort((a, b) => a[0] - b[0]);
}

describe.each<WorldShape>([
  { ranges: false, owners: 4, resources: 2, rich: true },
  { ranges: true, owners: 4, resources: 1, rich: true },
])('dlm events (ranges: $ranges)', (shape) => {
  it('a model built from granted / waiting / converted / released events matches snapshot() after every step', async () => {
    await fc.assert(
      fc.asyncProperty(dlmOps(shape, 40), async (ops) => {
        const w = new DlmWorld(shape);
        const model = eventModel(w);
        const check = (): void => {
          model.applyFailures();
          expect(model.problems).toEqual([]);
          const fromModel = [...model.locks].sort((a, b) => a[0] - b[0]);
          expect(fromModel).toEqual(snapshotLocks(w.resourcesNow()));
        };
        for (const op of ops) {
          await w.play(op);
          check();
        }
        await w.drain();
        check();
        expect(model.locks.size).toBe(0);
      }),
      { numRuns: 120 },
    );
  });
});
