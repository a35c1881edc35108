/**
 * A node's cluster options (`createServer({ cluster })`, `lockscope serve
 * --etcd …`), checked at the boundary: EINVAL names what is wrong and its
 * allowed range, before anything connects to etcd. The defaults and
 * bounds are limits.ts's.
 */

import { LockError } from '../../src/index.js';
import type { DetectorOptions } from './detector.js';
import { checkName, parseEndpoints } from './etcd.js';
import { clusterLimits, DEFAULT_CLUSTER, DEFAULT_LEASE_TTL_SEC, DEFAULT_TOKEN_BLOCK, DETECT_INTERVAL_MS_MIN, DETECT_OPTION_MS_MAX } from './limits.js';

export interface ClusterOptions {
  /** etcd endpoints: `http://host:port[,…]` or a list. */
  etcd: string | string[];
  /** This node's name, unique in the cluster. */
  node: string;
  /** Capacity relative to the other members (default 1). */
  weight?: number;
  /** The URL clients reach this node at (default: the URL it listens on). */
  advertise?: string;
  /** Several clusters can share one etcd (default `default`). */
  cluster?: string;
  /** Lease TTL in seconds (default 5). */
  ttlSec?: number;
  /** Tokens reserved per block (default 1,000,000). */
  tokenBlock?: number;
  /** The cluster's deadlock detector (detector.ts): pass interval and confirmation delay. */
  detector?: DetectorOptions;
}

/** The options as the binding takes them: every default filled in, the endpoints parsed; `advertise` null: the URL the server listens on. */
export type ClusterNodeSettings = Required<Omit<ClusterOptions, 'advertise' | 'etcd'>> & { etcd: string[]; advertise: string | null };

/** The options checked at the boundary: EINVAL names what is wrong. */
export function checkClusterOptions(o: ClusterOptions): ClusterNodeSettings {
  if (o === null || typeof o !== 'object') throw new LockError('EINVAL', 'options.cluster must be an object');
  const etcd = Array.isArray(o.etcd) ? parseEndpoints(o.etcd.join(',')) : parseEndpoints(String(o.etcd ?? ''));
  const node = checkName('options.cluster.node', o.node);
  const cluster = checkName('options.cluster.cluster', o.cluster ?? DEFAULT_CLUSTER);
  const weight = o.weight ?? 1;
  if (!Number.isFinite(weight) || weight <= 0 || weight > clusterLimits.weightMax) {
    throw new LockError('EINVAL', `options.cluster.weight must be a number above 0 and at most ${clusterLimits.weightMax}`);
  }
  const ttlSec = o.ttlSec ?? DEFAULT_LEASE_TTL_SEC;
  if (!Number.isInteger(ttlSec) || ttlSec < clusterLimits.leaseTtlSecMin || ttlSec > clusterLimits.leaseTtlSecMax) {
    throw new LockError('EINVAL', `options.cluster.ttlSec must be an integer from ${clusterLimits.leaseTtlSecMin} to ${clusterLimits.leaseTtlSecMax}`);
  }
  const tokenBlock = o.tokenBlock ?? DEFAULT_TOKEN_BLOCK;
  if (!Number.isSafeInteger(tokenBlock) || tokenBlock < 2) throw new LockError('EINVAL', 'options.cluster.tokenBlock must be an integer of at least 2');
  const detector = checkDetectorOptions(o.detector);
  let advertise: string | null = null;
  if (o.advertise !== undefined) {
    if (typeof o.advertise !== 'string' || o.advertise.length > clusterLimits.urlCharsMax || !/^https?:\/\/[^/\s]+\/?$/.test(o.advertise)) {
      throw new LockError('EINVAL', 'options.cluster.advertise must be a URL like http://host:port');
    }
    advertise = o.advertise.replace(/\/$/, '');
  }
  return { etcd, node, cluster, weight, ttlSec, tokenBlock, advertise, detector };
}

function checkDetectorOptions(d: DetectorOptions | undefined): DetectorOptions {
  if (d === undefined) return {};
  if (d === null || typeof d !== 'object') throw new LockError('EINVAL', 'options.cluster.detector must be an object');
  const out: DetectorOptions = {};
  for (const [k, v] of Object.entries(d)) {
    if (k !== 'intervalMs' && k !== 'confirmMs') throw new LockError('EINVAL', `options.cluster.detector.${k} is not an option (intervalMs, confirmMs)`);
    const min = k === 'intervalMs' ? DETECT_INTERVAL_MS_MIN : 0;
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > DETECT_OPTION_MS_MAX) {
      throw new LockError('EINVAL', `options.cluster.detector.${k} must be an integer from ${min} to ${DETECT_OPTION_MS_MAX}`);
    }
    out[k] = v as number;
  }
  return out;
}
