/** `lockscope serve` configuration: flags, file and environment, and what they refuse. */

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseServeArgs, serveOptions, tokensFromEnv } from '../../server/config.js';
import { parseTortureArgs } from '../../server/torture.js';
import { connect } from '../../client/index.js';
import { CLI, freePort } from '../recovery/support.js';

const codeOfSync = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code ?? 'not a LockError';
  }
  return 'no error';
};

describe('lockscope serve configuration', () => {
  it('defaults to 127.0.0.1:7070; flags win over the file; environment tokens are added to the file tokens', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lockscope-config-'));
    const file = path.join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({
      port: 8000, host: '127.0.0.2', leaseMs: 5000, domains: [{ name: 'a', kind: 'dlm' }],
      tokens: [{ token: 'file-token-0123456789', role: 'viewer' }],
    }));
    expect(serveOptions(parseServeArgs([]), {})).toMatchObject({ port: 7070, host: '127.0.0.1', tokens: [] });
    const o = serveOptions(parseServeArgs(['--config', file, '--port=9000']), { LOCKSCOPE_ADMIN_TOKEN: 'admin-token-0123456789' });
    expect(o).toMatchObject({ port: 9000, host: '127.0.0.2', leaseMs: 5000, domains: [{ name: 'a', kind: 'dlm' }] });
    expect(o.tokens!.map((t) => t.role)).toEqual(['viewer', 'admin']);
  });

  it('the file sets budgets; a serve process refuses the lock past one with ENOLCK naming it', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lockscope-config-'));
    const file = path.join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ domains: [{ name: 'lin', kind: 'dlm' }], budgets: { locksPerSessionMax: 3 } }));
    expect(serveOptions(parseServeArgs(['--config', file]), {}).budgets).toEqual({ locksPerSessionMax: 3 });
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, 'serve', '--no-demo', '--port', String(port), '--config', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    const server = { url: `http://127.0.0.1:${port}`, stop: () => new Promise((resolve) => { child.once('exit', resolve); child.kill(); }) };
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"event":"listening"')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
    });
    try {
      const c = await connect(server.url, { name: 'budgeted' });
      const o = c.owner('o');
      for (let i = 0; i < 3; i++) await o.lock('lin', `r${i}`, 'EX');
      await expect(o.lock('lin', 'r3', 'EX')).rejects.toMatchObject({ code: 'ENOLCK', limit: 'locksPerSessionMax' });
      await c.close();
    } finally {
      await server.stop();
    }
  });

  it('flags as parseArgs reads them: separate or inline values, the last one wins, a value may start with a dash', () => {
    expect(parseServeArgs(['--port', '1', '--port=2', '--host=-odd', '--state-dir', '/s', '--grace-ms=5', '--lease-ttl', '3', '--weight', '2.5'])).toEqual({
      port: 2, host: '-odd', stateDir: '/s', graceMs: 5, leaseTtlSec: 3, weight: 2.5,
    });
    expect(parseTortureArgs(['--json', '--clients=3', '--duration', '2s', '--kill-every', '0', '--mode', 'dlm'])).toMatchObject({
      json: true, clients: 3, durationMs: 2000, killEveryMs: 0, mode: 'dlm',
    });
    expect(codeOfSync(() => parseTortureArgs(['--json', 'x']))).toBe('EINVAL');
    expect(codeOfSync(() => parseTortureArgs(['--clients']))).toBe('EINVAL');
  });

  it('LOCKSCOPE_TOKENS is role:token pairs', () => {
    expect(tokensFromEnv({ LOCKSCOPE_TOKENS: 'client:aaaaaaaaaaaaaaaa, viewer:bbbbbbbbbbbbbbbb' }).map((t) => [t.role, t.token])).toEqual([
      ['client', 'aaaaaaaaaaaaaaaa'], ['viewer', 'bbbbbbbbbbbbbbbb'],
    ]);
    expect(codeOfSync(() => tokensFromEnv({ LOCKSCOPE_TOKENS: 'root:cccccccccccccccc' }))).toBe('EINVAL');
  });

  it('refuses unknown flags, bad ports, unknown or poisoned config keys', () => {
    expect(codeOfSync(() => parseServeArgs(['--verbose']))).toBe('EINVAL');
    expect(codeOfSync(() => parseServeArgs(['--port', '70000']))).toBe('EINVAL');
    expect(codeOfSync(() => parseServeArgs(['--port']))).toBe('EINVAL');
    expect(codeOfSync(() => parseServeArgs(['stray']))).toBe('EINVAL');
    expect(codeOfSync(() => parseServeArgs(['--', '--port', '1']))).toBe('EINVAL');
    expect(codeOfSync(() => parseServeArgs(['-p', '1']))).toBe('EINVAL');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lockscope-config-'));
    for (const [name, text] of [['extra', '{"bogus":1}'], ['poison', '{"__proto__":{"x":1}}'], ['broken', '{']]) {
      const file = path.join(dir, `${name}.json`);
      writeFileSync(file, text);
      expect([name, codeOfSync(() => serveOptions(parseServeArgs(['--config', file]), {}))]).toEqual([name, 'EINVAL']);
    }
  });
});

describe('lockscope on the command line: bad arguments or configuration, and help', () => {
  // Each case starts a node process: about 2 s apiece on a loaded 2-core machine, past the default 20 s for the lot.
  const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10_000 });

  it('says what is wrong and how to call it, without a stack, exit status 2; nothing starts', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lockscope-cli-'));
    const badConfig = path.join(dir, 'bad.json');
    writeFileSync(badConfig, JSON.stringify({ bogus: 1 }));
    const cases: [string[], string, string][] = [
      [['serve', '--bogus'], 'lockscope: EINVAL: unknown option --bogus (serve and demo take --port, --host, --config, --dumps, --state-dir, --grace-ms, --etcd, --node, --weight, --advertise, --cluster, --lease-ttl)', 'usage: lockscope serve'],
      // serve is a bare server: asking it for the demo is a mistake, not a bare server the caller did not expect.
      [['serve', '--demo'], 'lockscope: EINVAL:', 'usage: lockscope serve'],
      [['demo', '--no-demo'], 'lockscope: EINVAL: unknown option --no-demo', 'usage: lockscope demo'],
      [['serve', '--port', 'abc'], 'lockscope: EINVAL: --port must be an integer from 0 to 65535 (got "abc")', 'usage: lockscope serve'],
      [['serve', '--no-demo', '--config', badConfig], 'lockscope: EINVAL: config.bogus must be absent', 'usage: lockscope serve'],
      [['torture', '--bogus'], 'lockscope: EINVAL: unknown option --bogus', 'usage: lockscope torture'],
      [['dump', '--out', dir], "lockscope: EINVAL: Unknown option '--out'", 'usage: lockscope dump'],
    ];
    for (const [args, first, usage] of cases) {
      const r = cli(...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.startsWith(first), `${args.join(' ')}: ${r.stderr}`).toBe(true);
      expect(r.stderr).toContain(usage);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(r.stdout).toBe('');
    }
  }, 60_000);

  it('--help (or -h) on any command prints its usage on stdout, exit status 0; serve starts nothing', () => {
    const cases: [string[], string][] = [
      [['--help'], 'usage: lockscope serve'],
      [['-h'], 'usage: lockscope serve'],
      [['help'], 'usage: lockscope serve'],
      [['serve', '--help'], 'usage: lockscope serve'],
      [['serve', '--port', '0', '-h'], 'usage: lockscope serve'],
      [['demo', '--help'], 'usage: lockscope demo'],
      [['torture', '-h'], 'usage: lockscope torture'],
      [['inspect', '--help'], 'usage: lockscope inspect'],
      [['dump', '-h'], 'usage: lockscope dump'],
      [['cluster', '--help'], 'usage: lockscope cluster'],
    ];
    for (const [args, usage] of cases) {
      const r = cli(...args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout.startsWith(usage), `${args.join(' ')}: ${r.stdout}`).toBe(true);
      expect(r.stderr).toBe('');
    }
    expect(cli('serve', '--help').stdout).toContain('--grace-ms');
    // Without a command it is still a mistake: the usage on stderr, exit status 2.
    expect(cli().status).toBe(2);
  }, 60_000);
});
