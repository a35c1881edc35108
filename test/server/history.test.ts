/**
 * The dashboard's history: the state at any kept moment, rebuilt by the
 * page's own Model from a keyframe and the batches after it, is the state a
 * snapshot showed at that moment; markers name deadlocks and hangs; the
 * bytes kept never pass the bound, and the window moves on. Over HTTP:
 * viewers read it, bad moments are EINVAL, moments outside the window
 * ENOENT.
 */

import { afterEach, expect, it } from 'vitest';
import { LockManager } from '../../src/index.js';
import { History, type HistoryLimits } from '../../server/history.js';
import type { HistoryMoment, LockServer } from '../../server/index.js';
import { Model } from '../../web/src/model.js';
import { replayMoment } from '../../web/src/replay.js';
import { api, startServer, TOKENS } from './support.js';

const LIMITS: HistoryLimits = {
  historyBytesMax: 1024 * 1024, historyWindowMs: 60_000, historyKeyframeEveryMs: 10_000, historySegmentBytesMax: 512 * 1024,
  historyMarkersMax: 100, feedBatchMax: 5000, feedIntervalMs: 1e9, contentionKeysMax: 100,
};

let lm: LockManager | null = null;
let server: LockServer | null = null;
afterEach(async () => {
  lm?.close();
  lm = null;
  await server?.close();
  server = null;
});

/** What the page shows from a moment, built by the page's own code. */
const replay = (json: string): Model => replayMoment(JSON.parse(json) as HistoryMoment);

function rows(m: Model): string[] {
  return [...m.rows.values()].map((r) => `${r.domain} ${r.resource} ${r.owner} ${r.state} ${r.mode} ${r.requested}`).sort();
}

function fresh(manager: LockManager): Model {
  const m = new Model();
  m.applySnapshot(manager.snapshot());
  return m;
}

it('the state at each kept moment is the state a snapshot showed then; a broken deadlock is still in the graph at its moment', async () => {
  let now = 1_000_000;
  lm = new LockManager({ node: 'h', domains: [{ name: 'lin', kind: 'dlm' }] });
  const h = new History(lm, () => [], LIMITS, () => now);
  const stop = h.start();
  const [a, b] = [lm.owner('a'), lm.owner('b')];
  const la = await a.lock('lin', 'x', 'EX');
  await b.lock('lin', 'y', 'EX');
  now += 250;
  h.flush();
  const atHeld = fresh(lm);
  const wa = a.lock('lin', 'y', 'EX').catch((e: unknown) => e);
  const wb = b.lock('lin', 'x', 'EX').catch((e: unknown) => e);
  expect(((await wb) as { code: string }).code).toBe('EDEADLK');
  now += 250;
  h.flush();
  const deadlockAt = now;
  const atDeadlock = fresh(lm);
  b.releaseAll();
  await wa;
  la.release();
  now += 250;
  h.flush();
  const atEnd = fresh(lm);

  expect(rows(replay(h.momentJson(1_000_250)!))).toEqual(rows(atHeld));
  const dl = replay(h.momentJson(deadlockAt)!);
  expect(rows(dl)).toEqual(rows(atDeadlock));
  // The survivor still waits for the victim at that moment, and the deadlock record is there to draw.
  expect(dl.edges.map((e) => `${e.fromName}>${e.toName} ${e.resource}`)).toEqual(['a>b y']);
  expect(dl.deadlocks.map((d) => d.victim)).toEqual(['b']);
  expect(rows(replay(h.momentJson(now)!))).toEqual(rows(atEnd));
  expect(h.momentJson(999_999)).toBeNull();
  expect(h.index().markers.map((m) => [m.kind, m.label])).toEqual([['deadlock', 'cycle deadlock: b → a; victim b']]);
  stop();
});

it('stores the graph only when it changed (H6), and a replay still shows it at every later moment', async () => {
  let now = 2_000_000;
  lm = new LockManager({ node: 'h', domains: [{ name: 'lin', kind: 'dlm' }] });
  const h = new History(lm, () => [], LIMITS, () => now);
  const stop = h.start();
  const [a, b] = [lm.owner('a'), lm.owner('b')];
  await a.lock('lin', 'x', 'EX');
  const wb = b.lock('lin', 'x', 'EX').catch((e: unknown) => e);
  now += 250;
  h.flush();
  // Steady: other locks come and go, the graph (b waits for a) stays; the batches do not repeat it.
  for (let i = 0; i < 3; i++) {
    const l = await a.lock('lin', `other-${i}`, 'PR');
    l.release();
    now += 250;
    h.flush();
  }
  const moment = JSON.parse(h.momentJson(now)!) as HistoryMoment;
  expect(moment.entries.map((e) => e.batch?.graph !== undefined)).toEqual([true, false, false, false]);
  const m = replay(h.momentJson(now)!);
  expect(m.edges.map((e) => `${e.fromName}>${e.toName} ${e.resource}`)).toEqual(['b>a x']);
  a.releaseAll();
  await wb;
  now += 250;
  h.flush();
  // It changed (b holds x now, nobody waits): stored again, and the replay shows no edge.
  const after = JSON.parse(h.momentJson(now)!) as HistoryMoment;
  expect(after.entries.at(-1)!.batch!.graph!.edges).toEqual([]);
  expect(replay(h.momentJson(now)!).edges).toEqual([]);
  b.releaseAll();
  stop();
});

it('closed segments are kept deflated (H7): a moment in one replays exactly as before, and they weigh less', async () => {
  let now = 3_000_000;
  lm = new LockManager({ node: 'h', domains: [{ name: 'lin', kind: 'dlm' }] });
  const h = new History(lm, () => [], { ...LIMITS, historyKeyframeEveryMs: 500 }, () => now);
  const stop = h.start();
  const owners = Array.from({ length: 20 }, (_, i) => lm!.owner(`o${i}`));
  const expected = new Map<number, string[]>();
  for (let step = 0; step < 12; step++) {
    for (const [i, o] of owners.entries()) if ((i + step) % 3 === 0) await o.lock('lin', `r${i}-${step}`, 'EX');
    now += 250;
    h.flush();
    expected.set(now, rows(fresh(lm)));
  }
  const before = h.index().bytes;
  await h.packed();
  expect(h.index().bytes).toBeLessThan(before);
  for (const [at, want] of expected) expect(rows(replay(h.momentJson(at)!))).toEqual(want);
  stop();
});

it('top lists: waiting time is charged to the resource waited on and to the blocker, for as long as the wait lasts', async () => {
  let now = 5_000_000;
  lm = new LockManager({ node: 'h', domains: [{ name: 'lin', kind: 'dlm' }] });
  const h = new History(lm, () => [], LIMITS, () => now);
  const stop = h.start();
  const hog = await lm.owner('hog').lock('lin', 'hot', 'EX');
  const mild = await lm.owner('mild').lock('lin', 'warm', 'EX');
  const waits = [lm.owner('w1').lock('lin', 'hot', 'PR'), lm.owner('w2').lock('lin', 'hot', 'PR'), lm.owner('w3').lock('lin', 'warm', 'PR')];
  now += 250;
  h.flush();
  // No event for 3 s: the waits still count.
  for (let i = 0; i < 12; i++) {
    now += 250;
    h.flush();
  }
  mild.release();
  hog.release();
  await Promise.all(waits);
  now += 250;
  h.flush();
  now += 1000;
  h.flush();
  const top = h.top(0, now, 10);
  expect(top.resources.map((e) => [e.key, e.waitMs, e.waits])).toEqual([['lin:hot', 2 * 3250, 2], ['lin:warm', 3250, 1]]);
  // w2 is queued behind w1's earlier request (a soft edge), so w1 is charged for w2's wait, not hog.
  expect(top.blockers.map((e) => [e.key, e.waitMs, e.waits]).sort()).toEqual([['hog', 3250, 1], ['mild', 3250, 1], ['w1', 3250, 1]]);
  expect(h.top(0, now, 1).resources).toHaveLength(1);
  // The range it answers for is the kept window's, not "since 1970".
  expect(top.from).toBe(h.index().from);
  expect(top.to).toBe(now);
  stop();
});

it('bounded in bytes and in time: the oldest segments go first, and the kept bytes never pass the bound', async () => {
  let now = 0;
  lm = new LockManager({ node: 'h', domains: [{ name: 'lin', kind: 'dlm' }] });
  const limits = { ...LIMITS, historyBytesMax: 40_000, historyKeyframeEveryMs: 2_000, historyWindowMs: 30_000 };
  const h = new History(lm, () => [], limits, () => now);
  const stop = h.start();
  const o = lm.owner('churn');
  const held = [];
  for (let i = 0; i < 60; i++) held.push(await o.lock('lin', `r-${i}`, 'PR'));
  for (let step = 0; step < 400; step++) {
    now += 250;
    (await o.lock('lin', `step-${step}`, 'EX')).release();
    h.flush();
    expect(h.index().bytes).toBeLessThanOrEqual(limits.historyBytesMax);
  }
  const { from, to } = h.index();
  expect(from).not.toBeNull();
  expect(to - from!).toBeLessThanOrEqual(limits.historyWindowMs + limits.historyKeyframeEveryMs);
  expect(h.momentJson(from! - 1)).toBeNull();
  expect(rows(replay(h.momentJson(now)!))).toEqual(rows(fresh(lm)));
  stop();
});

it('over HTTP: viewers read the window and a moment; bad moments EINVAL, moments before the window ENOENT', async () => {
  server = await startServer();
  await server.manager.owner('o').lock('lin', 'r', 'EX');
  const index = await api(server, '/api/history', TOKENS.viewer);
  expect(index.status).toBe(200);
  const from = index.body.from as number;
  expect(typeof from).toBe('number');
  const moment = await api(server, `/api/history/moment?at=${Date.now()}`, TOKENS.viewer);
  expect(moment.status).toBe(200);
  expect((moment.body as HistoryMoment).state.snapshot.node).toBe('test');
  const bad = await api(server, '/api/history/moment?at=soon', TOKENS.viewer);
  expect([bad.status, bad.body.error.code]).toEqual([400, 'EINVAL']);
  const before = await api(server, `/api/history/moment?at=${from - 1}`, TOKENS.viewer);
  expect([before.status, before.body.error.code]).toEqual([404, 'ENOENT']);
  const none = await api(server, '/api/history', null);
  expect([none.status, none.body.error.code]).toEqual([403, 'EPERM']);
});
