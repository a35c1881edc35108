/**
 * Hostile input: thousands of malformed socket messages and HTTP requests
 * (wrong types, missing and unknown keys, huge strings, deep objects,
 * prototype-pollution keys, unknown events). Every one is refused with a
 * code, nothing changes, and the server and the connection stay up.
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import type { LockClient } from '../../client/index.js';
import type { LockServer } from '../../server/index.js';
import { serverLimits } from '../../server/index.js';
import { api, client, linkOf, startServer, TOKENS, until } from './support.js';

/** A small seeded PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const POISON = ['__proto__', 'constructor', 'prototype'];

function deep(depth: number): unknown {
  let v: unknown = { leaf: 1 };
  for (let i = 0; i < depth; i++) v = i % 2 ? { nested: v } : [v];
  return v;
}

/** Valid messages, each then broken in a way that must be refused. */
const TEMPLATES: Record<string, () => Record<string, unknown>> = {
  owner: () => ({ oid: 1, name: 'fuzz' }),
  lock: () => ({ req: 1, oid: 1, domain: 'lin', resource: 'r', mode: 'EX', options: { noQueue: true } }),
  convert: () => ({ req: 2, id: 1, mode: 'NL' }),
  release: () => ({ id: 1 }),
  setlk: () => ({ req: 3, oid: 1, domain: 'adv', resource: 'f', request: { type: 'write', start: 0, len: 1 } }),
  getlk: () => ({ oid: 1, domain: 'adv', resource: 'f', request: { type: 'read', start: 0, len: 1 } }),
  releaseAll: () => ({ oid: 1 }),
};

const WRONG: unknown[] = [null, true, 0, -1, 1.5, NaN, 'x', '', [], [1, 2], {}, { a: 1 }];

function hostile(r: () => number): { event: string; args: unknown[] } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const events = Object.keys(TEMPLATES);
  const choice = r();
  if (choice < 0.08) return { event: pick(['nope', 'constructor', '__proto__', 'toString', 'lockAll', '']), args: [pick(WRONG)] };
  if (choice < 0.16) return { event: pick(events), args: [pick(WRONG)] };
  const event = pick(events);
  const msg = TEMPLATES[event]!();
  const keys = Object.keys(msg);
  const key = pick(keys);
  const how = Math.floor(r() * 7);
  if (how === 0) msg[key] = pick(WRONG.filter((w) => typeof w !== typeof msg[key]));
  else if (how === 1) delete msg[key];
  else if (how === 2) msg[`extra${Math.floor(r() * 5)}`] = 1;
  else if (how === 3) return { event, args: [JSON.parse(`{"${pick(POISON)}": {"polluted": true}, ${JSON.stringify(msg).slice(1)}`)] };
  else if (how === 4) msg[key] = 'x'.repeat(serverLimits.siteCharsMax + 1 + Math.floor(r() * 40_000));
  else if (how === 5) msg[key] = deep(1 + Math.floor(r() * 400));
  else msg.options = { [pick(['bogus', ...POISON])]: pick(WRONG) };
  return { event, args: [msg] };
}

let server: LockServer;
let holder: LockClient;
let raw: Socket;

beforeAll(async () => {
  server = await startServer();
  holder = await client(server, 'holder');
  const o = holder.owner('holder');
  await o.lock('lin', 'r', 'EX');
  await o.lock('data', 'f', 'PR', { range: { start: 0, end: 10 } });
  await o.setlk('adv', 'f', { type: 'write', start: 0, len: 100 });
  void holder.owner('waiter').lock('lin', 'r', 'PR').catch(() => {});
  await holder.ping();
  raw = io(server.url, { transports: ['websocket'], auth: { token: TOKENS.other, name: 'fuzzer' }, reconnection: false, forceNew: true });
  await new Promise<void>((resolve) => raw.once('session', () => resolve()));
});

afterAll(async () => {
  raw.disconnect();
  await holder.close();
  await server.close();
});

/** Domains and owners, without the wall-clock times (the snapshot recomputes those on each call, to the ms). */
async function lockState(): Promise<unknown> {
  const snap = (await api(server, '/api/snapshot')).body as { domains: unknown; owners: unknown };
  return JSON.parse(JSON.stringify({ domains: snap.domains, owners: snap.owners }, (k, v: unknown) => (k === 'grantedAt' || k === 'requestedAt' ? undefined : v)));
}

describe('fuzz', () => {
  it('3000 malformed socket messages: each refused with EINVAL (or ENOENT/EPERM), nothing changes, the connection stays up', async () => {
    const before = await lockState();
    const r = rng(20_260_521);
    const codes = new Map<string, number>();
    const replies: Promise<void>[] = [];
    for (let i = 0; i < 3000; i++) {
      const { event, args } = hostile(r);
      const withAck = r() < 0.9;
      if (!withAck) {
        (raw.emit as (e: string, ...a: unknown[]) => void)(event, ...args);
        continue;
      }
      replies.push(new Promise<void>((resolve) => {
        (raw.emit as (e: string, ...a: unknown[]) => void)(event, ...args, (reply: { ok?: unknown; error?: { code: string } }) => {
          const code = reply?.error?.code ?? `ok:${event}:${JSON.stringify(args).slice(0, 200)}`;
          codes.set(code, (codes.get(code) ?? 0) + 1);
          resolve();
        });
      }));
    }
    await Promise.all(replies);
    expect([...codes.keys()].filter((c) => !['EINVAL', 'ENOENT', 'EPERM'].includes(c))).toEqual([]);
    expect(codes.get('EINVAL')).toBeGreaterThan(2000);
    expect(raw.connected).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await lockState()).toEqual(before);
    // The holder's session is untouched and still works.
    const extra = await holder.owner('after').lock('lin', 'after-fuzz', 'EX', { noQueue: true });
    await extra.release();
    expect((await api(server, '/healthz', null)).status).toBe(200);
  });

  it('2000 hostile batches (`m`): malformed items refused under their key, bad batches dropped, nothing changes', async () => {
    const before = await lockState();
    const r = rng(20_261_121);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const answered = new Map<number, string>();
    raw.on('m' as never, ((items: unknown[][]) => {
      for (const [event, key, reply] of items) {
        if (event === 'ack') answered.set(key as number, (reply as { error?: { code: string } }).error?.code ?? 'ok');
      }
    }) as never);
    let key = 1_000_000;
    const expected: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const choice = r();
      let batch: unknown;
      if (choice < 0.1) batch = pick([null, 1, 'x', {}, { 0: [1, 'lock', {}] }, deep(300)]);
      else if (choice < 0.15) batch = Array.from({ length: serverLimits.batchItemsMax + 1 }, () => [++key, 'release', { id: 1 }]);
      else {
        const items: unknown[] = [];
        // Under the message size cap (a bigger message drops the connection, tested below).
        let bytes = 0;
        for (let n = 1 + Math.floor(r() * 20); n > 0; n--) {
          const kind = r();
          let item: unknown[];
          if (kind < 0.15) item = pick([[], [1], ['x', 'lock', {}], [-1, 'lock', {}], [1.5, 'lock', {}], [null, 'lock', {}]]);
          // Not batchable (owner, bye, reclaim...) or unknown: EINVAL; a known one with a hostile body: refused as alone.
          else if (kind < 0.3) item = [++key, pick(['owner', 'bye', 'reclaim', 'sync', 'm', 'nope', '__proto__', 'constructor']), {}];
          else {
            const { event, args } = hostile(r);
            item = [++key, ['lock', 'convert', 'release', 'setlk'].includes(event) ? event : 'release', args[0]];
          }
          const size = Buffer.byteLength(JSON.stringify(item));
          if (bytes + size > serverLimits.messageBytesMax - 1024) continue;
          bytes += size;
          if (typeof item[0] === 'number' && item[0] > 1_000_000) expected.push(item[0]);
          items.push(item);
        }
        batch = items;
      }
      raw.emit('m' as never, batch as never);
    }
    await until(() => expected.every((k) => answered.has(k)), 20_000);
    const codes = new Set(expected.map((k) => answered.get(k)));
    expect([...codes].filter((c) => !['EINVAL', 'ENOENT', 'EPERM'].includes(c!))).toEqual([]);
    expect(raw.connected).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await lockState()).toEqual(before);
    await holder.ping();
  });

  it('a message over the size cap drops only that connection', async () => {
    const big = io(server.url, { transports: ['websocket'], auth: { token: TOKENS.other, name: 'big' }, reconnection: false, forceNew: true });
    await new Promise<void>((resolve) => big.once('session', () => resolve()));
    big.emit('lock' as never, { pad: 'x'.repeat(serverLimits.messageBytesMax + 10) } as never);
    await until(() => !big.connected);
    expect(raw.connected).toBe(true);
    expect(linkOf(holder).connected).toBe(true);
    await holder.ping();
  });

  it('1000 hostile HTTP requests: all refused with 4xx and a code, nothing changes, the server answers', async () => {
    const before = await lockState();
    const r = rng(7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const paths = ['/api/locks', '/api/locks/424242/break', '/api/waits/434343/cancel', '/api/snapshot', '/api/graph', '/api/nothing', '/metrics', '/api/locks/%00/break', '/api/locks/99999999999999999999/break'];
    const queries = ['', '?__proto__[x]=1', '?constructor=1', '?domain[]=a', '?limit=-1', '?limit=1e9', `?resource=${'x'.repeat(5000)}`, '?state=granted&state=waiting', '?bogus'];
    const bodies = [
      undefined, '{', '[]', 'null', '{"__proto__":{"polluted":true}}', '{"constructor":{"prototype":{"polluted":true}}}',
      JSON.stringify(deep(2000)), JSON.stringify({ big: 'x'.repeat(serverLimits.httpBodyBytesMax + 1) }), '"string"', '{"id":1}',
    ];
    const statuses = new Map<number, number>();
    for (let i = 0; i < 1000; i++) {
      const path = `${pick(paths)}${pick(queries)}`;
      const post = path.includes('/break') || path.includes('/cancel') || r() < 0.2;
      const body = post ? pick(bodies) : undefined;
      const token = pick([TOKENS.admin, TOKENS.viewer, TOKENS.client, 'garbage-token-that-is-long-enough', null]);
      const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
      const res = await api(server, path, token, { method: post ? 'POST' : 'GET', headers, ...(body === undefined ? {} : { body }) });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (res.status >= 400) expect(typeof res.body.error.code).toBe('string');
      expect(res.status).toBeLessThan(500);
      // Only reads may succeed (the ids broken/cancelled above exist in no table).
      if (res.status < 300) expect(post).toBe(false);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await lockState()).toEqual(before);
    expect((await api(server, '/healthz', null)).status).toBe(200);
  });
});
