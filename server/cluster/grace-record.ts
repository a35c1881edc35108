/**
 * The cluster's grace record, after nfs-ganesha's rados_cluster design: one
 * etcd key holding two epochs and two flags per node, changed only by
 * compare-and-swap on the key's mod revision, so every node sees one
 * sequence of records and no update is lost to a concurrent one.
 *
 *   current    C, the cluster's epoch; starts at 1, bumped when a grace starts
 *   recovery   R, the epoch being recovered from; 0 when no grace is in force
 *   nodes[n]   need:      n has clients that must reclaim before the grace ends
 *              enforcing: n refuses new locks on resources in recovery
 *
 * Transitions (pure functions below; `update` applies one by CAS with retry):
 *
 * G1. add(n)      a node new to the record enters enforcing, without need:
 *                 it must not grant anything in recovery until it has checked.
 * G2. start(n)    n sets need and enforcing; if no grace is in force it
 *                 starts one: R = C, C = C + 1.
 * G3. join(n)     as start, but only when a grace is already in force (a
 *                 node that restarts into a running grace).
 * G4. enforcing check: reclaims may be accepted only when every node in the
 *                 record is enforcing. Until then a reclaim could race a new
 *                 grant on a node that has not yet stopped granting.
 * G5. lift(n)     n clears need; the node that clears the last need ends the
 *                 grace: R = 0.
 * G6. settle(n)   once R = 0, n clears enforcing and grants again.
 * G7. remove(n)   a node that left the membership is dropped from the record;
 *                 if it held the last need, the grace ends (R = 0). This is
 *                 what rados_cluster lacked: a dead node's need stayed set and
 *                 the grace never lifted. With takeover the dead node's
 *                 clients reclaim on the survivors, which carry the need for
 *                 them.
 */

import type { Etcd3, Watcher } from 'etcd3';
import { LockError } from '../../src/index.js';
import { etcdCall, settleWithin } from './etcd.js';
import { clusterLimits } from './limits.js';

import type { GraceFlags, GraceRecord } from './shapes.js';

export type { GraceFlags, GraceRecord };

export const EMPTY_RECORD: Readonly<GraceRecord> = Object.freeze({ current: 1, recovery: 0, nodes: {} });

/** Whether a grace is in force anywhere in the cluster. */
export function inGrace(r: GraceRecord): boolean {
  return r.recovery !== 0;
}

function withNode(r: GraceRecord, node: string, flags: GraceFlags): GraceRecord {
  return { ...r, nodes: { ...r.nodes, [node]: flags } };
}

/** G1. Null when nothing changes (the caller then writes nothing). */
export function add(r: GraceRecord, node: string): GraceRecord | null {
  if (r.nodes[node]) return null;
  return withNode(r, node, { need: false, enforcing: true });
}

/** G2. */
export function start(r: GraceRecord, node: string): GraceRecord | null {
  const f = r.nodes[node];
  if (f?.need && f.enforcing && inGrace(r)) return null;
  const next = withNode(r, node, { need: true, enforcing: true });
  if (!inGrace(r)) {
    next.recovery = r.current;
    next.current = r.current + 1;
  }
  return next;
}

/** G3. */
export function join(r: GraceRecord, node: string): GraceRecord | null {
  if (!inGrace(r)) return null;
  return start(r, node);
}

/** G4. */
export function allEnforcing(r: GraceRecord, node: string): boolean {
  if (!r.nodes[node]) return false;
  return Object.values(r.nodes).every((f) => f.enforcing);
}

function endIfNoNeed(r: GraceRecord): GraceRecord {
  if (inGrace(r) && !Object.values(r.nodes).some((f) => f.need)) return { ...r, recovery: 0 };
  return r;
}

/** G5. */
export function lift(r: GraceRecord, node: string): GraceRecord | null {
  const f = r.nodes[node];
  if (!f || !f.need) return null;
  return endIfNoNeed(withNode(r, node, { need: false, enforcing: f.enforcing }));
}

/** G6. */
export function settle(r: GraceRecord, node: string): GraceRecord | null {
  const f = r.nodes[node];
  if (!f || !f.enforcing || inGrace(r)) return null;
  return withNode(r, node, { need: f.need, enforcing: false });
}

/** G7. */
export function remove(r: GraceRecord, node: string): GraceRecord | null {
  if (!r.nodes[node]) return null;
  const nodes = { ...r.nodes };
  delete nodes[node];
  return endIfNoNeed({ ...r, nodes });
}

function parse(value: Buffer): GraceRecord {
  const v = JSON.parse(value.toString()) as GraceRecord;
  if (!Number.isSafeInteger(v.current) || !Number.isSafeInteger(v.recovery) || typeof v.nodes !== 'object' || v.nodes === null) {
    throw new LockError('EINVAL', 'the grace record in etcd is not a lockscope grace record');
  }
  return v;
}

/** The record in etcd: read, watched, and changed by compare-and-swap. */
export class GraceStore {
  private watcher: Watcher | null = null;
  private last: { record: GraceRecord; revision: bigint } = { record: EMPTY_RECORD, revision: 0n };

  constructor(private readonly etcd: Etcd3, private readonly key: string) {}

  /** The newest record this store has seen. */
  get record(): GraceRecord {
    return this.last.record;
  }

  private see(record: GraceRecord, revision: bigint): void {
    if (revision > this.last.revision) this.last = { record, revision };
  }

  async read(): Promise<{ record: GraceRecord; modRevision: string | null }> {
    const res = await etcdCall('read the grace record', () => this.etcd.get(this.key).exec());
    const kv = res.kvs[0];
    if (!kv) return { record: EMPTY_RECORD, modRevision: null };
    const record = parse(kv.value);
    this.see(record, BigInt(kv.mod_revision));
    return { record, modRevision: kv.mod_revision };
  }

  /**
   * Applies `step` to the current record by CAS, retrying on a concurrent
   * change. Returns the record as written (or as found, when `step` changed
   * nothing).
   */
  async update(step: (r: GraceRecord) => GraceRecord | null): Promise<GraceRecord> {
    for (let attempt = 0; attempt < clusterLimits.casAttemptsMax; attempt++) {
      const { record, modRevision } = await this.read();
      const next = step(record);
      if (next === null) return record;
      const guard = modRevision === null
        ? this.etcd.if(this.key, 'Create', '==', 0)
        : this.etcd.if(this.key, 'Mod', '==', modRevision);
      const res = await etcdCall('write the grace record', () => guard.then(this.etcd.put(this.key).value(JSON.stringify(next))).commit());
      if (res.succeeded) {
        this.see(next, BigInt(res.header.revision));
        return next;
      }
    }
    throw new LockError('ENOLCK', 'the grace record kept changing under this update', { limit: 'casAttemptsMax' });
  }

  /** Calls `onRecord` with every record written from now on (and the current one first). */
  async watch(onRecord: (r: GraceRecord) => void): Promise<void> {
    const { record } = await this.read();
    onRecord(record);
    const w = await etcdCall('watch the grace record', () => this.etcd.watch().key(this.key).create());
    this.watcher = w;
    w.on('put', (kv) => {
      try {
        const r = parse(kv.value);
        this.see(r, BigInt(kv.mod_revision));
        onRecord(this.last.record);
      } catch {
        // a foreign value under our key: ignored, the next CAS overwrites it
      }
    });
  }

  async close(): Promise<void> {
    if (this.watcher) await settleWithin(this.watcher.cancel());
    this.watcher = null;
  }
}
