/**
 * `lockscope torture`'s options: its usage, and its flags read through
 * node:util's parseArgs (args.ts) and checked against the bounds in
 * shared.ts (EINVAL naming the flag). Used by the command (torture.ts)
 * before anything is started.
 */

import { LockError } from '../../src/index.js';
import { readFlags } from '../args.js';
import { TORTURE, type TortureMode } from './shared.js';

export interface TortureOptions {
  clients: number;
  durationMs: number;
  restartEveryMs: number;
  stateDir: string | null;
  mode: TortureMode;
  graceMs: number | null;
  json: boolean;
  /** Nodes of a cluster (through an etcd this command starts); 0: one server, restarted from its state directory. */
  cluster: number;
  /** In a cluster: a random node killed with SIGKILL (then started again) this often, and one paused (SIGSTOP past its TTL) this often; 0: never. */
  killEveryMs: number;
  pauseEveryMs: number;
  /** Workers keep their grants cached (client/cache.ts): callbacks move the dlm slots among them. */
  cache: boolean;
}

export const TORTURE_USAGE = `usage: lockscope torture [--clients N] [--duration 20s] [--restart-every 3s] [--state-dir DIR] [--mode mixed|posix|dlm] [--grace-ms N] [--cache] [--json]
       lockscope torture --cluster N [--kill-every 10s] [--pause-every 0] [--clients N] [--duration 20s] [--mode mixed|posix|dlm] [--cache] [--json]`;

function duration(v: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v);
  if (m === null) throw new LockError('EINVAL', `${flag} must be a duration such as 500ms, 20s or 3m`);
  const ms = Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
  if (!(ms >= 1 && ms <= TORTURE.durationMsMax)) throw new LockError('EINVAL', `${flag} must be from 1 ms to 24 h`);
  return Math.round(ms);
}

const TORTURE_FLAGS = {
  clients: 'string', duration: 'string', 'restart-every': 'string', 'state-dir': 'string', 'grace-ms': 'string', mode: 'string',
  json: 'boolean', cluster: 'string', 'kill-every': 'string', 'pause-every': 'string', cache: 'boolean',
} as const;

export function parseTortureArgs(argv: readonly string[]): TortureOptions {
  const o: TortureOptions = {
    clients: 4, durationMs: 20_000, restartEveryMs: 3_000, stateDir: null, mode: 'mixed', graceMs: null, json: false, cluster: 0, killEveryMs: 10_000, pauseEveryMs: 0, cache: false,
  };
  const f = readFlags(argv, TORTURE_FLAGS);
  if (f.clients !== undefined) {
    o.clients = Number(f.clients);
    if (!Number.isInteger(o.clients) || o.clients < 1 || o.clients > TORTURE.clientsMax) throw new LockError('EINVAL', `--clients must be an integer from 1 to ${TORTURE.clientsMax}`);
  }
  if (f.duration !== undefined) o.durationMs = duration(f.duration, '--duration');
  if (f['restart-every'] !== undefined) o.restartEveryMs = duration(f['restart-every'], '--restart-every');
  if (f['state-dir'] !== undefined) o.stateDir = f['state-dir'];
  if (f['grace-ms'] !== undefined) o.graceMs = duration(`${f['grace-ms']}ms`, '--grace-ms');
  if (f.mode !== undefined) {
    const m = f.mode;
    if (m !== 'posix' && m !== 'dlm' && m !== 'mixed') throw new LockError('EINVAL', '--mode must be posix, dlm or mixed');
    o.mode = m;
  }
  if (f.json === true) o.json = true;
  if (f.cache === true) o.cache = true;
  if (f.cluster !== undefined) {
    o.cluster = Number(f.cluster);
    if (!Number.isInteger(o.cluster) || o.cluster < 2 || o.cluster > TORTURE.clusterNodesMax) throw new LockError('EINVAL', `--cluster must be an integer from 2 to ${TORTURE.clusterNodesMax}`);
  }
  for (const flag of ['kill-every', 'pause-every'] as const) {
    const v = f[flag];
    if (v === undefined) continue;
    const ms = v === '0' ? 0 : duration(v, `--${flag}`);
    if (flag === 'kill-every') o.killEveryMs = ms;
    else o.pauseEveryMs = ms;
  }
  return o;
}
