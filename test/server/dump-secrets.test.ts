/**
 * Issue 13, item 10: secrets a program puts where a dump looks (owner
 * metadata, owner and resource names, request sites, a client's command line
 * and environment, the server's own tokens and environment) are in no file
 * of the archive, and archives and their index are the owner's only.
 *
 * Real parts throughout: a server on a free port, a client in its own
 * process (its argv and environment are the ones a dump reports), the
 * `lockscope dump --server` command in another, and the archive unpacked
 * with the `tar` package.
 */

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import type { LockServer } from '../../server/index.js';
import { readTarGz } from '../dumps/support.js';
import { startServer, TOKENS, until } from './support.js';

const run = promisify(execFile);
const CLI = new URL('../../dist/server/cli.js', import.meta.url).pathname;
const CLIENT_LIB = new URL('../../dist/client/index.js', import.meta.url).href;

/**
 * Each planted secret, by where it is planted and what kind it is. Every
 * value is unique, so finding it anywhere in the archive is a leak.
 */
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqb2IifQ.S10jwtSignatureValue';
const GH = `ghp_S13${'a1B2c3D4e5'.repeat(4)}`;
const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIS14pemBodyLine\n-----END RSA PRIVATE KEY-----';
const RES_JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJyZXMifQ.S19resJwtSignature';
const SECRETS = {
  // owner metadata, by key name
  metaPassword: 'S01-meta-password',
  metaApiKey: 'S02-meta-apikey',
  metaDbPass: 'S03-meta-db-pass',
  metaSessionId: 'S04-meta-session-id',
  metaCookie: 'S05-meta-cookie',
  metaAuthorization: 'S06-meta-authorization',
  // owner metadata, by value
  postgresUrl: 'S07PGPW',
  redisUrl: 'S08REDISPW',
  bearer: 'S09-bearer-in-meta',
  jwt: 'S10jwtSignatureValue',
  apiKeyPair: 'S11-api-key-pair',
  aws: 'AKIAS12ABCDEFGHIJKLM',
  github: GH,
  pem: 'MIIS14pemBodyLine',
  argvInMeta: 'S31-meta-argv-password',
  // resource names
  resApiKey: 'S15-res-api-key',
  resToken: 'S16-res-token',
  resUrl: 'S17RESPW',
  resBearer: 'S18-res-bearer',
  resJwt: 'S19resJwtSignature',
  // owner names
  ownerPair: 'S20-owner-password',
  ownerFlag: 'S21-owner-db-pass',
  // the client's command line
  argvPassword: 'S22-argv-password',
  argvDbPass: 'S23-argv-db-pass',
  argvToken: 'S24-argv-token',
  argvUrl: 'S25ARGVPW',
  // the client's environment
  envPassword: 'S26-env-db-password',
  envToken: 'S27-env-github-token',
  // the server's environment and its tokens, put into a resource name by a client
  serverEnv: 'S28-server-env-api-token',
  serverToken: TOKENS.viewer,
  // a request site: the client's file lives in a directory named like a pair
  site: 'S30-site-token',
};

const META = {
  password: SECRETS.metaPassword,
  apiKey: SECRETS.metaApiKey,
  'db-pass': SECRETS.metaDbPass,
  sessionId: SECRETS.metaSessionId,
  cookie: SECRETS.metaCookie,
  Authorization: SECRETS.metaAuthorization,
  database: `postgres://app:${SECRETS.postgresUrl}@db.internal:5432/app`,
  cache: `redis://:${SECRETS.redisUrl}@cache:6379/0`,
  headers: `Authorization: Bearer ${SECRETS.bearer}`,
  note: `session ${JWT}`,
  retry: `GET /export?api_key=${SECRETS.apiKeyPair}&page=2`,
  aws: `key ${SECRETS.aws} in use`,
  gh: `pushed with ${SECRETS.github}`,
  pem: PEM,
  args: ['--user', 'app', '--password', SECRETS.argvInMeta],
};

const RESOURCES = [
  `export?api_key=${SECRETS.resApiKey}`,
  `job/token=${SECRETS.resToken}`,
  `db:postgres://svc:${SECRETS.resUrl}@host/db`,
  `call Authorization: Bearer ${SECRETS.resBearer}`,
  `sess:${RES_JWT}`,
  `plain-${SECRETS.serverEnv}`,
  `shared-${SECRETS.serverToken}`,
];

const CLIENT = `
import { connect } from ${JSON.stringify(CLIENT_LIB)};
const c = await connect(process.env.LS_URL, { token: process.env.LS_TOKEN, name: 'secret-client' });
const holder = c.owner(${JSON.stringify(`worker password=${SECRETS.ownerPair}`)}, { meta: ${JSON.stringify(META)} });
const waiter = c.owner(${JSON.stringify(`job --db-pass ${SECRETS.ownerFlag}`)});
const resources = ${JSON.stringify(RESOURCES)};
for (const r of resources) await holder.lock('lin', r, 'EX');
for (const r of resources) void waiter.lock('lin', r, 'PR').catch(() => {});
await c.ping();
process.stdout.write('ready\\n');
setInterval(() => {}, 60_000);
`;

describe('secrets in hang-dumps', () => {
  let server: LockServer | undefined;
  let child: ChildProcess | undefined;
  afterEach(async () => {
    child?.kill();
    await server?.close();
    delete process.env.LOCKSCOPE_TEST_API_TOKEN;
  });

  it('none of the planted secrets is in any file (or file name) of a dump taken from a real server with a real client; archives and index are 0600', async () => {
    process.env.LOCKSCOPE_TEST_API_TOKEN = SECRETS.serverEnv;
    const dumps = mkdtempSync(join(tmpdir(), 'ls-secret-dumps-'));
    server = await startServer({ dumps: { dir: dumps } });
    const siteDir = join(mkdtempSync(join(tmpdir(), 'ls-secret-client-')), `token=${SECRETS.site}`);
    mkdirSync(siteDir);
    const script = join(siteDir, 'client.mjs');
    writeFileSync(script, CLIENT);
    const argv = ['--password', SECRETS.argvPassword, '--db-pass', SECRETS.argvDbPass, `--api-token=${SECRETS.argvToken}`, '--url', `postgres://u:${SECRETS.argvUrl}@h/db`];
    child = spawn(process.execPath, [script, ...argv], {
      env: { ...process.env, LS_URL: server.url, LS_TOKEN: TOKENS.client, DB_PASSWORD: SECRETS.envPassword, GITHUB_TOKEN: SECRETS.envToken },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child!.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      child!.once('exit', (code) => reject(new Error(`the client exited with ${code}`)));
    });
    await until(() => server!.manager.snapshot().edges.length === RESOURCES.length);

    const local = mkdtempSync(join(tmpdir(), 'ls-secret-local-'));
    const env = { ...process.env, LOCKSCOPE_ADMIN_TOKEN: TOKENS.admin };
    const dumped = await run(process.execPath, [CLI, 'dump', '--server', server.url, '--dir', local, '--json'], { env });
    const { id, path } = JSON.parse(dumped.stdout) as { id: string; path: string };
    const files = await readTarGz(path);

    // The dump has what it should: the client's report, the waits, the stacks (so the check below checks something).
    const names = [...files.keys()];
    expect(names.some((n) => n.startsWith('clients/') && n.endsWith('/report.json'))).toBe(true);
    expect(names).toEqual(expect.arrayContaining(['summary.txt', 'stacks.txt', 'waitfor.json', 'waitfor.dot', 'locks/lin.json', 'manifest.json', 'os/locks.txt']));
    const all = [...files].map(([name, data]) => `${name}\n${data.toString('utf8')}`).join('\n');
    expect(all).toContain('secret-client');
    expect(all).toContain(`${siteDir.slice(0, -SECRETS.site.length)}[redacted]`);
    expect(all).toContain('[redacted]');

    const leaked = Object.entries(SECRETS).filter(([, secret]) => all.includes(secret)).map(([kind]) => kind);
    expect(leaked).toEqual([]);

    const mode = (p: string): number => statSync(p).mode & 0o777;
    expect(mode(join(dumps, `${id}.tar.gz`))).toBe(0o600);
    expect(mode(join(dumps, 'index.json'))).toBe(0o600);
    expect(mode(path)).toBe(0o600);
    expect(readdirSync(dumps).filter((f) => f !== 'index.json')).toEqual([`${id}.tar.gz`]);
  });
});
