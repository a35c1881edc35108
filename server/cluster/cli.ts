/**
 * `lockscope cluster status`: the cluster for a person (or `--json` for
 * machines), read from etcd directly (`--etcd`) or from any node
 * (`--server`, its `GET /api/cluster`). Exit status 0 when read, 1 when etcd
 * or the node cannot be reached, 2 for bad arguments.
 */

import { parseArgs } from 'node:util';
import { LockError } from '../../src/index.js';
import { checkName, openEtcd, parseEndpoints } from './etcd.js';
import { DEFAULT_CLUSTER } from './limits.js';
import { formatClusterStatus, readClusterStatus, type ClusterStatus } from './status.js';
import type { DetectorStatus } from './shapes.js';

export const CLUSTER_USAGE = 'usage: lockscope cluster status (--etcd URL[,URL] [--cluster NAME] | --server URL) [--domain D --resource R] [--json]\n'
  + '       (with --server, the token comes from LOCKSCOPE_TOKEN or LOCKSCOPE_ADMIN_TOKEN)';

interface Io {
  out(text: string): void;
  err(text: string): void;
}

export async function runCluster(argv: readonly string[], io: Io, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: {
        etcd: { type: 'string' }, cluster: { type: 'string' }, server: { type: 'string' }, domain: { type: 'string' },
        resource: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    io.err(`lockscope: EINVAL: ${(err as Error).message}\n${CLUSTER_USAGE}\n`);
    return 2;
  }
  if (values.help === true) {
    io.out(`${CLUSTER_USAGE}\n`);
    return 0;
  }
  const fail = (message: string): number => {
    io.err(`lockscope: EINVAL: ${message}\n${CLUSTER_USAGE}\n`);
    return 2;
  };
  if (positionals.length !== 1 || positionals[0] !== 'status') return fail('the one subcommand is `status`');
  if ((values.etcd === undefined) === (values.server === undefined)) return fail('give --etcd or --server (one of them)');
  if ((values.domain === undefined) !== (values.resource === undefined)) return fail('--domain and --resource go together');
  const query = values.domain !== undefined ? { domain: String(values.domain), resource: String(values.resource) } : undefined;
  let status: ClusterStatus | { cluster: null };
  try {
    status = values.etcd !== undefined
      ? await fromEtcd(String(values.etcd), String(values.cluster ?? DEFAULT_CLUSTER), query)
      : await fromServer(String(values.server), env.LOCKSCOPE_TOKEN ?? env.LOCKSCOPE_ADMIN_TOKEN, query);
  } catch (err) {
    if (err instanceof LockError && err.code === 'EINVAL') return fail(err.message.replace(/^EINVAL: /, ''));
    const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'EIO';
    if (values.json === true) io.err(`${JSON.stringify({ error: { code, message: (err as Error).message } })}\n`);
    else io.err(`lockscope: ${(err as Error).message}\n`);
    return 1;
  }
  if (values.json === true) io.out(`${JSON.stringify(status)}\n`);
  else if (status.cluster === null) io.out('not a cluster: this server is a single node\n');
  else io.out(formatClusterStatus(status as ClusterStatus & { detector?: DetectorStatus | null }));
  return 0;
}

async function fromEtcd(endpoints: string, cluster: string, query?: { domain: string; resource: string }): Promise<ClusterStatus> {
  const etcd = openEtcd(parseEndpoints(endpoints));
  try {
    return await readClusterStatus(etcd, checkName('--cluster', cluster), query);
  } finally {
    etcd.close();
  }
}

async function fromServer(url: string, token: string | undefined, query?: { domain: string; resource: string }): Promise<ClusterStatus | { cluster: null }> {
  let base: URL;
  try {
    base = new URL('/api/cluster', url);
  } catch {
    throw new LockError('EINVAL', `--server ${JSON.stringify(url)} is not a URL`);
  }
  if (query) {
    base.searchParams.set('domain', query.domain);
    base.searchParams.set('resource', query.resource);
  }
  const res = await fetch(base, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
  const body = (await res.json()) as (ClusterStatus | { cluster: null }) & { error?: { code: string; message: string } };
  if (!res.ok) throw Object.assign(new Error(body.error?.message ?? `HTTP ${res.status}`), { code: body.error?.code ?? 'EIO' });
  return body;
}
