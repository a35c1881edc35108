/**
 * Reconnection shared by the clients of one server in a process
 * (client/reconnect.ts): while the server is unreachable one client
 * probes and the others wait; when it answers, they all come back. A TCP
 * proxy between the clients and a real server plays the network: `cut`
 * drops every connection and holds new ones unanswered (a server that does
 * not answer), `restore` forwards again, the held ones included.
 */

import { connect as netConnect, createServer as netServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type LockClient } from '../../client/index.js';
import { PROBE_STALL_MS, probeStates } from '../../client/reconnect.js';
import type { LockServer } from '../../server/index.js';
import { startServer, TOKENS, until } from './support.js';

class Proxy {
  accepted = 0;
  private holding = false;
  private readonly held: Socket[] = [];
  private readonly live = new Set<Socket>();
  private constructor(private readonly server: Server, private readonly target: number, readonly url: string) {}

  static async start(target: number): Promise<Proxy> {
    const server = netServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const p = new Proxy(server, target, `http://127.0.0.1:${(server.address() as { port: number }).port}`);
    server.on('connection', (c) => p.accept(c));
    return p;
  }

  get heldCount(): number {
    return this.held.length;
  }

  private accept(c: Socket): void {
    this.accepted++;
    c.on('error', () => {});
    if (this.holding) this.held.push(c);
    else this.forward(c);
  }

  private forward(c: Socket): void {
    if (c.destroyed) return;
    const up = netConnect(this.target, '127.0.0.1');
    up.on('error', () => c.destroy());
    c.on('close', () => up.destroy());
    up.on('close', () => c.destroy());
    this.live.add(c).add(up);
    c.pipe(up);
    up.pipe(c);
  }

  cut(): void {
    this.holding = true;
    for (const s of this.live) s.destroy();
    this.live.clear();
  }

  restore(): void {
    this.holding = false;
    for (const c of this.held.splice(0)) this.forward(c);
  }

  async close(): Promise<void> {
    for (const s of [...this.live, ...this.held]) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const N = 10;
let server: LockServer | null = null;
let proxy: Proxy | null = null;
let clients: LockClient[] = [];

afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
  await proxy?.close();
  await server?.close();
  proxy = null;
  server = null;
});

async function setUp(): Promise<{ proxy: Proxy; sessions: (string | null)[] }> {
  server = await startServer({ leaseMs: 30_000 });
  proxy = await Proxy.start(Number(new URL(server.url).port));
  for (let i = 0; i < N; i++) {
    const c = await connect(proxy.url, { token: TOKENS.client, name: `c${i}` });
    clients.push(c);
    await c.owner(`o${i}`).lock('lin', `r${i}`, 'EX');
  }
  return { proxy, sessions: clients.map((c) => c.session) };
}

const stateOf = (url: string) => probeStates().find((p) => p.url === url);

/** Every client is back on its own session, still holding its lock. */
async function allBack(sessions: (string | null)[]): Promise<void> {
  await until(() => clients.every((c) => c.conn.connected), 10_000);
  expect(clients.map((c) => c.session)).toEqual(sessions);
  for (const c of clients) expect([...c.handles.values()].map((h) => h.state)).toEqual(['granted']);
  expect(server!.manager.stats().lin!.held).toBe(N);
}

describe('reconnection shared by the clients of a server', () => {
  it('while the server does not answer one client probes and the others wait; when it answers, each comes back with one attempt', async () => {
    const { proxy, sessions } = await setUp();
    const before = proxy.accepted;
    proxy.cut();
    await until(() => stateOf(proxy.url)?.waiting === N - 1 && proxy.heldCount === 1);
    expect(proxy.accepted - before).toBe(1);
    expect(stateOf(proxy.url)!.prober).not.toBeNull();

    proxy.restore();
    await allBack(sessions);
    // The probe's attempt, then one attempt per waiting client.
    expect(proxy.accepted - before).toBe(N);
    expect(stateOf(proxy.url)).toBeUndefined();
  });

  it('a probe whose attempt gets no answer stops holding the others back: another client probes as well', async () => {
    const { proxy, sessions } = await setUp();
    const before = proxy.accepted;
    proxy.cut();
    await until(() => stateOf(proxy.url)?.waiting === N - 1 && proxy.heldCount === 1);
    const first = stateOf(proxy.url)!.prober!;
    // The held attempt never answers: after PROBE_STALL_MS a waiting client probes (and is held too).
    await until(() => proxy.heldCount === 2 && stateOf(proxy.url)?.waiting === N - 2 && stateOf(proxy.url)!.prober !== first, PROBE_STALL_MS + 5_000);
    expect(proxy.accepted - before).toBe(2);

    proxy.restore();
    await allBack(sessions);
    expect(proxy.accepted - before).toBe(N);
  });

  it('a probe whose client closes hands the probing to a waiting client, and the rest still come back', async () => {
    const { proxy, sessions } = await setUp();
    const before = proxy.accepted;
    proxy.cut();
    await until(() => stateOf(proxy.url)?.waiting === N - 1 && proxy.heldCount === 1);
    const first = stateOf(proxy.url)!.prober!;
    const gone = clients.findIndex((c) => c.conn.state !== 'closed' && (c as unknown as { conn: { options: { name: string } } }).conn.options.name === first);
    expect(gone).toBeGreaterThanOrEqual(0);
    await clients[gone]!.close();
    clients.splice(gone, 1);
    sessions.splice(gone, 1);
    await until(() => stateOf(proxy.url)?.waiting === N - 2 && stateOf(proxy.url)!.prober !== first && proxy.heldCount === 2);

    proxy.restore();
    await until(() => clients.every((c) => c.conn.connected), 10_000);
    expect(clients.map((c) => c.session)).toEqual(sessions);
    // The closed client's session ended (bye could not reach the server: its lease keeps its lock meanwhile).
    for (const c of clients) expect([...c.handles.values()].map((h) => h.state)).toEqual(['granted']);
    expect(proxy.accepted - before).toBe(1 + 1 + (N - 2));
  });
});
