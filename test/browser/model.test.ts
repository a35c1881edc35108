/**
 * The page's model, fed the manager's real events the way the feed batches
 * them, must show the same locks as a fresh snapshot: the dashboard never
 * drifts from the server between two snapshots.
 */

import { expect, it } from 'vitest';
import { LockManager, type LockEvents } from '../../src/index.js';
import { FORWARDED, feedEvent } from '../../server/feed.js';
import type { FeedBatch } from '../../server/protocol.js';
import { Model } from '../../web/src/model.js';

/** Every event the server's feed forwards (its one list), batched as the feed batches them. */
function feed(lm: LockManager): { flush(): FeedBatch } {
  let events: FeedBatch['events'] = [];
  for (const e of FORWARDED) lm.on(e, (payload: LockEvents[typeof e]) => events.push(feedEvent(e, payload, () => null)));
  return {
    flush() {
      const out = { events, overflow: false };
      events = [];
      return out;
    },
  };
}

/** What the table shows, comparable between a model built from events and one built from a snapshot. */
function view(m: Model): string[] {
  return [...m.rows.values()].map((r) => `${r.domain} ${r.resource} ${r.owner} ${r.state} ${r.mode} ${r.requested} ${JSON.stringify(r.range)}`).sort();
}

it('events applied to a snapshot give the same rows as a later snapshot (dlm, conversions, ranges, posix splits, waits)', async () => {
  const lm = new LockManager({
    node: 'n', domains: [{ name: 'lin', kind: 'dlm' }, { name: 'data', kind: 'dlm', ranges: true }, { name: 'adv', kind: 'posix' }],
  });
  const f = feed(lm);
  const live = new Model();
  live.applySnapshot(lm.snapshot());
  const [a, b, c] = [lm.owner('a'), lm.owner('b'), lm.owner('c')];
  const la = await a.lock('lin', 'i1', 'PR');
  await b.lock('lin', 'i1', 'PR');
  const conv = la.convert('EX').catch(() => {});
  const waitC = c.lock('lin', 'i1', 'PR').catch(() => {});
  await a.lock('data', 'f', 'EX', { range: { start: 0, end: 100 } });
  void b.lock('data', 'f', 'PR', { range: { start: 50, end: 60 } }).catch(() => {});
  await a.setlk('adv', 'p', { type: 'write', start: 0, len: 100 });
  await a.setlk('adv', 'p', { type: 'unlock', start: 40, len: 10 });
  await a.setlk('adv', 'p', { type: 'read', start: 90, len: 20 });
  const posixWait = b.setlk('adv', 'p', { type: 'write', start: 0, len: 10 }, { wait: true }).catch(() => {});
  live.applyBatch(f.flush());
  const fresh = new Model();
  fresh.applySnapshot(lm.snapshot());
  expect(view(live)).toEqual(view(fresh));
  // b's data request closed a cycle (b holds i1, which a's conversion waits for) and was the victim.
  expect(view(live).filter((r) => r.includes(' waiting ') || r.includes(' converting '))).toEqual([
    'adv p b waiting null write {"start":0,"end":10}', 'lin i1 a converting PR EX null', 'lin i1 c waiting null PR null',
  ]);

  b.releaseAll();
  await conv;
  await a.setlk('adv', 'p', { type: 'unlock', start: 0, len: 0 });
  await posixWait;
  la.release();
  await waitC;
  live.applyBatch(f.flush());
  const after = new Model();
  after.applySnapshot(lm.snapshot());
  expect(view(live)).toEqual(view(after));
  lm.close();
});
