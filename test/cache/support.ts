/**
 * The cached-grant suites' harness: a real lock server per test, real
 * clients, each closed after the test; the server's lock table as a viewer
 * reads it.
 */

import { afterEach, expect } from 'vitest';
import { connect, type LockClient } from '../../client/index.js';
import type { DeadlockError, LockHandle, Snapshot } from '../../src/index.js';
import { createServer, type LockServer, type ServerOptions } from '../../server/index.js';
import { TOKEN_SPECS, TOKENS } from '../spec/remote.js';

export interface CacheHarness {
  /** The server of the running test (after start). */
  readonly server: LockServer;
  start(options?: Partial<ServerOptions>): Promise<LockServer>;
  /** A client with `cache` as its cache option (undefined: none). */
  client(name: string, cache: unknown): Promise<LockClient>;
  snapshot(): Promise<Snapshot>;
}

export function cacheHarness(node: string, domains: ServerOptions['domains']): CacheHarness {
  let server: LockServer | null = null;
  const clients: LockClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    await server?.close();
    server = null;
  });
  return {
    get server(): LockServer {
      if (server === null) throw new Error('start() first');
      return server;
    },
    async start(options = {}) {
      server = await createServer({ port: 0, node, domains, tokens: TOKEN_SPECS, ...options });
      return server;
    },
    async client(name, cache) {
      const c = await connect(this.server.url, { token: TOKENS.client, name, ...(cache === undefined ? {} : { cache: cache as never }) });
      clients.push(c);
      return c;
    },
    async snapshot() {
      const res = await fetch(`${this.server.url}/api/snapshot`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
      return (await res.json()) as Snapshot;
    },
  };
}

/** A resource of a domain in a snapshot (undefined: not in the table). */
export function resourceOf(snap: Snapshot, domain: string, resource: string) {
  return snap.domains.find((d) => d.name === domain)?.resources.find((r) => r.name === resource);
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type RemoteOwner = ReturnType<LockClient['owner']>;

/**
 * `alice` holds `ha` on lin:r1 and `bob` `hb` on lin:r2; each asks for the
 * other's (bob `pauseMs` later): one is failed EDEADLK with a cycle naming
 * both, and the other is granted once the victim lets go.
 */
export async function expectTwoWayDeadlock(alice: RemoteOwner, bob: RemoteOwner, ha: LockHandle, hb: LockHandle, pauseMs: number): Promise<void> {
  const outcome = (p: Promise<unknown>) => p.then(() => null, (e: DeadlockError) => e);
  const pa = outcome(alice.lock('lin', 'r2', 'EX', { timeoutMs: 10_000 }));
  if (pauseMs > 0) await sleep(pauseMs);
  const pb = outcome(bob.lock('lin', 'r1', 'EX', { timeoutMs: 10_000 }));
  const [who, e] = await Promise.race([pa.then((x) => ['alice', x] as const), pb.then((x) => ['bob', x] as const)]);
  expect(e?.code).toBe('EDEADLK');
  expect(e!.cycle.map((x) => x.owner).sort()).toEqual(['alice', 'bob']);
  // The victim lets go of what it holds; the other is granted.
  await (who === 'alice' ? ha : hb).release();
  expect(await (who === 'alice' ? pb : pa)).toBeNull();
}
