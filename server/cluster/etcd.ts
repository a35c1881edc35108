/**
 * The cluster's use of etcd: where its keys live, a client whose every call
 * has a deadline, and the one error a caller sees when etcd does not answer.
 *
 * Keys, under `/lockscope/<cluster>/`:
 *   members/<node>   one per live node, attached to the node's lease (JSON MemberRecord)
 *   view             the membership view every node acts on (JSON ViewRecord); its
 *                    mod revision is the view's generation
 *   grace            the cluster's grace record (grace-record.ts)
 *   clients/<node>/<client>  a client that may hold locks mastered on <node>
 *                    (client-records.ts: whom a failover waits for, N4)
 *   moved/<to>/<from>  the clients <from> handed over to <to> with its
 *                    resources (client-records.ts)
 */

import { noop } from 'cockatiel';
import { Etcd3, type IOptions } from 'etcd3';
import { LockError } from '../../src/index.js';
import { clusterLimits, ETCD_CALL_TIMEOUT_MS } from './limits.js';

/** Raised when etcd cannot be reached or does not answer within the deadline. */
export class EtcdUnavailableError extends Error {
  readonly code = 'EETCD';
  constructor(message: string, options?: { cause?: unknown }) {
    super(`EETCD: ${message}`, options);
    this.name = 'EtcdUnavailableError';
  }
}

export interface ClusterKeys {
  readonly prefix: string;
  readonly members: string;
  member(node: string): string;
  readonly view: string;
  readonly grace: string;
}

export function clusterKeys(cluster: string): ClusterKeys {
  const prefix = `/lockscope/${cluster}/`;
  return {
    prefix,
    members: `${prefix}members/`,
    member: (node) => `${prefix}members/${node}`,
    view: `${prefix}view`,
    grace: `${prefix}grace`,
  };
}

/** `http://h:p[,http://h2:p2]` → endpoints; EINVAL names what is wrong. */
export function parseEndpoints(value: string): string[] {
  const parts = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new LockError('EINVAL', 'etcd: at least one endpoint URL is needed');
  if (parts.length > clusterLimits.endpointsMax) {
    throw new LockError('EINVAL', `etcd: at most ${clusterLimits.endpointsMax} endpoints`);
  }
  for (const p of parts) {
    let url: URL;
    try {
      url = new URL(p);
    } catch {
      throw new LockError('EINVAL', `etcd: ${JSON.stringify(p)} is not a URL (expected http://host:port)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new LockError('EINVAL', `etcd: ${JSON.stringify(p)} must be http:// or https://`);
    }
    if (url.pathname !== '/' || url.search !== '' || url.username !== '') {
      throw new LockError('EINVAL', `etcd: ${JSON.stringify(p)} must be just scheme://host:port`);
    }
  }
  return parts;
}

/** A cluster or node name: what etcd keys and the wire can carry unescaped. */
export function checkName(what: string, name: unknown): string {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new LockError('EINVAL', `${what} must be letters, digits, '.', '_' or '-', starting with a letter or digit`);
  }
  if (Buffer.byteLength(name) > clusterLimits.nameBytesMax) {
    throw new LockError('EINVAL', `${what} is longer than ${clusterLimits.nameBytesMax} bytes`, { limit: 'nameBytesMax' });
  }
  return name;
}

/** An etcd client whose unary calls all have a deadline (streams — watches, keepalive streams — have none). */
export function openEtcd(endpoints: string[], callTimeoutMs = ETCD_CALL_TIMEOUT_MS): Etcd3 {
  const options: IOptions = {
    hosts: endpoints,
    dialTimeout: callTimeoutMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    // E5: no circuit breaker per endpoint. The client's default opens one after three failed calls in a row and then
    // fails every call to that endpoint for 5 s, keepalives included: a burst of slow writes (1,000 clients
    // reclaiming at once) fenced a healthy node that way. Our own deadlines and guarded retries (E1, E2) bound
    // every call instead.
    faultHandling: { host: () => noop },
  };
  return new Etcd3(options);
}

/** Runs one etcd call; a failure to reach etcd becomes EtcdUnavailableError, naming what was being done. */
export async function etcdCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new EtcdUnavailableError(`${what}: ${(err as Error).message}`, { cause: err });
  }
}

/** Waits for `p` at most `ms` (then resolves anyway): a shutdown step must not hang on an etcd that is gone. */
export function settleWithin(p: Promise<unknown>, ms: number = ETCD_CALL_TIMEOUT_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.then(() => {}, () => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
