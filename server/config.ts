/**
 * Server configuration from a JSON file, the environment and the command
 * line, in that order of precedence (later wins). Tokens come from the file
 * (`tokens: [{ token, role, name }]`) or the environment:
 * LOCKSCOPE_TOKENS="role:token,role:token" and LOCKSCOPE_ADMIN_TOKEN.
 */

import { readFileSync } from 'node:fs';
import { LockError } from '../src/index.js';
import { ROLES, type Role, type TokenSpec } from './auth.js';
import { DEFAULT_HOST, DEFAULT_PORT, serverLimits } from './limits.js';
import type { ServerOptions } from './server.js';
import { array, bool, int, num, obj, oneOf, record, str } from './validate.js';

const tokenSchema = obj({ token: str(512), role: oneOf(ROLES), name: str(128) }, ['name']);
const domainSchema = record((v) => v, 16, 64);
const fileSchema = obj(
  {
    port: int(0, 65535), host: str(256), node: str(128), leaseMs: int(1, serverLimits.leaseMsMax),
    domains: array(domainSchema, 256), limits: record(num, 64, 64), tokens: array(tokenSchema, serverLimits.tokensMax), log: bool,
    stateDir: str(4096), graceMs: int(1, serverLimits.graceMsMax),
  },
  ['port', 'host', 'node', 'leaseMs', 'domains', 'limits', 'tokens', 'log', 'stateDir', 'graceMs'],
);

export function readConfigFile(path: string): ServerOptions {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new LockError('EINVAL', `cannot read config file ${path}: ${(err as Error).message}`);
  }
  const c = fileSchema(raw, 'config');
  const out: ServerOptions = {};
  if (c.port !== undefined) out.port = c.port;
  if (c.host !== undefined) out.host = c.host;
  if (c.node !== undefined) out.node = c.node;
  if (c.leaseMs !== undefined) out.leaseMs = c.leaseMs;
  // Domain entries are checked in full by the core (parseDomainConfig).
  if (c.domains !== undefined) out.domains = c.domains as unknown as ServerOptions['domains'];
  if (c.limits !== undefined) out.limits = c.limits;
  if (c.stateDir !== undefined) out.stateDir = c.stateDir;
  if (c.graceMs !== undefined) out.graceMs = c.graceMs;
  if (c.tokens !== undefined) out.tokens = c.tokens.map((t) => ({ token: t.token, role: t.role, ...(t.name === undefined ? {} : { name: t.name }) }));
  return out;
}

export function tokensFromEnv(env: NodeJS.ProcessEnv): TokenSpec[] {
  const out: TokenSpec[] = [];
  const list = env.LOCKSCOPE_TOKENS;
  if (list !== undefined && list.trim() !== '') {
    for (const [i, item] of list.split(',').entries()) {
      const at = item.indexOf(':');
      const role = item.slice(0, at).trim() as Role;
      if (at < 0 || !ROLES.includes(role)) throw new LockError('EINVAL', `LOCKSCOPE_TOKENS entry ${i + 1} must be role:token with role one of ${ROLES.join(', ')}`);
      out.push({ token: item.slice(at + 1).trim(), role, name: `env-${role}-${i + 1}` });
    }
  }
  if (env.LOCKSCOPE_ADMIN_TOKEN !== undefined && env.LOCKSCOPE_ADMIN_TOKEN !== '') {
    out.push({ token: env.LOCKSCOPE_ADMIN_TOKEN, role: 'admin', name: 'env-admin' });
  }
  return out;
}

export interface CliArgs {
  port?: number;
  host?: string;
  config?: string;
  stateDir?: string;
  graceMs?: number;
}

export function parseServeArgs(argv: readonly string[]): CliArgs {
  const out: CliArgs = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new LockError('EINVAL', `${flag} needs a value`);
      return v;
    };
    if (flag === '--port') {
      const v = value();
      out.port = int(0, 65535)(/^\d{1,5}$/.test(v) ? Number(v) : v, '--port');
    } else if (flag === '--host') out.host = value();
    else if (flag === '--config') out.config = value();
    else if (flag === '--state-dir') out.stateDir = value();
    else if (flag === '--grace-ms') {
      const v = value();
      out.graceMs = int(1, serverLimits.graceMsMax)(/^\d{1,10}$/.test(v) ? Number(v) : v, '--grace-ms');
    } else throw new LockError('EINVAL', `unknown option ${flag} (serve and demo take --port, --host, --config, --dumps, --state-dir, --grace-ms)`);
  }
  return out;
}

/** File, then environment tokens (added), then flags; defaults last. */
export function serveOptions(args: CliArgs, env: NodeJS.ProcessEnv): ServerOptions {
  const file = args.config === undefined ? {} : readConfigFile(args.config);
  const tokens = [...(file.tokens ?? []), ...tokensFromEnv(env)];
  return {
    ...file,
    port: args.port ?? file.port ?? DEFAULT_PORT,
    ...(args.stateDir ?? file.stateDir) === undefined ? {} : { stateDir: args.stateDir ?? file.stateDir },
    ...(args.graceMs ?? file.graceMs) === undefined ? {} : { graceMs: args.graceMs ?? file.graceMs },
    host: args.host ?? file.host ?? DEFAULT_HOST,
    domains: file.domains ?? [{ name: 'default', kind: 'dlm' }, { name: 'posix', kind: 'posix' }],
    tokens,
  };
}
