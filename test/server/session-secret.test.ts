/**
 * Who may resume a session (server/README.md, Sessions S1–S6): the client
 * that opened it, proven by the secret it made; a viewer, a session id read
 * off the dashboard or a client id from a dump is not enough. A client whose
 * session the server hands to another connection, or closes, is told at once
 * and fails its handles. Sessions are bounded per principal.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import type { LockClient } from '../../client/index.js';
import type { LockServer } from '../../server/index.js';
import { codeOf } from '../spec/harness.js';
import { api, client, linkOf, startServer, TOKENS, until } from './support.js';

let server: LockServer | null = null;
const clients: LockClient[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
  server = null;
});

async function open(name: string, token: string = TOKENS.client): Promise<LockClient> {
  const c = await client(server!, name, token);
  clients.push(c);
  return c;
}

/** The secret a client made (private to it: the test reads it as an attacker who stole it would have it). */
function secretOf(c: LockClient): string {
  return (c.conn as unknown as { options: { secret: string } }).options.secret;
}

/** A raw socket.io connection presenting `auth`: the session it gets, or the code it is refused with. */
async function attempt(auth: Record<string, unknown>): Promise<{ session?: { id: string; resumed: boolean }; refused?: string }> {
  const s = io(server!.url, { transports: ['websocket'], reconnection: false, forceNew: true, auth });
  sockets.push(s);
  return new Promise((resolve) => {
    s.once('session', (info: { id: string; resumed: boolean }) => resolve({ session: info }));
    s.once('connect_error', (err: Error & { data?: { code: string } }) => resolve({ refused: err.data?.code ?? 'network' }));
  });
}

const ATTACKER_SECRET = 'the-attackers-own-secret-of-32-chars-or-more';

describe('session takeover (issue 13, item 8)', () => {
  it('a session id read by a viewer does not resume the session: the victim keeps its lock, and its connection', async () => {
    server = await startServer();
    const victim = await open('victim');
    const held = await victim.owner('o').lock('lin', 'r', 'EX');
    // What the attacker can read: the session list, with a viewer token.
    const list = await api(server, '/api/sessions', TOKENS.viewer);
    const id = (list.body as { id: string; client: string }[]).find((s) => s.client === 'victim')!.id;
    expect(id).toBe(victim.session);

    // The same client token every client has, the victim's session id, and a secret of its own, or none.
    expect(await attempt({ token: TOKENS.client, name: 'attacker', session: id, secret: ATTACKER_SECRET })).toEqual({ refused: 'EPERM' });
    expect(await attempt({ token: TOKENS.client, name: 'attacker', session: id })).toEqual({ refused: 'EINVAL' });

    // Nothing changed for the victim: still connected on its session, still the holder.
    expect(victim.conn.state).toBe('ready');
    expect(held.state).toBe('granted');
    const other = await open('other');
    expect(await codeOf(other.owner('o2').lock('lin', 'r', 'EX', { noQueue: true }))).toBe('EAGAIN');
    await held.release();
    expect((await other.owner('o3').lock('lin', 'r', 'EX')).state).toBe('granted');
  });

  it('a client whose session another connection resumes (its secret leaked) learns it at once: handles lost, waits failed EREVOKED', async () => {
    server = await startServer({ leaseMs: 60_000 });
    const victim = await open('victim');
    const held = await victim.owner('a').lock('lin', 'held', 'EX');
    const blocker = await open('blocker');
    const b = await blocker.owner('b').lock('lin', 'busy', 'EX');
    const waiting = victim.owner('w').lock('lin', 'busy', 'EX').then(() => null, (e: unknown) => e as { code: string; reason?: string });
    await until(async () => (await api(server!, '/api/locks?state=waiting', TOKENS.viewer)).body.length === 1);

    const thief = await attempt({ token: TOKENS.client, name: 'thief', session: victim.session!, clientId: victim.clientId, secret: secretOf(victim) });
    expect(thief.session).toMatchObject({ id: victim.session, resumed: true });

    // No reconnect, no 40 s of a handle saying `granted`: the victim is told by the server as it drops the connection.
    await until(() => held.state === 'lost');
    expect(held.lostReason).toBe('session-taken-over');
    expect(await waiting).toMatchObject({ code: 'EREVOKED', reason: 'session-taken-over' });
    expect(victim.conn.state).toBe('closed');
    expect(await codeOf(victim.owner('again').lock('lin', 'x', 'EX'))).toBe('ECANCELED');
    await b.release();
  });

  it('the secret is never shown: not in /api/sessions, the snapshot, the feed, the log, nor the client report', async () => {
    const lines: string[] = [];
    server = await startServer({ log: (l) => lines.push(l) });
    const c = await open('quiet');
    const secret = secretOf(c);
    expect(secret.length).toBeGreaterThanOrEqual(32);
    await c.owner('o').lock('lin', 'r', 'EX');
    const feed = io(`${server.url}/feed`, { transports: ['websocket'], auth: { token: TOKENS.admin }, reconnection: false, forceNew: true });
    sockets.push(feed);
    const fromFeed = await new Promise<unknown>((resolve) => feed.once('sessions', resolve));
    const report = (c as unknown as { selfReport(name: string): unknown }).selfReport('quiet');
    const shown = [
      JSON.stringify((await api(server, '/api/sessions', TOKENS.admin)).body),
      JSON.stringify((await api(server, '/api/snapshot', TOKENS.admin)).body),
      JSON.stringify(fromFeed),
      JSON.stringify(report),
      ...lines,
    ].join('\n');
    expect(shown).toContain(c.session!);
    expect(lines.some((l) => l.includes('"session-created"'))).toBe(true);
    expect(shown).not.toContain(secret);
  });
});

describe('session table exhaustion (issue 13, item 3)', () => {
  it('a viewer gets no session; one principal cannot take more than its quota, and its idle disconnected sessions make room', async () => {
    server = await startServer({ serverLimits: { sessionsPerPrincipalMax: 3, sessionsMax: 5 }, leaseMs: 60_000 });
    expect(await attempt({ token: TOKENS.viewer, name: 'v' })).toEqual({ refused: 'EPERM' });

    const mine = [await open('a1'), await open('a2'), await open('a3')];
    expect(await attempt({ token: TOKENS.client, name: 'a4' })).toMatchObject({ refused: 'ENOLCK' });
    // Another principal still gets in: one token filling its quota locks out only itself.
    const others = [await open('b1', TOKENS.other), await open('b2', TOKENS.other)];
    expect(others.every((c) => c.conn.state === 'ready')).toBe(true);

    // A disconnected session that holds a lock keeps its lease and its place...
    await mine[0]!.owner('o').lock('lin', 'kept', 'EX');
    linkOf(mine[0]!).disconnect();
    await until(async () => (await api(server!, '/api/sessions', TOKENS.viewer)).body.some((s: { state: string }) => s.state === 'disconnected'));
    expect(await attempt({ token: TOKENS.client, name: 'a4' })).toMatchObject({ refused: 'ENOLCK' });
    // ...one that holds nothing is ended to make room (its client would be told it expired).
    const idle = mine[1]!.session!;
    linkOf(mine[1]!).disconnect();
    await until(async () => (await api(server!, '/api/sessions', TOKENS.viewer)).body.filter((s: { state: string }) => s.state === 'disconnected').length === 2);
    expect((await attempt({ token: TOKENS.client, name: 'a4' })).session).toMatchObject({ resumed: false });
    const ids = (await api(server, '/api/sessions', TOKENS.viewer)).body.map((s: { id: string }) => s.id);
    expect(ids).not.toContain(idle);
    expect(ids).toContain(mine[0]!.session);
    // The table's own bound (5) holds across principals.
    expect(await attempt({ token: TOKENS.other, name: 'b3' })).toMatchObject({ refused: 'ENOLCK' });
  });
});
