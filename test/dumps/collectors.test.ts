/**
 * Collectors on their own: redaction of reports and command lines, the
 * /proc/locks parser and its join with processes and paths (on a /proc-like
 * directory built by the test, and on the real one when flock(1) exists).
 */

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dumpLimits, osLocksText, parseProcLocks, redactArgs, redactReport, redactText, redactValue, Redactor, REDACTED } from '../../collectors/index.js';
import { devString, holderCommand } from '../../collectors/os-locks.js';
import { isSecretName } from '../../collectors/redact.js';
import { tempDir } from './support.js';

describe('redaction', () => {
  it('a report loses its environment and network interfaces; secret flags, pairs and values are replaced', () => {
    const env = { API_TOKEN: 'tok-123456789', HOME: '/home/x', PLAIN: 'visible-value' };
    const report = {
      header: {
        commandLine: ['node', 'server.js', '--token=tok-123456789', '--password', 'pw-secret', '--port', '7070', 'https://u:pw-secret@host/x'],
        networkInterfaces: [{ name: 'eth0', address: '10.0.0.1' }],
        cwd: '/srv/app',
      },
      environmentVariables: env,
      javascriptStack: { message: 'connect with Authorization: Bearer abc.def.ghi', stack: ['at f (/srv/tok-123456789/x.js:1:1)'] },
      sharedObjects: ['/lib/libc.so'],
      custom: { apiKey: 'k-1', nested: [{ sessionId: 'abc', fine: 'PLAIN=visible-value' }] },
    };
    const out = redactReport(report, env) as typeof report & { environmentVariables?: unknown };
    expect(out.environmentVariables).toBeUndefined();
    expect(out.header.networkInterfaces).toBeUndefined();
    expect(out.header.commandLine).toEqual(['node', 'server.js', `--token=${REDACTED}`, '--password', REDACTED, '--port', '7070', `https://u:${REDACTED}@host/x`]);
    expect(out.header.cwd).toBe('/srv/app');
    expect(out.javascriptStack.message).toBe(`connect with Authorization: Bearer ${REDACTED}`);
    expect(out.javascriptStack.stack).toEqual([`at f (/srv/${REDACTED}/x.js:1:1)`]);
    expect(out.custom).toEqual({ apiKey: REDACTED, nested: [{ sessionId: REDACTED, fine: 'PLAIN=visible-value' }] });
    expect(JSON.stringify(out)).not.toContain('tok-123456789');
    expect(JSON.stringify(out)).not.toContain('pw-secret');
  });

  it('redactArgs and redactValue leave ordinary values alone and do not recurse', () => {
    expect(redactArgs(['-v', '--name=web', 'job'], [])).toEqual(['-v', '--name=web', 'job']);
    let deep: unknown = 'leaf token=abc';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    let v = redactValue(deep, []);
    for (let i = 0; i < 100_000; i++) v = (v as unknown[])[0];
    expect(v).toBe(`leaf token=${REDACTED}`);
  });
});

describe('/proc/locks', () => {
  const SAMPLE = [
    '1: POSIX  ADVISORY  WRITE 4242 fe:00:131090 0 EOF',
    '1: -> POSIX  ADVISORY  WRITE 4343 fe:00:131090 0 99',
    '2: FLOCK  ADVISORY  READ  4242 00:1a:77 0 EOF',
    '3: OFDLCK ADVISORY  WRITE -1 08:02:12 100 200',
    'garbage line',
  ].join('\n');

  it('parses every kind of line, keeping the ones it does not understand', () => {
    const parsed = parseProcLocks(SAMPLE);
    expect(parsed[0]).toEqual({ id: 1, blocked: false, type: 'POSIX', advisory: 'ADVISORY', access: 'WRITE', pid: 4242, dev: 'fe:00', inode: '131090', start: '0', end: 'EOF' });
    expect(parsed[1]).toMatchObject({ id: 1, blocked: true, pid: 4343, end: '99' });
    expect(parsed[2]).toMatchObject({ type: 'FLOCK', access: 'READ' });
    expect(parsed[3]).toMatchObject({ type: 'OFDLCK', pid: -1, dev: '08:02', start: '100', end: '200' });
    expect(parsed[4]).toBe('garbage line');
  });

  it('joins each lock with its process\'s command line (redacted) and the path of the locked file', async () => {
    const root = await tempDir();
    const locked = join(root, 'data', 'queue.lock');
    await mkdir(join(root, 'data'));
    await writeFile(locked, '');
    const st = await stat(locked, { bigint: true });
    await mkdir(join(root, 'proc', '4242', 'fd'), { recursive: true });
    await writeFile(join(root, 'proc', '4242', 'cmdline'), 'node\0worker.js\0--token=abc123\0');
    await symlink(locked, join(root, 'proc', '4242', 'fd', '7'));
    await writeFile(join(root, 'proc', 'locks'), `1: FLOCK  ADVISORY  WRITE 4242 ${devString(st.dev)}:${st.ino} 0 EOF\n2: POSIX  ADVISORY  READ 999999 00:01:5 0 EOF\n`);
    const text = await osLocksText(join(root, 'proc'), new AbortController().signal);
    const lines = text.split('\n');
    expect(lines).toContain(`1 FLOCK ADVISORY WRITE pid 4242 (node worker.js --token=${REDACTED}) ${locked} [0, EOF] dev ${devString(st.dev)} inode ${st.ino}`);
    expect(lines.find((l) => l.startsWith('2 '))).toMatch(/^2 POSIX ADVISORY READ pid 999999 \(\(process gone or not readable\)\) \(path not found/);
  });

  it('without a lock table, says so instead of failing', async () => {
    const text = await osLocksText(join(await tempDir(), 'none'), new AbortController().signal);
    expect(text.startsWith('No operating-system lock table here (ENOENT')).toBe(true);
  });

  const canFlock = existsSync('/proc/locks') && spawnSync('flock', ['--version']).status === 0;
  it.runIf(canFlock)('finds a real flock(1) holder with its command line and path', async () => {
    const file = join(await tempDir(), 'real.lock');
    await writeFile(file, '');
    const child = spawn('flock', [file, 'sleep', '30'], { stdio: 'ignore' });
    try {
      let text = '';
      for (let i = 0; i < 100 && !text.includes(file); i++) {
        await new Promise((r) => setTimeout(r, 20));
        text = await osLocksText('/proc', new AbortController().signal);
      }
      expect(text.split('\n').find((l) => l.includes(file))).toMatch(new RegExp(`FLOCK ADVISORY WRITE pid \\d+ \\((flock|sleep) .*\\) ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\[0, EOF\\]`));
    } finally {
      child.kill();
    }
  });
});

describe('os/locks.txt keeps only what identifies a holder (issue 13, item 20)', () => {
  const canFlock = existsSync('/proc/locks') && spawnSync('flock', ['--version']).status === 0;
  it.runIf(canFlock)('a holder with 38 KB of arguments and secrets among them: its first arguments, cut short and redacted', async () => {
    const file = join(await tempDir(), 'long.lock');
    await writeFile(file, '');
    const junk = Array.from({ length: 300 }, (_, i) => `--flag-${i}=${'x'.repeat(120)}`);
    const child = spawn('flock', [file, 'sh', '-c', 'sleep 30', 'sh', '--db-pass', 'S-flock-db-pass', ...junk, '--password', 'S-flock-password'], { stdio: 'ignore' });
    try {
      let line: string | undefined;
      for (let i = 0; i < 200 && line === undefined; i++) {
        await new Promise((r) => setTimeout(r, 20));
        line = (await osLocksText('/proc', new AbortController().signal)).split('\n').find((l) => l.includes(file));
      }
      expect(line).toBeDefined();
      expect(line!).toMatch(/pid \d+ \((flock|sh) /);
      expect(line!.length).toBeLessThan(1_000);
      expect(line!).toContain('more arguments)');
      expect(line!).not.toContain('S-flock-db-pass');
      expect(line!).not.toContain('S-flock-password');
    } finally {
      child.kill();
    }
  });

  it('holderCommand: redacts over the whole command line before cutting it, and says how much it left out', () => {
    const redact = new Redactor([]);
    const argv = ['node', 'worker.js', '--db-pass', 'pw-1', `--note=${'y'.repeat(500)}`, 'a', 'b', 'c', 'd'];
    const out = holderCommand(argv, false, redact);
    expect(out.startsWith(`node worker.js --db-pass ${REDACTED} --note=${'y'.repeat(dumpLimits.osLockArgCharsMax - '--note='.length)}… a`)).toBe(true);
    expect(out.endsWith(`… (${argv.length - dumpLimits.osLockArgsMax} more arguments)`)).toBe(true);
    expect(holderCommand(['cron'], true, redact)).toBe('cron … (more)');
  });
});

describe('secret names (issue 13, item 10)', () => {
  it('by whole words and by parts, not inside ordinary words', () => {
    for (const n of ['password', 'apiKey', 'db-pass', 'DB_PASSWORD', 'x-api-key', 'Authorization', 'sessionId', 'pw', 'GITHUB_TOKEN', 'client_secret', 'auth']) expect(isSecretName(n), n).toBe(true);
    for (const n of ['compass', 'author', 'monkey', 'bypassed', 'name', 'resource', 'owner']) expect(isSecretName(n), n).toBe(false);
  });

  it('value patterns: URL credentials (an empty user too), bearer, JWT, pairs with "=" or ": ", separated flags; resource-style names stay', () => {
    expect(redactText('redis://:pw-123@cache:6379 and postgres://app:pw-456@db/x', [])).toBe(`redis://:${REDACTED}@cache:6379 and postgres://app:${REDACTED}@db/x`);
    expect(redactText('run --db-pass hunter22 --port 80', [])).toBe(`run --db-pass ${REDACTED} --port 80`);
    expect(redactText('{"password":"x1","user":"u"}', [])).toBe(`{"password":"${REDACTED}","user":"u"}`);
    expect(redactText('password: hunter22', [])).toBe(`password: ${REDACTED}`);
    expect(redactText('t eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl x', [])).toBe(`t ${REDACTED} x`);
    for (const plain of ['session:42', 'token:7', 'lin:inode:12', 'at f (file:///srv/app.js:1:2)']) expect(redactText(plain, [])).toBe(plain);
  });
});
