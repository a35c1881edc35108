/**
 * Server configuration from a JSON file (lockFiles: { dir, staleAfterMs,
 * recursive } names an application lock directory to show), the environment and the command
 * line, in that order of precedence (later wins). Tokens come from the file
 * (`tokens: [{ token, role, name }]`) or the environment:
 * LOCKSCOPE_TOKENS="role:token,role:token" and LOCKSCOPE_ADMIN_TOKEN.
 */

import { readFileSync } from 'node:fs';
import { LockError } from '../src/index.js';
import { ROLES, type TokenSpec } from './auth.js';
import type { Role } from './protocol.js';
import { DEFAULT_HOST, DEFAULT_PORT, NAME_CHARS_MAX, serverLimits } from './limits.js';
import type { ServerOptions } from './server.js';
import { clusterLimits } from './cluster/limits.js';

/** The cluster keys of a config file or the command line (all but etcd optional). */
export interface ClusterArgs {
  etcd?: string;
  node?: string;
  weight?: number;
  advertise?: string;
  cluster?: string;
  leaseTtlSec?: number;
  /** The cluster's deadlock detector (file only): how often it runs, how long a cycle must last before it is broken. */
  clusterDeadlock?: { intervalMs?: number; confirmMs?: number };
}
import { array, bool, int, num, obj, oneOf, record, str } from './validate.js';
import { readFlags, type Flags } from './args.js';

const tokenSchema = obj({ token: str(512), role: oneOf(ROLES), name: str(NAME_CHARS_MAX) }, ['name']);
const domainSchema = record((v) => v, 16, 64);
const lockFilesSchema = obj({ dir: str(4096), staleAfterMs: int(0, Number.MAX_SAFE_INTEGER), recursive: bool }, ['staleAfterMs', 'recursive']);
const fileSchema = obj(
  {
    port: int(0, 65535), host: str(256), node: str(NAME_CHARS_MAX), leaseMs: int(1, serverLimits.leaseMsMax),
    domains: array(domainSchema, 256), limits: record(num, 64, 64), tokens: array(tokenSchema, serverLimits.tokensMax), log: bool,
    stateDir: str(4096), graceMs: int(1, serverLimits.graceMsMax), lockFiles: lockFilesSchema, budgets: record(num, 32, 64),
    etcd: str(4096), weight: num, advertise: str(clusterLimits.urlCharsMax), cluster: str(clusterLimits.nameBytesMax),
    leaseTtlSec: int(clusterLimits.leaseTtlSecMin, clusterLimits.leaseTtlSecMax),
    clusterDeadlock: obj({ intervalMs: int(50, 60_000), confirmMs: int(0, 60_000) }, ['intervalMs', 'confirmMs']),
  },
  [
    'port', 'host', 'node', 'leaseMs', 'domains', 'limits', 'tokens', 'log', 'stateDir', 'graceMs', 'lockFiles', 'budgets', 'etcd', 'weight', 'advertise',
    'cluster', 'leaseTtlSec', 'clusterDeadlock',
  ],
);

export function readConfigFile(path: string): ServerOptions & { clusterArgs?: ClusterArgs } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new LockError('EINVAL', `cannot read config file ${path}: ${(err as Error).message}`);
  }
  const c = fileSchema(raw, 'config');
  const out: ServerOptions & { clusterArgs?: ClusterArgs } = {};
  const ca: ClusterArgs = {};
  if (c.etcd !== undefined) ca.etcd = c.etcd;
  if (c.weight !== undefined) ca.weight = c.weight;
  if (c.advertise !== undefined) ca.advertise = c.advertise;
  if (c.cluster !== undefined) ca.cluster = c.cluster;
  if (c.leaseTtlSec !== undefined) ca.leaseTtlSec = c.leaseTtlSec;
  if (c.clusterDeadlock !== undefined) ca.clusterDeadlock = c.clusterDeadlock;
  if (Object.keys(ca).length > 0) out.clusterArgs = ca;
  if (c.port !== undefined) out.port = c.port;
  if (c.host !== undefined) out.host = c.host;
  if (c.node !== undefined) out.node = c.node;
  if (c.leaseMs !== undefined) out.leaseMs = c.leaseMs;
  // Domain entries are checked in full by the core (parseDomainConfig).
  if (c.domains !== undefined) out.domains = c.domains as unknown as ServerOptions['domains'];
  if (c.limits !== undefined) out.limits = c.limits;
  // Checked in full by createServer (checkBudgets).
  if (c.budgets !== undefined) out.budgets = c.budgets;
  if (c.stateDir !== undefined) out.stateDir = c.stateDir;
  if (c.graceMs !== undefined) out.graceMs = c.graceMs;
  if (c.lockFiles !== undefined) out.lockFiles = c.lockFiles;
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

export interface CliArgs extends ClusterArgs {
  port?: number;
  host?: string;
  config?: string;
  stateDir?: string;
  graceMs?: number;
}

const SERVE_FLAGS = {
  port: 'string', host: 'string', config: 'string', 'state-dir': 'string', 'grace-ms': 'string',
  etcd: 'string', node: 'string', advertise: 'string', cluster: 'string', weight: 'string', 'lease-ttl': 'string',
} as const;
/** What `lockscope demo` adds: where its dumps go. `lockscope serve` also takes `--no-demo` and `--demo` (see parseCommandArgs). */
const DEMO_FLAGS = { ...SERVE_FLAGS, dumps: 'string' } as const;
const SERVE_COMMAND_FLAGS = { ...DEMO_FLAGS, 'no-demo': 'boolean', demo: 'boolean' } as const;

const unknownFlag = (flag: string): string =>
  `unknown option ${flag} (serve and demo take --port, --host, --config, --dumps, --state-dir, --grace-ms, --etcd, --node, --weight, --advertise, --cluster, --lease-ttl)`;

/** The server's own flags (createServer's options and the cluster's). */
export function parseServeArgs(argv: readonly string[]): CliArgs {
  return cliArgs(readFlags(argv, SERVE_FLAGS, unknownFlag));
}

/**
 * `lockscope serve` and `lockscope demo`: the server's flags and `--dumps`.
 * `serve --no-demo` is still accepted and changes nothing (scripts written
 * when serve ran the demo by default pass it); `serve --demo` is refused
 * with where the demo went, rather than starting a bare server the caller
 * did not expect.
 */
export function parseCommandArgs(command: 'serve' | 'demo', argv: readonly string[]): { args: CliArgs; dumps: string | null } {
  const f: Flags<typeof SERVE_COMMAND_FLAGS> = readFlags(argv, command === 'serve' ? SERVE_COMMAND_FLAGS : DEMO_FLAGS, unknownFlag);
  if (f.demo === true) throw new LockError('EINVAL', 'serve is a bare server: the demo workload is `lockscope demo`');
  if (f.dumps === '') throw new LockError('EINVAL', '--dumps needs a directory');
  return { args: cliArgs(f), dumps: f.dumps ?? null };
}

function cliArgs(f: Flags<typeof SERVE_FLAGS>): CliArgs {
  const out: CliArgs = {};
  if (f.port !== undefined) out.port = int(0, 65535)(/^\d{1,5}$/.test(f.port) ? Number(f.port) : f.port, '--port');
  if (f.host !== undefined) out.host = f.host;
  if (f.config !== undefined) out.config = f.config;
  if (f['state-dir'] !== undefined) out.stateDir = f['state-dir'];
  const grace = f['grace-ms'];
  if (grace !== undefined) out.graceMs = int(1, serverLimits.graceMsMax)(/^\d{1,10}$/.test(grace) ? Number(grace) : grace, '--grace-ms');
  if (f.etcd !== undefined) out.etcd = f.etcd;
  if (f.node !== undefined) out.node = f.node;
  if (f.advertise !== undefined) out.advertise = f.advertise;
  if (f.cluster !== undefined) out.cluster = f.cluster;
  if (f.weight !== undefined) out.weight = num(/^\d+(\.\d+)?$/.test(f.weight) ? Number(f.weight) : f.weight, '--weight');
  const ttl = f['lease-ttl'];
  if (ttl !== undefined) out.leaseTtlSec = int(clusterLimits.leaseTtlSecMin, clusterLimits.leaseTtlSecMax)(/^\d{1,3}$/.test(ttl) ? Number(ttl) : ttl, '--lease-ttl');
  return out;
}

/** File, then environment tokens (added), then flags; defaults last. */
export function serveOptions(args: CliArgs, env: NodeJS.ProcessEnv): ServerOptions {
  const { clusterArgs: fileCluster, ...file } = args.config === undefined ? { clusterArgs: undefined } : readConfigFile(args.config);
  const tokens = [...(file.tokens ?? []), ...tokensFromEnv(env)];
  const c = { ...fileCluster, ...definedOnly(args) };
  const cluster = c.etcd === undefined ? null : clusterOptions(c, args.node ?? file.node);
  return {
    ...file,
    ...(cluster === null ? {} : { cluster }),
    ...(args.node ?? file.node) === undefined ? {} : { node: args.node ?? file.node },
    port: args.port ?? file.port ?? DEFAULT_PORT,
    ...(args.stateDir ?? file.stateDir) === undefined ? {} : { stateDir: args.stateDir ?? file.stateDir },
    ...(args.graceMs ?? file.graceMs) === undefined ? {} : { graceMs: args.graceMs ?? file.graceMs },
    host: args.host ?? file.host ?? DEFAULT_HOST,
    domains: file.domains ?? [{ name: 'default', kind: 'dlm' }, { name: 'posix', kind: 'posix' }],
    tokens,
  };
}

function definedOnly(args: CliArgs): ClusterArgs {
  const out: ClusterArgs = {};
  for (const k of ['etcd', 'weight', 'advertise', 'cluster', 'leaseTtlSec'] as const) if (args[k] !== undefined) (out as Record<string, unknown>)[k] = args[k];
  return out;
}

/** `--etcd` makes a cluster node; it needs a node name (`--node` or the file's `node`). */
function clusterOptions(c: ClusterArgs, node: string | undefined): NonNullable<ServerOptions['cluster']> {
  if (node === undefined) throw new LockError('EINVAL', '--etcd needs --node NAME (or "node" in the config file): each member needs its own name');
  return {
    etcd: c.etcd!, node,
    ...(c.weight === undefined ? {} : { weight: c.weight }),
    ...(c.advertise === undefined ? {} : { advertise: c.advertise }),
    ...(c.cluster === undefined ? {} : { cluster: c.cluster }),
    ...(c.leaseTtlSec === undefined ? {} : { ttlSec: c.leaseTtlSec }),
    ...(c.clusterDeadlock === undefined ? {} : { detector: c.clusterDeadlock }),
  };
}
