/**
 * Fencing tokens never repeat (tokens.ts T3, state.ts S4): not after
 * tokens.json is lost or rolled back (the start is refused), and not at the
 * counter's end near 2^53 (refused ENOLCK tokenMax instead of issuing the
 * same double again). Real servers on a real state directory, a real client.
 */

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LockError } from '../../src/index.js';
import type { LockServer } from '../../server/index.js';
import { client, startServer } from '../server/support.js';

const servers: LockServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

async function start(stateDir: string): Promise<LockServer> {
  const s = await startServer({ stateDir, graceMs: 1 });
  servers.push(s);
  return s;
}

async function refusal(p: Promise<unknown>): Promise<LockError> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(LockError);
  return err as LockError;
}

describe('fencing tokens across a lost token record', () => {
  it('a start whose tokens.json is missing or lower than clients.json says refuses (EINVAL); restored, it resumes above every token issued', async () => {
    const stateDir = join(mkdtempSync(join(tmpdir(), 'lockscope-tokens-')), 'state');
    const first = await start(stateDir);
    const a = await client(first, 'a');
    const la = await a.owner('o').lock('lin', 'r1', 'EX');
    // Recorded after the first grant reserved a block: clients.json now says how far tokens were reserved.
    const b = await client(first, 'b');
    const lb = await b.owner('o').lock('lin', 'r2', 'EX');
    const issued = lb.token;
    expect(issued > la.token).toBe(true);
    await a.close();
    await b.close();
    await servers.pop()!.close();
    const tokensPath = join(stateDir, 'tokens.json');
    const saved = readFileSync(tokensPath, 'utf8');

    rmSync(tokensPath);
    expect((await refusal(start(stateDir))).code).toBe('EINVAL');
    writeFileSync(tokensPath, JSON.stringify({ version: 1, reservedTo: 1 }));
    expect((await refusal(start(stateDir))).code).toBe('EINVAL');
    // Nothing of the refused starts is left holding the directory.
    expect(existsSync(join(stateDir, 'server.lock'))).toBe(false);

    writeFileSync(tokensPath, saved);
    const again = await start(stateDir);
    const c = await client(again, 'c');
    const lc = await c.owner('o').lock('lin', 'r1', 'EX');
    expect(lc.token > issued).toBe(true);
    await c.close();
  });
});

describe("fencing tokens at the counter's end", () => {
  it('the last safe integer is issued once; past it every request is refused ENOLCK tokenMax, none repeats a token', async () => {
    const stateDir = join(mkdtempSync(join(tmpdir(), 'lockscope-tokens-')), 'state');
    const reservedTo = Number.MAX_SAFE_INTEGER - 2;
    mkdirSync(stateDir, { recursive: true });
    writeFileSync(join(stateDir, 'tokens.json'), JSON.stringify({ version: 1, reservedTo }));
    const s = await start(stateDir);
    const c = await client(s, 'near-end');
    const o = c.owner('o');
    const tokens: bigint[] = [];
    for (const r of ['r1', 'r2']) tokens.push((await o.lock('lin', r, 'EX')).token);
    expect(tokens).toEqual([BigInt(Number.MAX_SAFE_INTEGER) - 1n, BigInt(Number.MAX_SAFE_INTEGER)]);
    for (const r of ['r3', 'r4']) {
      const err = await refusal(o.lock('lin', r, 'EX'));
      expect(err.code).toBe('ENOLCK');
      expect(err.limit).toBe('tokenMax');
    }
    const posix = await refusal(o.setlk('adv', 'file', { type: 'write', start: 0, len: 10 }));
    expect(posix.code).toBe('ENOLCK');
    // What was granted is untouched: both locks still held, with the tokens they were given.
    const held = s.manager.snapshot().owners.find((ow) => ow.name === 'o');
    expect(held?.holding).toBe(2);
    await c.close();
  });
});
