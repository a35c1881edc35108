/**
 * Idle connections (issue 13, item 4): anyone who can reach the port, with
 * no token, opened 20,100 half-sent requests, each kept ~90 s, until the
 * server had no descriptors left. Now a half-sent request is closed within
 * the header timeout, the connections are bounded, and at the bound the
 * connection idle longest makes room, so `/healthz` and clients still get in.
 */

import { connect as tcp, type Socket } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import type { LockClient } from '../../client/index.js';
import type { LockServer } from '../../server/index.js';
import { serverLimits } from '../../server/limits.js';
import { api, client, startServer } from './support.js';

let server: LockServer | null = null;
const sockets: Socket[] = [];
const clients: LockClient[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
  server = null;
});

/** A connection that starts a request and never finishes its headers; resolves once connected. */
async function halfSent(url: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const { hostname, port } = new URL(url);
  const socket = tcp({ host: hostname, port: Number(port) });
  sockets.push(socket);
  socket.on('error', () => {});
  socket.on('data', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(`GET /healthz HTTP/1.1\r\nHost: ${hostname}:${port}\r\nX-Slow: `);
  return { socket, closed };
}

it('a half-sent request is closed by the server within its header timeout', async () => {
  server = await startServer();
  const { closed } = await halfSent(server.url);
  // Node's defaults kept it 60 s plus up to 30 s between checks; now headersTimeoutMs (10 s) plus at most
  // connectionsCheckingIntervalMs (1 s). The test's own timeout lies between the two.
  await closed;
  expect(serverLimits.headersTimeoutMs + serverLimits.connectionsCheckingIntervalMs).toBeLessThan(20_000);
}, 25_000);

it('at the connection bound the connection idle longest makes room: /healthz answers, an admitted client is never closed', async () => {
  const max = 20;
  server = await startServer({ serverLimits: { connectionsMax: max } });
  const c = await client(server, 'steady');
  clients.push(c);
  const held = await c.owner('o').lock('lin', 'r', 'EX');
  const flood: { socket: Socket; closed: Promise<void> }[] = [];
  for (let i = 0; i < max + 5; i++) flood.push(await halfSent(server.url));
  // The oldest of the flood were closed to make room for the newest.
  await Promise.all(flood.slice(0, 6).map((f) => f.closed));
  expect(flood.slice(-5).every((f) => !f.socket.destroyed)).toBe(true);

  const health = await api(server, '/healthz', null, { headers: { connection: 'close' } });
  expect(health).toMatchObject({ status: 200, body: { ok: true } });
  // The lock client's WebSocket was admitted: it kept its connection through all of this.
  expect(c.conn.state).toBe('ready');
  await held.release();
  expect((await c.owner('o').lock('lin', 'r', 'EX')).state).toBe('granted');
});

it('a request whose body arrives a byte at a time counts as half-sent: at the bound it makes room too', async () => {
  const max = 10;
  server = await startServer({ serverLimits: { connectionsMax: max } });
  const { hostname, port } = new URL(server.url);
  const trickle: { socket: Socket; closed: Promise<void> }[] = [];
  for (let i = 0; i < max; i++) {
    const socket = tcp({ host: hostname, port: Number(port) });
    sockets.push(socket);
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // The server's `100 Continue` says it has parsed the headers: from then on the request is one being answered.
    const goOn = new Promise<void>((resolve) => socket.once('data', (d: Buffer) => d.toString().startsWith('HTTP/1.1 100') && resolve()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`POST /api/grace/lift HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n`);
    await goOn;
    // Flowing, so that the server's close is seen ('end', then 'close'); then one byte of the 1000.
    socket.resume();
    socket.write('{');
    trickle.push({ socket, closed });
  }
  const health = await api(server, '/healthz', null, { headers: { connection: 'close' } });
  expect(health).toMatchObject({ status: 200, body: { ok: true } });
  // The oldest request still arriving made room.
  await trickle[0]!.closed;
});
