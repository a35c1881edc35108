/**
 * Grace seen from inside the server process and its API: in-process owners
 * are held back too, /api/grace reports and (admin only) lifts it, a client
 * the record does not know cannot reclaim, and the record files are what a
 * restart reads.
 */

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LockServer } from '../../server/index.js';
import type { LockClient } from '../../client/index.js';
import { codeOf } from '../spec/harness.js';
import { api, client, linkOf, startServer, TOKENS, until } from '../server/support.js';

let server: LockServer | null = null;
const clients: LockClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await server?.close();
  server = null;
});

function stateDir(): string {
  return join(mkdtempSync(join(tmpdir(), 'lockscope-grace-')), 'state');
}

describe('grace in the server process', () => {
  it('holds in-process owners back (EGRACE); /api/grace shows it; only an admin lifts it; then they are granted', async () => {
    const dir = stateDir();
    server = await startServer({ stateDir: dir });
    const a = await client(server, 'a');
    clients.push(a);
    await a.owner('o').lock('lin', 'r', 'EX');
    await server.close(); // the record stays behind as after a crash (close forgets nothing durable)
    clients.splice(0).forEach((c) => void c.close());
    server = await startServer({ stateDir: dir, graceMs: 60_000 });
    const local = server.manager.owner('in-process');
    expect(await codeOf(local.lock('lin', 'other', 'EX'))).toBe('EGRACE');
    expect(await codeOf(local.setlk('adv', 'f', { type: 'read', start: 0, len: 1 }))).toBe('EGRACE');

    const state = await api(server, '/api/grace');
    expect(state.status).toBe(200);
    expect(state.body).toMatchObject({ active: true, expected: [a.clientId], completed: [], reclaims: 0 });
    const asViewer = await api(server, '/api/grace/lift', TOKENS.viewer, { method: 'POST' });
    expect([asViewer.status, asViewer.body.error.code]).toEqual([403, 'EPERM']);
    const lifted = await api(server, '/api/grace/lift', TOKENS.admin, { method: 'POST' });
    expect(lifted.body).toMatchObject({ active: false, ended: 'lifted' });
    expect((await local.lock('lin', 'other', 'EX')).state).toBe('granted');
  });

  it('a connected client that is not in the record cannot reclaim (ENOGRACE), even in grace', async () => {
    const dir = stateDir();
    server = await startServer({ stateDir: dir });
    const a = await client(server, 'a');
    await a.owner('o').lock('lin', 'r', 'EX');
    await server.close();
    void a.close();
    server = await startServer({ stateDir: dir, graceMs: 60_000 });
    const { io } = await import('socket.io-client');
    const s = io(server.url, { transports: ['websocket'], reconnection: false, forceNew: true, auth: { token: TOKENS.client, name: 'x', clientId: 'stranger#1', secret: 'a-secret-of-the-stranger-at-least-32-chars' } });
    const info = await new Promise<{ grace: boolean; reclaim: boolean }>((resolve) => s.once('session', resolve));
    expect(info).toMatchObject({ grace: true, reclaim: false });
    const emit = (event: string, msg: unknown) => new Promise<any>((resolve) => (s.emit as any)(event, msg, resolve));
    await emit('owner', { oid: 1, name: 'o' });
    const reply = await emit('reclaim', { req: 1, items: [{ kind: 'dlm', oid: 1, domain: 'lin', resource: 'r', mode: 'EX' }] });
    expect(reply.ok.map((r: { error: { code: string } }) => r.error.code)).toEqual(['ENOGRACE']);
    expect((await emit('reclaim', { req: 2, items: [{ kind: 'dlm', oid: 1, domain: 'lin', resource: 'r', mode: 'XX', extra: 1 }] })).error.code).toBe('EINVAL');
    s.disconnect();
  });

  it('records clients when they first ask for a lock, forgets them when they say goodbye, and keeps the token high-water', async () => {
    const dir = stateDir();
    server = await startServer({ stateDir: dir });
    const a = await client(server, 'a');
    const clientsFile = (): string[] => (JSON.parse(readFileSync(join(dir, 'clients.json'), 'utf8')) as { clients: { id: string }[] }).clients.map((c) => c.id);
    const token = (await a.owner('o').lock('lin', 'r', 'EX')).token;
    expect(clientsFile()).toEqual([a.clientId]);
    const reserved = (JSON.parse(readFileSync(join(dir, 'tokens.json'), 'utf8')) as { reservedTo: number }).reservedTo;
    expect(BigInt(reserved) >= token).toBe(true);
    await a.close();
    // Forgetting relies on nothing: written a moment later, with other removals (or at close).
    await until(() => clientsFile().length === 0);
    await server.close();
    server = await startServer({ stateDir: dir });
    expect(server.manager.grace.active).toBe(false); // nobody to wait for
    expect((await server.manager.owner('x').lock('lin', 'r', 'EX')).token > BigInt(reserved)).toBe(true);
  });

  it('when grace ends, drops clients that never came back and those that reclaimed and left; keeps those connected', async () => {
    const dir = stateDir();
    server = await startServer({ stateDir: dir });
    const port = Number(new URL(server.url).port);
    const [a, b, c] = [await client(server, 'a'), await client(server, 'b'), await client(server, 'c')];
    clients.push(a, b, c);
    for (const x of [a, b, c]) await x.owner('o').lock('lin', x.clientId, 'EX');
    linkOf(b).disconnect(); // never comes back
    await server.close();
    server = await startServer({ stateDir: dir, port, graceMs: 1000 });
    await until(() => a.reclaims.length === 1 && c.reclaims.length === 1);
    await a.close(); // reclaimed, then left while grace waits for b
    await until(() => !server!.manager.grace.active, 3000);
    expect(server.manager.grace.state()).toMatchObject({ ended: 'deadline' });
    const recorded = (): string[] => (JSON.parse(readFileSync(join(dir, 'clients.json'), 'utf8')) as { clients: { id: string }[] }).clients.map((r) => r.id);
    await until(() => recorded().length === 1);
    expect(recorded()).toEqual([c.clientId]);
  });

  it('refuses to start on a state file it cannot read (EINVAL) rather than forget who held locks', async () => {
    const dir = stateDir();
    server = await startServer({ stateDir: dir });
    await server.close();
    server = null;
    writeFileSync(join(dir, 'clients.json'), '{ torn');
    expect(await codeOf(startServer({ stateDir: dir }))).toBe('EINVAL');
  });
});
