/**
 * The remote harness for the shared suites: a real lock server on a free
 * loopback port, one real client (on the default transport, or the one
 * named), owners made by the client, and the state read back through the
 * REST API with a viewer token.
 */

import { connect, type ConnectOptions } from '../../client/index.js';
import type { DomainConfig, Snapshot } from '../../src/index.js';
import { createServer } from '../../server/index.js';
import type { LockHarness } from './harness.js';

export const TOKENS = {
  client: 'client-token-0123456789abcdef',
  other: 'client-token-fedcba9876543210',
  viewer: 'viewer-token-0123456789abcdef',
  admin: 'admin-token-0123456789abcdef0',
};

export const TOKEN_SPECS = [
  { token: TOKENS.client, role: 'client' as const, name: 'tests' },
  { token: TOKENS.other, role: 'client' as const, name: 'other' },
  { token: TOKENS.viewer, role: 'viewer' as const, name: 'viewer' },
  { token: TOKENS.admin, role: 'admin' as const, name: 'admin' },
];

export function remoteHarness(domains: DomainConfig[], limits?: Record<string, number>): Promise<LockHarness> {
  return harness(domains, limits, false);
}

/** The remote harness on one transport. */
export function remoteHarnessOn(transport: NonNullable<ConnectOptions['transport']>) {
  return (domains: DomainConfig[], limits?: Record<string, number>): Promise<LockHarness> => harness(domains, limits, false, transport);
}

/**
 * The same with cached grants on (client/cache.ts, no minimum hold): a
 * released lock stays granted on the server, idle. The state read back
 * leaves idle cached grants out (the client reports its use first), since
 * nobody holds them: they are what the cache keeps, not a lock of the test.
 */
export function remoteHarnessCached(domains: DomainConfig[], limits?: Record<string, number>): Promise<LockHarness> {
  return harness(domains, limits, true);
}

async function harness(
  domains: DomainConfig[], limits: Record<string, number> | undefined, cache: boolean, transport?: ConnectOptions['transport'],
): Promise<LockHarness> {
  const server = await createServer({ port: 0, node: 'test', domains, tokens: TOKEN_SPECS, ...(limits ? { limits } : {}) });
  const client = await connect(server.url, {
    token: TOKENS.client, name: 'spec', ...(cache ? { cache: { minHoldMs: 0 } } : {}), ...(transport === undefined ? {} : { transport }),
  });
  return {
    owner: (name, options) => client.owner(name, options),
    snapshot: async () => {
      if (cache) {
        client.cache!.flush();
        await client.ping();
      }
      const res = await fetch(`${server.url}/api/snapshot`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
      if (!res.ok) throw new Error(`GET /api/snapshot: ${res.status}`);
      const snap = (await res.json()) as Snapshot;
      if (cache) {
        for (const d of snap.domains) for (const r of d.resources) r.granted = r.granted.filter((l) => l.cache?.inUse !== false);
      }
      return snap;
    },
    settle: async () => {
      // Waits among owners of the client reach the server after a few milliseconds (C9): sent now.
      client.cache?.flush();
      await client.ping();
      await new Promise((resolve) => setTimeout(resolve, 5));
    },
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}
