/**
 * Batching on one connection: what a client sends in one turn of its event
 * loop leaves as one `m` message, and what the server sends in one turn comes
 * back as one; order is kept both ways (a cancel after its request, a push
 * after the reply that made the lock known).
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LockClient } from '../../client/index.js';
import type { LockServer } from '../../server/index.js';
import { LockError } from '../../src/index.js';
import { io } from 'socket.io-client';
import { client, socketOf, startServer, TOKENS, until } from './support.js';

let server: LockServer;
let a: LockClient;
let b: LockClient;

beforeAll(async () => {
  server = await startServer();
  // The messages are counted at socket.io's engine: these clients use socket.io (the batching itself is the transport's neither).
  a = await client(server, 'a', TOKENS.client, 'socket.io');
  b = await client(server, 'b', TOKENS.client, 'socket.io');
});

afterAll(async () => {
  await a.close();
  await b.close();
  await server.close();
});

/** Socket.io messages this client writes and reads while `fn` runs (its engine's packets). */
async function packets(c: LockClient, fn: () => Promise<void>): Promise<{ out: string[]; in: string[] }> {
  const engine = socketOf(c).io.engine;
  const seen = { out: [] as string[], in: [] as string[] };
  const onOut = (p: { type: string; data?: unknown }): void => {
    if (p.type === 'message') seen.out.push(String(p.data));
  };
  const onIn = (p: { type: string; data?: unknown }): void => {
    if (p.type === 'message') seen.in.push(String(p.data));
  };
  engine.on('packetCreate', onOut);
  engine.on('packet', onIn);
  try {
    await fn();
  } finally {
    engine.off('packetCreate', onOut);
    engine.off('packet', onIn);
  }
  return seen;
}

describe('batching', () => {
  it('100 owners locking in one turn: one message out, their grants in one message back', async () => {
    const owners = Array.from({ length: 100 }, (_, i) => a.owner(`batch-${i}`));
    // Owner registrations go alone (they are not batched); do them first.
    await Promise.all(owners.map((o) => o.lock('lin', `warm-${o.name}`, 'NL').then((l) => l.release())));
    let locks: Awaited<ReturnType<(typeof owners)[0]['lock']>>[] = [];
    const seen = await packets(a, async () => {
      locks = await Promise.all(owners.map((o, i) => o.lock('lin', `batch-${i}`, 'EX')));
    });
    expect(locks.map((l) => l.state)).toEqual(owners.map(() => 'granted'));
    expect(seen.out).toHaveLength(1);
    expect(seen.out[0]).toMatch(/^2\["m",\[\[/);
    expect(seen.in).toHaveLength(1);
    expect(JSON.parse(seen.in[0]!.slice(1))[1]).toHaveLength(100);
    const released = await packets(a, async () => {
      await Promise.all(locks.map((l) => l.release()));
    });
    expect(released.out).toHaveLength(1);
    expect(released.in).toHaveLength(1);
  });

  it('a request aborted in the turn it was made: its cancel goes after it, in the same message', async () => {
    const holder = await b.owner('holder').lock('lin', 'cancel-same-turn', 'EX');
    const aborter = a.owner('aborter');
    await aborter.lock('lin', 'cancel-warm', 'NL').then((l) => l.release()); // registered: not part of the message below
    let p: Promise<unknown> = Promise.resolve();
    const seen = await packets(a, async () => {
      const ac = new AbortController();
      p = aborter.lock('lin', 'cancel-same-turn', 'EX', { signal: ac.signal });
      ac.abort();
      // Were the cancel to reach the server before the request, the request would wait for the holder (released below).
      await expect(p).rejects.toMatchObject({ code: 'ECANCELED' });
    });
    const items = JSON.parse(seen.out[0]!.slice(1))[1] as [number, string, unknown][];
    expect(seen.out).toHaveLength(1);
    expect(items.map(([, event]) => event)).toEqual(['lock', 'cancel']);
    // Nothing of it is left on the server: the holder's release grants nobody, a new request goes straight in.
    await holder.release();
    const again = await aborter.lock('lin', 'cancel-same-turn', 'EX', { noQueue: true });
    await again.release();
  });

  it('a blocking notification that overtakes its lock\'s grant in one message still reaches the holder', async () => {
    const blocked: string[] = [];
    const [h, w] = [a.owner('blk-holder'), a.owner('blk-waiter')];
    await Promise.all([h, w].map((o) => o.lock('lin', `warm-${o.name}`, 'NL').then((l) => l.release())));
    // One message: the holder's request is granted and the waiter's queues behind it in the same server turn.
    let held: Awaited<ReturnType<typeof h.lock>> | null = null;
    let waiter: ReturnType<typeof w.lock> | null = null;
    const seen = await packets(a, async () => {
      const heldP = h.lock('lin', 'blocking-order', 'PR', { onBlocking: (m) => blocked.push(m) });
      waiter = w.lock('lin', 'blocking-order', 'EX');
      held = await heldP;
      await expect.poll(() => blocked).toEqual(['EX']);
    });
    // Both in one message, and the notification first: the core calls onBlocking in the microtask after the grant,
    // before the grant's reply has made its way through the request's promise chain. The client keeps a push for
    // a lock it does not know yet and applies it when the grant arrives, so the holder's callback still runs.
    const items = seen.in.flatMap((p) => JSON.parse(p.slice(1))[1] as unknown[][]);
    const grant = items.findIndex((i) => i[0] === 'ack' && (i[2] as { ok?: { id?: number } }).ok?.id === held!.id);
    const push = items.findIndex((i) => i[0] === 'blocking' && (i[1] as { id: number }).id === held!.id);
    expect(seen.in).toHaveLength(1);
    expect([push, grant].every((i) => i >= 0)).toBe(true);
    expect(push).toBeLessThan(grant);
    await held!.release();
    await (await waiter!).release();
  });

  it('a turn\'s requests over 48 KiB leave as several messages, each under socket.io\'s 64 KiB cap, and all are answered', async () => {
    const owners = Array.from({ length: 250 }, (_, i) => a.owner(`big-${i}`));
    await Promise.all(owners.map((o) => o.lock('lin', `warm-${o.name}`, 'NL').then((l) => l.release())));
    // Names of 252 bytes in two-byte characters: ~64 KB in all, 250 items (under the 256 per message).
    const name = (i: number): string => `${String(i).padStart(3, '0')}-${'é'.repeat(124)}`;
    let locks: Awaited<ReturnType<(typeof owners)[0]['lock']>>[] = [];
    const seen = await packets(a, async () => {
      locks = await Promise.all(owners.map((o, i) => o.lock('lin', name(i), 'EX')));
    });
    expect(locks).toHaveLength(250);
    expect(seen.out.length).toBeGreaterThanOrEqual(2);
    for (const p of seen.out) expect(Buffer.byteLength(p)).toBeLessThan(64 * 1024);
    await Promise.all(locks.map((l) => l.release()));
  });

  it('a release that hands a lock on: the next holder\'s grant is written before the releaser\'s acknowledgement', async () => {
    const [ha, hb] = [a.owner('handover-a'), b.owner('handover-b')];
    for (let round = 0; round < 5; round++) {
      const held = await ha.lock('lin', 'handover', 'EX');
      const next = hb.lock('lin', 'handover', 'EX');
      await until(() => server.manager.snapshot().domains.flatMap((d) => d.resources).some((r) => r.name === 'handover' && r.waiting.length === 1));
      // Both clients live in this process: the order their messages arrive in is the order the server wrote them.
      const order: string[] = [];
      // Only the two answers count: a late message of an earlier test must not be taken for one of them.
      const record = (who: string, is: (data: string) => boolean) => (p: { type: string; data?: unknown }): void => {
        if (p.type === 'message' && is(String(p.data))) order.push(who);
      };
      const [ea, eb] = [socketOf(a).io.engine, socketOf(b).io.engine];
      const ra = record('a: release acknowledged', (d) => d.includes('{"ok":null}'));
      const rb = record('b: granted', (d) => d.includes('"resource":"handover"'));
      ea.on('packet', ra);
      eb.on('packet', rb);
      try {
        await held.release();
        await (await next).release();
      } finally {
        ea.off('packet', ra);
        eb.off('packet', rb);
      }
      expect(order.slice(0, 2)).toEqual(['b: granted', 'a: release acknowledged']);
    }
  });

  it('a release and the next request of the same client are handled in order', async () => {
    const o = a.owner('in-order');
    for (let i = 0; i < 50; i++) {
      const l = await o.lock('lin', 'in-order', 'EX');
      const release = l.release();
      // Sent in the same turn as the release: the server must see the release first.
      const next = await a.owner('in-order-2').lock('lin', 'in-order', 'EX', { noQueue: true });
      await release;
      await next.release();
    }
  });

  it('errors come back under their own key, the other requests of the batch are unaffected', async () => {
    const o = a.owner('mixed');
    const results = await Promise.allSettled([
      o.lock('lin', 'mixed-1', 'EX'),
      o.lock('no-such-domain', 'x', 'EX'),
      o.lock('lin', 'mixed-2', 'EX'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(LockError);
    for (const r of results) if (r.status === 'fulfilled') await r.value.release();
  });
});

describe('request sites numbered per connection', () => {
  /** The stack the server recorded for each held lock on `resource`. */
  const sitesOf = (resource: string): string[] => server.manager.snapshot().domains
    .flatMap((d) => d.resources).filter((r) => r.name === resource).flatMap((r) => r.granted.map((g) => g.stack ?? ''));

  it('the text goes once per site; later requests from it carry its number, and the server shows the text', async () => {
    const o = a.owner('sites');
    const locks: Awaited<ReturnType<typeof o.lock>>[] = [];
    const seen = await packets(a, async () => {
      for (let i = 0; i < 5; i++) locks.push(await o.lock('lin', 'sites', 'PR'));
    });
    const messages = seen.out.join('\n');
    const stacks = sitesOf('sites');
    expect(stacks).toHaveLength(5);
    // The first call runs before any await (its async frames differ): two distinct sites, two texts sent, five numbers.
    const distinct = new Set(stacks).size;
    expect(distinct).toBeLessThan(3);
    expect(messages.match(/"site":/g)).toHaveLength(distinct);
    expect(messages.match(/"siteId":\d+/g)).toHaveLength(5);
    for (const s of stacks) expect(s.split('\n')[0]).toMatch(/batching\.test\.ts:\d+/);
    for (const l of locks) await l.release();
  });

  it('a site first sent with a refused request still stands for later ones', async () => {
    const o = a.owner('sites-refused');
    const tryLock = (mode: string) => o.lock('lin', 'sites-refused', mode as 'EX');
    await expect(tryLock('BOGUS-MODE')).rejects.toMatchObject({ code: 'EINVAL' });
    const l = await tryLock('EX');
    expect(sitesOf('sites-refused')[0]!.split('\n')[0]).toMatch(/batching\.test\.ts:\d+/);
    await l.release();
  });

  it('after a reconnect the numbering starts again and sites still resolve', async () => {
    const o = a.owner('sites-reconnect');
    const first = await o.lock('lin', 'sites-reconnect', 'PR');
    socketOf(a).io.engine.close(); // the transport drops; socket.io reconnects by itself and the session resumes
    await until(() => a.conn.connected && socketOf(a).connected);
    const second = await o.lock('lin', 'sites-reconnect', 'PR');
    const stacks = sitesOf('sites-reconnect');
    expect(stacks).toHaveLength(2);
    for (const s of stacks) expect(s.split('\n')[0]).toMatch(/batching\.test\.ts:\d+/);
    await first.release();
    await second.release();
  });

  it('a number never sent with its text, or out of range, is EINVAL and changes nothing', async () => {
    const raw = io(server.url, { transports: ['websocket'], auth: { token: TOKENS.other, name: 'raw-sites' }, reconnection: false, forceNew: true });
    await new Promise<void>((resolve) => raw.once('session', () => resolve()));
    const emit = (event: string, msg: unknown) => new Promise<any>((resolve) => (raw.emit as any)(event, msg, resolve));
    expect(await emit('owner', { oid: 1, name: 'raw' })).toEqual({ ok: null });
    for (const siteId of [7, 0, 4097, 1.5, 'x']) {
      const r = await emit('lock', { req: 1, oid: 1, domain: 'lin', resource: 'raw-sites', mode: 'EX', siteId });
      expect(r.error.code).toBe('EINVAL');
    }
    expect(sitesOf('raw-sites')).toEqual([]);
    // Numbered, then referred to: granted, with the text.
    const ok = await emit('lock', { req: 2, oid: 1, domain: 'lin', resource: 'raw-sites', mode: 'PR', site: '    at here (x.js:1:1)', siteId: 7 });
    expect(ok.ok.state).toBe('granted');
    const again = await emit('lock', { req: 3, oid: 1, domain: 'lin', resource: 'raw-sites', mode: 'PR', siteId: 7 });
    expect(again.ok.state).toBe('granted');
    expect(sitesOf('raw-sites')).toEqual(['at here (x.js:1:1)', 'at here (x.js:1:1)']);
    raw.disconnect();
  });
});
