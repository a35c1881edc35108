/**
 * The lock client on each of its transports (client/transport.ts), against
 * real servers: the same answers, the same refusals, a cut connection that
 * comes back to its session, and a server that hangs (SIGSTOP) noticed by
 * its heartbeats and resumed once it runs again. The spec suites run on both
 * transports too (remote-suites.test.ts).
 */

import { afterEach, describe, expect, it } from 'vitest';
import { connect, type LockClient } from '../../client/index.js';
import type { LockServer } from '../../server/index.js';
import { codeOf } from '../spec/harness.js';
import { IoTransport } from '../../client/transport-io.js';
import { WsTransport } from '../../client/transport-ws.js';
import { CLIENT, ServerProcess } from '../recovery/support.js';
import { api, linkOf, startServer, TOKENS, until } from './support.js';

const TRANSPORTS = ['ws', 'socket.io'] as const;

let server: LockServer | null = null;
let proc: ServerProcess | null = null;
const clients: LockClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  await server?.close();
  server = null;
  if (proc?.child) proc.child.kill('SIGCONT');
  await proc?.kill();
  proc = null;
});

async function open(url: string, name: string, transport: (typeof TRANSPORTS)[number], token: string = TOKENS.client): Promise<LockClient> {
  const c = await connect(url, { token, name, transport });
  clients.push(c);
  // The client speaks the transport it was asked for.
  expect(linkOf(c)).toBeInstanceOf(transport === 'ws' ? WsTransport : IoTransport);
  return c;
}

/** A server, clients a and b, a's EX lock on `resource` and b's request for it in `mode`, queued on the server. */
async function heldAndWaiting(transport: (typeof TRANSPORTS)[number], resource: string, mode: 'PR' | 'EX') {
  server = await startServer();
  const [a, b] = [await open(server.url, 'a', transport), await open(server.url, 'b', transport)];
  const held = await a.owner('a1').lock('lin', resource, 'EX');
  const waiting = b.owner('b1').lock('lin', resource, mode);
  await until(() => server!.manager.snapshot().domains.some((d) => d.resources.some((r) => r.name === resource && r.waiting.length === 1)));
  return { a, b, held, waiting };
}

for (const transport of TRANSPORTS) {
  describe(`the ${transport} transport`, () => {
    it('locks, waits, converts and releases as the server says; the server lists both clients', async () => {
      const { a, held, waiting } = await heldAndWaiting(transport, 'r', 'PR');
      await held.convert('PR');
      const granted = await waiting;
      expect([held.mode, granted.state]).toEqual(['PR', 'granted']);
      expect(await codeOf(a.owner('a2').lock('lin', 'r', 'EX', { noQueue: true }))).toBe('EAGAIN');
      await granted.release();
      await held.release();
      const sessions = (await api(server!, '/api/sessions')).body as { client: string }[];
      expect(sessions.map((s) => s.client).sort()).toEqual(['a', 'b']);
    });

    it('a refused handshake fails connect with the server\'s code; a bad transport name is EINVAL', async () => {
      server = await startServer();
      expect(await codeOf(connect(server.url, { token: 'no-such-token-0123456789', name: 'x', transport }))).toBe('EPERM');
      expect(await codeOf(connect(server.url, { token: TOKENS.viewer, name: 'v', transport }))).toBe('EPERM');
      expect(await codeOf(Promise.resolve().then(() => connect(server!.url, { name: 'x', transport: 'tcp' as never })))).toBe('EINVAL');
    });

    it('a connection cut as the network would comes back to its session: held locks stay, a wait across the cut is granted', async () => {
      const { a, b, held, waiting } = await heldAndWaiting(transport, 'cut', 'EX');
      const sessions = [a.conn.sessionId, b.conn.sessionId];
      const generations = [linkOf(a).generation, linkOf(b).generation];
      linkOf(b).cut();
      linkOf(a).cut();
      // Each came back on a new connection (the transport's generation moved on) to the session it had.
      await until(() => a.conn.connected && b.conn.connected && linkOf(a).generation > generations[0]! && linkOf(b).generation > generations[1]!);
      expect([a.conn.sessionId, b.conn.sessionId]).toEqual(sessions);
      expect(held.state).toBe('granted');
      await held.release();
      const got = await waiting;
      expect(got.state).toBe('granted');
      await got.release();
    });
  });
}

describe('a server that hangs', () => {
  it.each(TRANSPORTS)('over %s: the client notices by the heartbeats, and comes back to its session once the server runs again', async (transport) => {
    // A lease of 3 s: the server pings every second (a third of the lease).
    proc = await ServerProcess.create({ leaseMs: 3_000 });
    await proc.start();
    const c = await connect(proc.url, { token: CLIENT, name: 'h', transport });
    clients.push(c);
    const held = await c.owner('o').lock('lin', 'hang', 'EX');
    const session = c.conn.sessionId;
    proc.child!.kill('SIGSTOP');
    await until(() => c.conn.state === 'away', 10_000);
    proc.child!.kill('SIGCONT');
    await until(() => c.conn.connected, 10_000);
    expect(c.conn.sessionId).toBe(session);
    expect(held.state).toBe('granted');
    await held.release();
  });
});
