/**
 * A conversion queued when the server is killed: the lock is reclaimed in the
 * mode it was granted, the conversion goes again after grace (re-queued, not
 * failed) and is granted once the other holder lets go; meanwhile no two
 * incompatible modes are granted on the resource.
 */

import { afterEach, describe, expect, it } from 'vitest';
import type { LockClient, RemoteHandle } from '../../client/index.js';
import { codeOf, track } from '../spec/harness.js';
import { client, ServerProcess, until } from './support.js';

const servers: ServerProcess[] = [];
const clients: LockClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close();
  for (const s of servers.splice(0)) await s.kill();
});

async function open(s: ServerProcess, name: string): Promise<LockClient> {
  const c = await client(s, name);
  clients.push(c);
  return c;
}

interface Row { resource: string; owner: string; state: string; mode: string; requested: string | null }

async function rows(s: ServerProcess): Promise<Row[]> {
  return ((await s.api('/api/locks?domain=lin&resource=r')).body as Row[]).map(({ resource, owner, state, mode, requested }) => ({ resource, owner, state, mode, requested }));
}

/** PR, CR and NL are the only modes compatible with a granted PR; EX is compatible with nothing but NL. */
function compatibleGrants(r: Row[]): boolean {
  const granted = r.filter((x) => x.state !== 'waiting').map((x) => x.mode).filter((m) => m !== 'NL');
  return !(granted.includes('EX') && granted.length > 1);
}

describe('a conversion pending when the server dies', () => {
  it('is re-queued after grace in the reclaimed lock and granted once the other holder releases; never two incompatible holders', async () => {
    const s = await ServerProcess.create();
    servers.push(s);
    await s.start();
    const [a, b] = [await open(s, 'a'), await open(s, 'b')];
    const la = await a.owner('a1').lock('lin', 'r', 'PR');
    const lb = await b.owner('b1').lock('lin', 'r', 'PR');
    const up = track<RemoteHandle>(la.convert('EX'));
    await until(() => la.state === 'converting');
    expect(await rows(s)).toContainEqual({ resource: 'r', owner: 'a1', state: 'converting', mode: 'PR', requested: 'EX' });

    const reclaimed = Promise.all([a, b].map((c) => new Promise<void>((resolve) => c.on('reclaim', () => resolve()))));
    await s.kill();
    await s.start();
    await reclaimed;
    expect(a.reclaims[0]).toMatchObject({ reclaimed: 1, lost: [] });
    expect(b.reclaims[0]).toMatchObject({ reclaimed: 1, lost: [] });
    expect((await s.api('/api/grace')).body).toMatchObject({ active: false, ended: 'all-reclaimed' });

    // The conversion is queued again on the new server, behind b's PR: still not granted.
    await until(async () => (await rows(s)).some((r) => r.owner === 'a1' && r.state === 'converting'));
    expect(up.done).toBe(false);
    expect([la.state, la.mode]).toEqual(['converting', 'PR']);
    const during = await rows(s);
    expect(during.filter((r) => r.owner === 'b1')).toEqual([{ resource: 'r', owner: 'b1', state: 'granted', mode: 'PR', requested: null }]);
    expect(compatibleGrants(during)).toBe(true);
    const c = await open(s, 'c');
    expect(await codeOf(c.owner('c1').lock('lin', 'r', 'EX', { noQueue: true }))).toBe('EAGAIN');

    await lb.release();
    const got = await up.promise;
    expect([got.state, got.mode]).toEqual(['granted', 'EX']);
    const after = await rows(s);
    expect(after).toEqual([{ resource: 'r', owner: 'a1', state: 'granted', mode: 'EX', requested: null }]);
    expect(await codeOf(c.owner('c1').lock('lin', 'r', 'PR', { noQueue: true }))).toBe('EAGAIN');
  });
});
