/** The server records where in the remote program each request was made: the client's stack, not the server's. */

import { afterEach, describe, expect, it } from 'vitest';
import type { LockServer } from '../../server/index.js';
import { client, startServer, until } from './support.js';

describe('remote request sites', () => {
  let server: LockServer;
  afterEach(async () => {
    await server?.close();
  });

  it('a held lock, a waiting request and a queued conversion show the client program\'s lines', async () => {
    server = await startServer();
    const c1 = await client(server, 'app-1');
    const c2 = await client(server, 'app-2');
    const a = await c1.owner('a').lock('lin', 'r', 'PR');
    await c2.owner('b').lock('lin', 'r', 'PR');
    const conversion = a.convert('EX').catch(() => {});
    const waiting = c2.owner('c').lock('lin', 'r', 'EX').catch(() => {});
    await until(() => {
      const r = server.manager.snapshot().domains[0]!.resources[0];
      return r !== undefined && r.converting.length === 1 && r.waiting.length === 1;
    });
    const r = server.manager.snapshot().domains[0]!.resources[0]!;
    for (const entry of [...r.granted, ...r.converting, ...r.waiting]) {
      expect(entry.stack!.split('\n')[0]).toMatch(/stacks\.test\.ts:\d+/);
    }
    await c1.close();
    await c2.close();
    await Promise.all([conversion, waiting]);
  });
});
