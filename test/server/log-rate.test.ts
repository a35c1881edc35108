/**
 * Log lines an outsider can cause are rate limited per event kind (log.ts):
 * a client sending malformed batches gets the first `logLinesPerKindMax`
 * lines written and the rest counted in one `log-suppressed` line, instead of
 * a line each (which filled a shared disk at ~540 MB a minute).
 */

import { afterEach, describe, expect, it } from 'vitest';
import type { LockServer } from '../../server/index.js';
import { serverLimits } from '../../server/limits.js';
import { client, socketOf, startServer } from './support.js';

let server: LockServer | null = null;

afterEach(async () => {
  await server?.close();
  server = null;
});

describe('log rate limit', () => {
  it('1000 bad batches write logLinesPerKindMax lines and one log-suppressed line counting the rest', async () => {
    const lines: { event: string; kind?: string; suppressed?: number }[] = [];
    server = await startServer({ log: (l) => lines.push(JSON.parse(l)) });
    const c = await client(server, 'flooder', undefined, 'socket.io');
    const socket = socketOf(c);
    const flood = 1000;
    for (let i = 0; i < flood; i++) socket.emit('m' as never, 'not a batch' as never);
    // Messages on one connection are handled in order: once this answers, every bad batch has been handled.
    await new Promise((resolve) => socket.emit('ping' as never, {} as never, resolve as never));
    await c.close();
    await server.close();
    server = null;
    const bad = lines.filter((l) => l.event === 'bad batch');
    expect(bad).toHaveLength(serverLimits.logLinesPerKindMax);
    const summaries = lines.filter((l) => l.event === 'log-suppressed');
    expect(summaries).toEqual([expect.objectContaining({ kind: 'bad batch', suppressed: flood - serverLimits.logLinesPerKindMax })]);
    // The server's own lines are still there, in order, after the summary.
    expect(lines.at(-1)!.event).toBe('closed');
  });
});
