/**
 * Issue 13, item 17: the server says where hang-dumps go when it starts,
 * logs every dump written with its id, path and trigger, and a `hang` (in
 * the log and in the dashboard's feed) names the dump it started, or null
 * when the rate limit skipped it (which is logged too).
 */

import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import { afterEach, expect, it } from 'vitest';
import type { LockServer } from '../../server/index.js';
import { client, startServer, TOKENS, until } from './support.js';

let server: LockServer | undefined;
let feed: Socket | undefined;
afterEach(async () => {
  feed?.disconnect();
  await server?.close();
});

type Line = Record<string, unknown> & { event: string };

it('logs where dumps go, every dump written (id, path, trigger), and the dump id in hang lines and feed events', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ls-dump-log-'));
  const lines: Line[] = [];
  server = await startServer({
    domains: [{ name: 'lin', kind: 'dlm', softTimeoutMs: 100 }],
    dumps: { dir, rateLimitMs: 600_000 },
    log: (l) => lines.push(JSON.parse(l) as Line),
  });
  const started = lines.find((l) => l.event === 'dumps');
  expect(started).toMatchObject({ level: 'info', dir, rateLimitMs: 600_000 });

  feed = io(`${server.url}/feed`, { transports: ['websocket'], auth: { token: TOKENS.viewer }, reconnection: false, forceNew: true });
  const hangEvents: Array<{ id: number; dump: string | null }> = [];
  feed.on('batch', (b: { events: Array<{ event: string; payload: { id: number; dump: string | null } }> }) => {
    for (const e of b.events) if (e.event === 'hang') hangEvents.push(e.payload);
  });
  await until(() => feed!.connected);

  const c = await client(server, 'logged');
  await c.owner('holder').lock('lin', 'a', 'EX');
  await c.owner('holder').lock('lin', 'b', 'EX');
  void c.owner('first').lock('lin', 'a', 'EX').catch(() => {});
  await until(() => lines.some((l) => l.event === 'dump-written'), 10_000);
  const hang = lines.find((l) => l.event === 'hang' && l.owner === 'first')!;
  expect(typeof hang.dump).toBe('string');
  const written = lines.find((l) => l.event === 'dump-written')!;
  expect(written).toMatchObject({ id: hang.dump, path: join(dir, `${String(hang.dump)}.tar.gz`), trigger: 'soft-timeout' });
  expect(existsSync(written.path as string)).toBe(true);

  // A second hang within the rate limit: no dump, said so in the hang line and in a dump-skipped line.
  void c.owner('second').lock('lin', 'b', 'EX').catch(() => {});
  await until(() => lines.some((l) => l.event === 'hang' && l.owner === 'second'), 10_000);
  expect(lines.find((l) => l.event === 'hang' && l.owner === 'second')!.dump).toBeNull();
  expect(lines.find((l) => l.event === 'dump-skipped')).toMatchObject({ trigger: 'soft-timeout', reason: 'rate-limited' });

  await until(() => hangEvents.length === 2, 10_000);
  expect(hangEvents.map((h) => h.dump)).toEqual([hang.dump, null]);
  await c.close();
});
