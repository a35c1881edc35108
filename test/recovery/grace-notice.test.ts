/**
 * When grace ends every connected client is told (`grace { active: false }`):
 * those with a request refused EGRACE first, the rest a hundred per turn
 * (server/recovery.ts). With more clients than one turn's worth, each one
 * learns it, and a request held back by grace is granted.
 */

import { io, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { LockClient } from '../../client/index.js';
import type { Reply, SessionInfo } from '../../client/protocol.js';
import { CLIENT, client, ServerProcess, until } from './support.js';

const CLIENTS = 150;
let server: ServerProcess | null = null;
const clients: LockClient[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.kill();
  server = null;
});

function call(s: Socket, event: string, msg: unknown): Promise<Reply<unknown>> {
  return new Promise((resolve) => s.emit(event, msg, resolve));
}

async function raw(url: string, session?: string): Promise<{ socket: Socket; info: SessionInfo }> {
  const socket = io(url, {
    forceNew: true, transports: ['websocket'], reconnection: false,
    auth: { token: CLIENT, name: 'late', clientId: 'late', secret: 'the-late-client-secret-of-32-chars-or-more', ...(session === undefined ? {} : { session }) },
  });
  sockets.push(socket);
  const info = await new Promise<SessionInfo>((resolve, reject) => {
    socket.once('session', resolve);
    socket.once('connect_error', reject);
  });
  return { socket, info };
}

describe('the end of grace, told to every client', () => {
  it(`${CLIENTS} clients are all told; a request refused EGRACE meanwhile is granted`, async () => {
    server = await ServerProcess.create({ graceMs: 60_000 });
    await server.start();
    for (let i = 0; i < CLIENTS; i++) {
      const c = await client(server, `c${i}`);
      clients.push(c);
      await c.owner('o').lock('lin', `r${i}`, 'EX');
    }
    // A recorded client under the test's control keeps grace on until it says it is done.
    const late = await raw(server.url);
    await call(late.socket, 'owner', { oid: 1, name: 'o' });
    expect(await call(late.socket, 'lock', { req: 1, oid: 1, domain: 'lin', resource: 'late', mode: 'EX' })).toMatchObject({ ok: {} });
    const reclaimed = clients.map((c) => new Promise<void>((resolve) => c.on('reclaim', () => resolve())));
    await server.kill();
    late.socket.close();
    await server.start();
    await Promise.all(reclaimed);
    expect(clients.every((c) => c.conn.grace)).toBe(true);

    // Refused EGRACE (the client waits for the end of grace, without surfacing it).
    const held = clients[CLIENTS - 1]!.owner('p').lock('lin', 'new', 'EX');
    const requests = (clients[CLIENTS - 1] as unknown as { requests: { waitingForGrace: number } }).requests;
    await until(() => requests.waitingForGrace === 1);

    const back = await raw(server.url, late.info.id);
    expect(back.info.reclaim).toBe(true);
    await call(back.socket, 'owner', { oid: 1, name: 'o' });
    await call(back.socket, 'reclaim', { req: 2, items: [{ kind: 'dlm', oid: 1, domain: 'lin', resource: 'late', mode: 'EX' }], done: true });
    expect((await held).state).toBe('granted');
    await until(() => clients.every((c) => !c.conn.grace));
    expect((await server.api('/api/grace')).body).toMatchObject({ active: false, ended: 'all-reclaimed', reclaims: CLIENTS + 1 });
  });
});
