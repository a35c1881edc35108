/**
 * Lock theft during grace (issue 13, item 9): after a restart, a client id
 * (it is in every dump's client report) is not enough to reclaim a victim's
 * locks or to end the grace period owed to it; the durable record keeps the
 * verifier of the victim's secret (server/README.md, Sessions S4).
 */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import type { LockClient, ReclaimReport } from '../../client/index.js';
import { linkOf } from '../server/support.js';
import { client, CLIENT, ServerProcess, until } from './support.js';

let server: ServerProcess | null = null;
const clients: LockClient[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.disconnect();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.kill();
  server = null;
});

function emit(s: Socket, event: string, msg: unknown): Promise<any> {
  return new Promise((resolve) => (s.emit as any)(event, msg, resolve));
}

/**
 * An attacker holding the client token and the victim's client id: it
 * connects with them and, if let in, replays the victim's lock and says it is
 * done. Returns the code it was refused with, or null if it got a session.
 */
async function steal(url: string, auth: Record<string, unknown>): Promise<string | null> {
  const s = io(url, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token: CLIENT, name: 'attacker', ...auth } });
  sockets.push(s);
  const got = await new Promise<{ reclaim?: boolean; refused?: string }>((resolve) => {
    s.once('session', (info: { reclaim: boolean }) => resolve(info));
    s.once('connect_error', (err: Error & { data?: { code: string } }) => resolve({ refused: err.data?.code ?? 'network' }));
  });
  if (got.refused !== undefined) return got.refused;
  await emit(s, 'owner', { oid: 1, name: 'o' });
  await emit(s, 'reclaim', { req: 1, items: [{ kind: 'dlm', oid: 1, domain: 'lin', resource: 'stolen', mode: 'EX' }], done: true });
  return null;
}

it('a client id without its secret reclaims nothing and ends no grace: the victim reclaims its lock', async () => {
  server = await ServerProcess.create({ graceMs: 30_000, leaseMs: 30_000 });
  await server.start();
  const victim = await client(server, 'victim');
  clients.push(victim);
  const held = await victim.owner('o').lock('lin', 'stolen', 'EX');
  // The record keeps a verifier of the secret, never the secret.
  const secret = (victim.conn as unknown as { options: { secret: string } }).options.secret;
  const stateText = readFileSync(join(server.stateDir, 'clients.json'), 'utf8');
  expect(stateText).toContain(victim.clientId);
  expect(stateText).not.toContain(secret);
  expect(JSON.parse(stateText).clients[0].verifier).toMatch(/^[0-9a-f]{64}$/);

  // The victim is away while the server restarts (it will come back later in grace).
  linkOf(victim).disconnect();
  await server.kill();
  await server.start();
  expect((await server.api('/api/grace')).body).toMatchObject({ active: true });

  const asVictim = { clientId: victim.clientId, session: victim.session };
  expect(await steal(server.url, asVictim)).not.toBeNull();
  expect(await steal(server.url, { ...asVictim, secret: 'the-attackers-own-secret-of-32-chars-or-more' })).toBe('EPERM');
  expect(await steal(server.url, { clientId: victim.clientId, secret: 'the-attackers-own-secret-of-32-chars-or-more' })).toBe('EPERM');
  // Grace still waits for the victim.
  expect((await server.api('/api/grace')).body).toMatchObject({ active: true });

  const report = new Promise<ReclaimReport>((resolve) => victim.on('reclaim', resolve));
  linkOf(victim).connect();
  expect(await report).toMatchObject({ reclaimed: 1, lost: [] });
  expect(held.state).toBe('granted');
  await until(async () => (await server!.api('/api/grace')).body.active === false);
  await held.release();
});
