/**
 * The remote harness for the shared suites: a real lock server on a free
 * loopback port, one real socket.io client, owners made by the client, and
 * the state read back through the REST API with a viewer token.
 */

import { connect } from '../../src/client/index.js';
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

export async function remoteHarness(domains: DomainConfig[], limits?: Record<string, number>): Promise<LockHarness> {
  const server = await createServer({ port: 0, node: 'test', domains, tokens: TOKEN_SPECS, ...(limits ? { limits } : {}) });
  const client = await connect(server.url, { token: TOKENS.client, name: 'spec' });
  return {
    owner: (name, options) => client.owner(name, options),
    snapshot: async () => {
      const res = await fetch(`${server.url}/api/snapshot`, { headers: { authorization: `Bearer ${TOKENS.viewer}` } });
      if (!res.ok) throw new Error(`GET /api/snapshot: ${res.status}`);
      return (await res.json()) as Snapshot;
    },
    settle: async () => {
      await client.ping();
      await new Promise((resolve) => setTimeout(resolve, 5));
    },
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}
