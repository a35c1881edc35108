/**
 * The HTTP side: health, metrics in Prometheus text format, the lock table
 * with its filters, the graph and its Grafana Node Graph view, and the one
 * error middleware's statuses.
 */

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LockClient } from '../../client/index.js';
import type { LockServer } from '../../server/index.js';
import { track } from '../spec/harness.js';
import { api, client, startServer, TOKENS } from './support.js';

let server: LockServer;
let c: LockClient;
beforeEach(async () => {
  server = await startServer();
  c = await client(server, 'rest-client');
});
afterEach(async () => {
  await c.close();
  await server.close();
});

/** Prometheus text exposition: sample lines as { name, labels, value }. */
function parseMetrics(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

describe('REST', () => {
  it('/healthz answers without a token', async () => {
    const r = await api(server, '/healthz', null);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true, node: 'test' });
  });

  it('/metrics: lockscope_ names in base units, locks and waiters by domain, no resource name in any label', async () => {
    const o = c.owner('m');
    await (await o.lock('lin', 'secret-released', 'PR')).release();
    const l = await o.lock('lin', 'secret-resource-name', 'EX');
    void c.owner('w').lock('lin', 'secret-resource-name', 'PR').catch(() => {});
    await o.setlk('adv', 'secret-file', { type: 'write', start: 0, len: 10 });
    await c.ping();
    const r = await api(server, '/metrics');
    expect(r.status).toBe(200);
    const text = r.body as string;
    expect(text).not.toContain('secret');
    const samples = parseMetrics(text);
    const names = new Set(samples.map((s) => s.name));
    for (const n of [
      'lockscope_locks_held', 'lockscope_waiters', 'lockscope_acquire_wait_seconds_bucket', 'lockscope_hold_seconds_count',
      'lockscope_deadlocks_total', 'lockscope_soft_timeouts_total', 'lockscope_dumps_total', 'lockscope_sessions', 'lockscope_sessions_expired_total',
    ]) expect(names).toContain(n);
    expect([...names].every((n) => n.startsWith('lockscope_'))).toBe(true);
    const value = (name: string, labels: Record<string, string>): number | undefined =>
      samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    expect(value('lockscope_locks_held', { domain: 'lin' })).toBe(1);
    expect(value('lockscope_locks_held', { domain: 'adv' })).toBe(1);
    expect(value('lockscope_waiters', { domain: 'lin' })).toBe(1);
    expect(value('lockscope_sessions', { state: 'live' })).toBe(1);
    expect(value('lockscope_acquire_wait_seconds_count', { domain: 'lin', mode: 'EX' })).toBe(1);
    expect(value('lockscope_hold_seconds_count', { domain: 'lin', mode: 'PR' })).toBe(1);
    const labelKeys = new Set(samples.filter((s) => s.name.startsWith('lockscope_') && !s.name.startsWith('lockscope_process') && !s.name.startsWith('lockscope_nodejs')).flatMap((s) => Object.keys(s.labels)));
    expect([...labelKeys].every((k) => ['domain', 'mode', 'kind', 'state', 'trigger', 'le', 'budget', 'classification'].includes(k))).toBe(true);
    await l.release();
  });

  it('/api/locks filters by domain, resource (substring), owner and state, and refuses unknown filters', async () => {
    const a = c.owner('alice');
    await a.lock('lin', 'inode:1', 'EX');
    await a.lock('lin', 'inode:2', 'PR');
    await c.owner('bob').lock('data', 'inode:1', 'EX');
    void c.owner('carol').lock('lin', 'inode:1', 'PR').catch(() => {});
    await c.ping();
    const rows = async (q: string): Promise<string[]> =>
      ((await api(server, `/api/locks${q}`)).body as { domain: string; resource: string; owner: string; state: string }[])
        .map((l) => `${l.domain}/${l.resource}/${l.owner}/${l.state}`).sort();
    expect(await rows('?domain=lin')).toEqual(['lin/inode:1/alice/granted', 'lin/inode:1/carol/waiting', 'lin/inode:2/alice/granted']);
    expect(await rows('?resource=ode:1&owner=alice')).toEqual(['lin/inode:1/alice/granted']);
    expect(await rows('?state=waiting')).toEqual(['lin/inode:1/carol/waiting']);
    expect(await rows('?node=elsewhere')).toEqual([]);
    expect(await rows('?limit=1')).toHaveLength(1);
    for (const bad of ['?bogus=1', '?state=sleeping', '?limit=0', '?domain=a&domain=b', '?__proto__=x']) {
      const r = await api(server, `/api/locks${bad}`);
      expect([bad, r.status, r.body.error.code]).toEqual([bad, 400, 'EINVAL']);
    }
  });

  it('/api/graph and the Grafana Node Graph view show who waits for whom', async () => {
    await c.owner('holder').lock('lin', 'r', 'EX');
    const w = track(c.owner('waiter').lock('lin', 'r', 'EX'));
    await c.ping();
    const fields = (await api(server, '/api/grafana/graph/fields')).body as { nodes_fields: { field_name: string }[]; edges_fields: { field_name: string }[] };
    expect(fields.nodes_fields.map((f) => f.field_name)).toEqual(expect.arrayContaining(['id', 'title', 'subTitle', 'mainStat', 'secondaryStat']));
    expect(fields.edges_fields.map((f) => f.field_name)).toEqual(expect.arrayContaining(['id', 'source', 'target']));
    const data = (await api(server, '/api/grafana/graph/data')).body as { nodes: { id: string; title: string; subTitle: string }[]; edges: { source: string; target: string; mainStat: string }[] };
    const id = (name: string): string => data.nodes.find((n) => n.title === name)!.id;
    expect(data.edges.map((e) => [e.source, e.target, e.mainStat])).toEqual([[id('waiter'), id('holder'), 'lin/r']]);
    expect(data.nodes.find((n) => n.title === 'waiter')!.subTitle).toContain('rest-client@');
    expect(w.done).toBe(false);
    expect((await api(server, '/api/deadlocks')).body).toEqual([]);
    expect((await api(server, '/api/hangs')).body).toEqual([]);
  });

  it('the Grafana routes take no query: one is refused 400 EINVAL, and the graph is unchanged', async () => {
    await c.owner('g-holder').lock('lin', 'g', 'EX');
    const w = track(c.owner('g-waiter').lock('lin', 'g', 'EX'));
    await c.ping();
    const before = (await api(server, '/api/grafana/graph/data')).body;
    for (const path of ['/api/grafana/health', '/api/grafana/graph/fields', '/api/grafana/graph/data']) {
      for (const bad of ['?query=x', '?__proto__=x', '?a=1&a=2']) {
        const r = await api(server, `${path}${bad}`);
        expect([path, bad, r.status, r.body.error?.code]).toEqual([path, bad, 400, 'EINVAL']);
      }
    }
    expect((await api(server, '/api/grafana/graph/data')).body).toEqual(before);
    expect(w.done).toBe(false);
  });

  it('POST /api/posix/break drops an owner\'s posix pieces on a resource, the waiter behind them is granted; viewer 403 EPERM, nothing held 404 ENOENT', async () => {
    const holder = c.owner('posix-holder');
    await holder.setlk('adv', 'f', { type: 'write', start: 0, len: 100 });
    await holder.setlk('adv', 'g', { type: 'read', start: 0, len: 10 });
    const waiter = track(c.owner('posix-waiter').setlk('adv', 'f', { type: 'write', start: 50, len: 10 }, { wait: true }));
    await c.ping();
    const ownerId = server.manager.snapshot().owners.find((o) => o.name === 'posix-holder')!.id;
    const body = JSON.stringify({ domain: 'adv', resource: 'f', owner: ownerId });
    const post = (token: string, b: string) => api(server, '/api/posix/break', token, { method: 'POST', body: b, headers: { 'content-type': 'application/json' } });
    const viewer = await post(TOKENS.viewer, body);
    expect([viewer.status, viewer.body.error.code]).toEqual([403, 'EPERM']);
    expect((await post(TOKENS.admin, body)).status).toBe(200);
    await waiter.promise;
    const held = server.manager.snapshot().domains.find((d) => d.name === 'adv')!.resources.flatMap((r) => r.granted.map((l) => `${r.name} ${l.owner} ${l.mode}`));
    expect(held.sort()).toEqual(['f posix-waiter write', 'g posix-holder read']);
    const again = await post(TOKENS.admin, body);
    expect([again.status, again.body.error.code]).toEqual([404, 'ENOENT']);
    const extra = await post(TOKENS.admin, JSON.stringify({ domain: 'adv', resource: 'f', owner: ownerId, force: true }));
    expect([extra.status, extra.body.error.code]).toEqual([400, 'EINVAL']);
  });

  it('errors map to statuses in one place: unknown endpoint 404 ENOENT, bad id 400 EINVAL, bad JSON 400 EINVAL', async () => {
    const unknown = await api(server, '/api/nothing-here');
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'ENOENT']);
    const badId = await api(server, '/api/locks/abc/break', TOKENS.admin, { method: 'POST' });
    expect([badId.status, badId.body.error.code]).toEqual([400, 'EINVAL']);
    const badJson = await api(server, '/api/locks/1/break', TOKENS.admin, { method: 'POST', body: '{"a":', headers: { 'content-type': 'application/json' } });
    expect([badJson.status, badJson.body.error.code]).toEqual([400, 'EINVAL']);
    const body = await api(server, '/api/locks/1/break', TOKENS.admin, { method: 'POST', body: '{"force":true}', headers: { 'content-type': 'application/json' } });
    expect([body.status, body.body.error.code]).toEqual([400, 'EINVAL']);
  });
});
