/**
 * Fencing tokens across a cluster: one high-water mark in etcd (`tokens`),
 * raised by compare-and-swap, from which a node reserves a block of tokens
 * and then issues them with no round trip per grant.
 *
 * T1. A reserved block lies wholly above every block reserved before it, by
 *     any node: the CAS raises the high-water by the block's size from the
 *     value it read, and a concurrent reservation makes the CAS fail and
 *     retry from the new value.
 * T2. A node reserves a fresh block after every view change, once every
 *     member has adopted the new view (the barrier in membership), and before
 *     it grants on a resource it newly masters. Every token the resource's
 *     previous master issued came from a block reserved before that barrier
 *     (it stops granting the resource when it adopts the view), so by T1 the
 *     new master's tokens are greater: tokens strictly increase per resource
 *     across remastering, restarts and joins.
 * T3. A write whose outcome is unknown (a deadline passed) is never assumed
 *     to have failed or succeeded: the next reservation reads the mark again,
 *     so a block may be skipped, never issued twice.
 */

import type { Etcd3 } from 'etcd3';
import { LockError } from '../../src/index.js';
import { etcdCall } from './etcd.js';
import { clusterLimits } from './limits.js';

export interface TokenBlock {
  /** First token of the block. */
  first: number;
  /** Last token of the block (inclusive). */
  last: number;
}

export class TokenBlocks {
  constructor(private readonly etcd: Etcd3, private readonly key: string, private readonly size: number) {
    if (!Number.isSafeInteger(size) || size < 1) throw new LockError('EINVAL', 'token block size must be a positive integer');
  }

  /** The high-water mark: the last token any node may have issued. */
  async highWater(): Promise<number> {
    const res = await etcdCall('read the token mark', () => this.etcd.get(this.key).exec());
    const kv = res.kvs[0];
    return kv ? Number(kv.value.toString()) : 0;
  }

  /** Rule T1: a block above every block reserved before. */
  async reserve(): Promise<TokenBlock> {
    for (let attempt = 0; attempt < clusterLimits.casAttemptsMax; attempt++) {
      const res = await etcdCall('read the token mark', () => this.etcd.get(this.key).exec());
      const kv = res.kvs[0];
      const mark = kv ? Number(kv.value.toString()) : 0;
      if (!Number.isSafeInteger(mark) || mark < 0) throw new LockError('EINVAL', `the token mark in etcd is not a token: ${kv?.value.toString()}`);
      const last = mark + this.size;
      if (!Number.isSafeInteger(last)) {
        // Never wrap or repeat: a token past 2^53 - 1 cannot be represented exactly.
        throw new LockError('ENOLCK', 'fencing tokens are exhausted (2^53 - 1 reached)', { limit: 'tokenMax' });
      }
      const guard = kv ? this.etcd.if(this.key, 'Mod', '==', kv.mod_revision) : this.etcd.if(this.key, 'Create', '==', 0);
      const put = await etcdCall('raise the token mark', () => guard.then(this.etcd.put(this.key).value(String(last))).commit());
      if (put.succeeded) return { first: mark + 1, last };
    }
    throw new LockError('ENOLCK', 'the token mark kept changing under this reservation', { limit: 'casAttemptsMax' });
  }
}
