/**
 * One node's membership in a cluster: its etcd lease, kept alive by its own
 * loop so that it can fence itself in time, and the membership view every
 * node acts on.
 *
 * States (rule M1): `joining → member → fenced → joining → …`, and `closed`
 * from any of them. Only a `member` whose fence deadline has not passed may
 * grant, convert or accept reclaims (`mayGrant()`).
 *
 * Rules, and why each is safe:
 *
 * M2. The fence deadline is the send time of the last keepalive etcd
 *     acknowledged, plus the TTL it granted, minus a margin, on the monotonic
 *     clock. etcd starts counting a lease's TTL when it receives a keepalive,
 *     which is after it was sent, so etcd cannot expire the lease (and let a
 *     survivor remaster this node's resources) before the deadline. The
 *     etcd3 client's own `lost` event comes about one TTL later than that
 *     (it counts from the answer and waits two TTLs): it is not used.
 * M3. `mayGrant()` reads the clock itself rather than trusting a timer, so a
 *     process stopped (SIGSTOP) or starved past its deadline grants nothing
 *     when it runs again, even before its timer callbacks run. The monotonic
 *     clock keeps counting while the process is stopped.
 * M4. A fenced node never becomes a member again under the same lease: it
 *     revokes it (best effort), drops its lock state (the server's job, on
 *     `fenced`) and joins afresh with a new lease, so survivors that already
 *     took over its resources are never contradicted by stale state.
 * M5. The view is one etcd key (`view`), written only by compare-and-swap
 *     on its mod revision, holding the sorted list of live members (those
 *     with a key under `members/`). Its mod revision is the view's
 *     generation. Every node reads the same view under the same generation,
 *     so every node and client computes the same master for a resource.
 *     Any node that sees the live members and the view disagree rewrites the
 *     view (reconcile); concurrent rewrites are serialized by the CAS and
 *     converge on the live set.
 * M6. A member key is created only if absent (CAS on create revision), so
 *     two live processes never share a node name.
 * M7. A member says which view it has adopted by rewriting its own key
 *     (`adopted`, under its lease). A node that waits for every member of a
 *     view to have adopted it (`allAdopted`) knows that none of them still
 *     acts on an older view: it is the barrier before a resource that moved
 *     is granted or reclaimed on its new master.
 * M8. A member record carries its incarnation (the id of the lease it
 *     joined with), and the view compares it: a node back as a new member
 *     always changes the view, even when it came back under the same name
 *     before any other node rewrote the view without it, so every other
 *     node sees its earlier life leave and its new one arrive.
 * M9. An election (the cluster's deadlock detector) is a key created only if
 *     absent and attached to the winner's lease: it goes when the winner's
 *     lease does, so a dead or fenced winner is replaced within a TTL, and a
 *     node that is not a member right now (M3) never claims or keeps it.
 *
 * The fence deadline's clock (M2, M3) is fence-deadline.ts, a round of
 * reconciling the view (M5) membership-view.ts, the election (M9)
 * election.ts; this class holds the lease, the states and the loops.
 */

import { EventEmitter } from 'node:events';
import type { Etcd3, Lease, Watcher } from 'etcd3';
import { LockError } from '../../src/index.js';
import { campaign } from './election.js';
import { FenceDeadline, fenceMarginMs } from './fence-deadline.js';
import { clusterKeys, etcdCall, EtcdUnavailableError, settleWithin, type ClusterKeys } from './etcd.js';
import { ETCD_CALL_TIMEOUT_MS } from './limits.js';
import { parseMember, parseViewMembers, reconcileView, type LiveMember, type View } from './membership-view.js';
import type { MemberRecord } from './shapes.js';

export type { LiveMember, MemberRecord, View };

export type MembershipState = 'joining' | 'member' | 'fenced' | 'closed';

export interface MembershipOptions {
  etcd: Etcd3;
  cluster: string;
  node: string;
  weight: number;
  advertise: string;
  ttlSec: number;
  /** Monotonic milliseconds (tests of the fence may pass their own). */
  now?: () => number;
  /** One line per state change or etcd trouble (rate limited by the caller's logger). */
  log?: (event: string, fields: Record<string, unknown>) => void;
}

interface MembershipEvents {
  view: [View];
  /** A member's key changed (joined, left, or adopted a view). */
  members: [ReadonlyMap<string, LiveMember>];
  fenced: [{ reason: string }];
  member: [View];
}

const monotonic = (): number => performance.now();

export class Membership extends EventEmitter<MembershipEvents> {
  private stateValue: MembershipState = 'joining';
  private lease: Lease | null = null;
  private readonly deadline: FenceDeadline;
  private loopTimer: NodeJS.Timeout | null = null;
  private watcher: Watcher | null = null;
  private current: View = { generation: '0', members: [] };
  private reconciling: Promise<void> | null = null;
  private reconcileAgain = false;
  private readonly live = new Map<string, LiveMember>();
  private adopted = '0';
  private readonly keys: ClusterKeys;
  private readonly now: () => number;
  private self: MemberRecord;

  constructor(private readonly o: MembershipOptions) {
    super();
    this.keys = clusterKeys(o.cluster);
    this.now = o.now ?? monotonic;
    this.self = { node: o.node, weight: o.weight, advertise: o.advertise };
    this.deadline = new FenceDeadline(this.now, fenceMarginMs(o.ttlSec), () => this.stateValue === 'member' || this.stateValue === 'joining',
      () => this.fence('keepalive-deadline'));
  }

  get state(): MembershipState {
    return this.stateValue;
  }

  get view(): View {
    return this.current;
  }

  /** Live member keys as last seen (joined, not yet expired), with the view each adopted. */
  get liveMembers(): ReadonlyMap<string, LiveMember> {
    return this.live;
  }

  /** Rule M7: whether every member of `view` has adopted it (or a newer one). */
  allAdopted(view: View): boolean {
    const g = BigInt(view.generation);
    return view.members.every((m) => {
      const l = this.live.get(m.node);
      return l !== undefined && BigInt(l.adopted) >= g;
    });
  }

  /** Rule M7: say that this node now acts on `generation`. */
  async adopt(generation: string): Promise<void> {
    if (BigInt(generation) <= BigInt(this.adopted)) return;
    const lease = this.lease;
    if (!lease || (this.stateValue !== 'member' && this.stateValue !== 'joining')) return;
    this.adopted = generation;
    const record: LiveMember = { ...this.self, adopted: generation };
    const key = this.keys.member(this.o.node);
    // Guarded by our lease: a key that expired is not written again by a fenced node (rule M4).
    const id = await etcdCall('read the lease', () => lease.grant());
    await etcdCall('record the adopted view', () => this.o.etcd.if(key, 'Lease', '==', id)
      .then(lease.put(key).value(JSON.stringify(record)))
      .commit());
  }

  /**
   * Rule M9: hold `key` for this incarnation if no one holds it. Resolves
   * with the holder's node name (this node's when it won or already held
   * it), or null when this node is not a member right now.
   */
  async campaign(key: string): Promise<string | null> {
    const lease = this.lease;
    if (!lease || !this.mayGrant()) return null;
    return campaign(this.o.etcd, lease, key, this.o.node, () => this.mayGrant());
  }

  /** Milliseconds until this node must stop granting (negative: already past). */
  get fenceInMs(): number {
    return this.deadline.inMs;
  }

  /** Rule M3: a member, and its deadline not passed, by the clock read now. */
  mayGrant(): boolean {
    return this.stateValue === 'member' && this.deadline.ahead();
  }

  /**
   * Join: a new lease, this node's member key, the view rewritten to include
   * it. Resolves with the first view that contains this node; fails with
   * EETCD when etcd does not answer, EEXIST-like EINVAL when the name is held
   * by another live process for longer than two TTLs.
   */
  async join(): Promise<View> {
    this.stateValue = 'joining';
    const sentAt = this.now();
    const lease = this.o.etcd.lease(this.o.ttlSec, { autoKeepAlive: false });
    lease.on('lost', () => {}); // rule M2: our own loop decides; the client's late `lost` is ignored
    this.lease = lease;
    const id = await etcdCall('grant a lease', () => lease.grant());
    this.self = { node: this.o.node, weight: this.o.weight, advertise: this.o.advertise, incarnation: String(id) };
    this.deadline.extend(sentAt + this.o.ttlSec * 1000);
    await this.claimName(lease);
    await this.startWatch();
    this.keepaliveSoon();
    await this.reconcile();
    const view = await this.untilInView();
    if (this.stateValue === 'joining') {
      this.stateValue = 'member';
      this.o.log?.('cluster-member', { node: this.o.node, generation: view.generation, members: view.members.length });
      this.emit('member', view);
    }
    return view;
  }

  /** Leave: revoke the lease (the member key goes with it) and stop. */
  async close(): Promise<void> {
    const was = this.stateValue;
    this.stateValue = 'closed';
    this.clearTimers();
    // Bounded: a node stopping while etcd is gone must still stop (its lease then simply expires).
    if (this.watcher) await settleWithin(this.watcher.cancel());
    this.watcher = null;
    if (was !== 'fenced' && this.lease) await settleWithin(this.lease.revoke({ deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }));
    this.lease = null;
  }

  /** Rule M6: create our member key only if no live process holds the name. */
  private async claimName(lease: Lease): Promise<void> {
    const key = this.keys.member(this.o.node);
    const giveUpAt = this.now() + 2 * this.o.ttlSec * 1000 + ETCD_CALL_TIMEOUT_MS;
    for (;;) {
      this.adopted = '0';
      const res = await etcdCall('register this node', () => this.o.etcd.if(key, 'Create', '==', 0)
        .then(lease.put(key).value(JSON.stringify({ ...this.self, adopted: '0' })))
        .commit());
      if (res.succeeded) return;
      if (this.now() > giveUpAt) {
        throw new LockError('EINVAL', `node name ${this.o.node} is held by another live member of cluster ${this.o.cluster}`);
      }
      // A previous life of this node (killed, or fenced) may hold it until its lease expires.
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  private async startWatch(): Promise<void> {
    if (this.watcher) return;
    const w = await etcdCall('watch the membership', () => this.o.etcd.watch().prefix(this.keys.prefix).create());
    this.watcher = w;
    w.on('put', (kv) => this.onChange(kv.key.toString(), kv.value, kv.mod_revision));
    w.on('delete', (kv) => this.onChange(kv.key.toString(), null, kv.mod_revision));
    w.on('connected', () => this.reconcileSoon());
    w.on('error', (err) => this.o.log?.('cluster-watch-error', { error: (err as Error).message }));
  }

  private onChange(key: string, value: Buffer | null, modRevision: string): void {
    if (key === this.keys.view && value) this.acceptView(value, modRevision);
    else if (key.startsWith(this.keys.members)) {
      const node = key.slice(this.keys.members.length);
      const rec = value ? parseMember(value) : null;
      if (rec) this.live.set(node, rec);
      else this.live.delete(node);
      this.emit('members', this.live);
      this.reconcileSoon();
    }
  }

  private acceptView(value: Buffer, modRevision: string): void {
    if (BigInt(modRevision) <= BigInt(this.current.generation)) return;
    const members = parseViewMembers(value);
    if (members === null) return;
    this.current = { generation: modRevision, members };
    this.emit('view', this.current);
  }

  private reconcileSoon(): void {
    if (this.stateValue === 'closed') return;
    this.reconcile().catch((err) => this.o.log?.('cluster-reconcile-failed', { error: (err as Error).message }));
  }

  /** Rule M5: make the view the sorted live members, by CAS on its mod revision. */
  private async reconcile(): Promise<void> {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return this.reconciling;
    }
    this.reconciling = (async () => {
      try {
        do {
          this.reconcileAgain = false;
          await this.reconcileOnce();
        } while (this.reconcileAgain);
      } finally {
        this.reconciling = null;
      }
    })();
    return this.reconciling;
  }

  private reconcileOnce(): Promise<void> {
    return reconcileView(this.o.etcd, this.keys, {
      setLive: (records) => {
        this.live.clear();
        for (const r of records) this.live.set(r.node, r);
        this.emit('members', this.live);
      },
      accept: (value, modRevision) => this.acceptView(value, modRevision),
      current: () => this.current,
    });
  }

  private async untilInView(): Promise<View> {
    const has = (): boolean => this.current.members.some((m) => m.node === this.o.node);
    if (has()) return this.current;
    return new Promise((resolve, reject) => {
      const onView = (v: View): void => {
        if (!has()) return;
        this.off('view', onView);
        resolve(v);
      };
      this.on('view', onView);
      setTimeout(() => {
        this.off('view', onView);
        if (has()) resolve(this.current);
        else reject(new EtcdUnavailableError('the membership view did not take this node in time'));
      }, this.o.ttlSec * 1000).unref();
    });
  }

  /** Rule M4: stop, give the lease up, and join again as a new member. */
  fence(reason: string): void {
    if (this.stateValue === 'fenced' || this.stateValue === 'closed') return;
    this.stateValue = 'fenced';
    this.clearTimers();
    this.o.log?.('cluster-fenced', { node: this.o.node, reason });
    this.emit('fenced', { reason });
    const old = this.lease;
    this.lease = null;
    void old?.revoke({ deadline: Date.now() + ETCD_CALL_TIMEOUT_MS }).catch(() => {});
    this.rejoinSoon(0);
  }

  private rejoinSoon(attempt: number): void {
    const delay = Math.min(2000, 100 * 2 ** attempt);
    this.loopTimer = setTimeout(() => {
      this.loopTimer = null;
      if (this.stateValue !== 'fenced') return;
      this.deadline.reset();
      this.join().catch((err) => {
        this.o.log?.('cluster-rejoin-failed', { node: this.o.node, error: (err as Error).message });
        if (this.stateValue === 'joining') this.stateValue = 'fenced';
        this.rejoinSoon(attempt + 1);
      });
    }, delay);
  }

  private keepaliveSoon(): void {
    const interval = (this.o.ttlSec * 1000) / 3;
    this.loopTimer = setTimeout(() => {
      this.loopTimer = null;
      void this.keepaliveOnce().finally(() => {
        if (this.stateValue === 'member' || this.stateValue === 'joining') this.keepaliveSoon();
      });
    }, interval);
  }

  private async keepaliveOnce(): Promise<void> {
    const lease = this.lease;
    if (!lease) return;
    const sentAt = this.now();
    const timeoutMs = Math.min(ETCD_CALL_TIMEOUT_MS, (this.o.ttlSec * 1000) / 3);
    let timer: NodeJS.Timeout | undefined;
    try {
      const res = await Promise.race([
        lease.keepaliveOnce({ deadline: Date.now() + timeoutMs }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('keepalive unanswered')), timeoutMs);
        }),
      ]);
      if (this.lease !== lease) return;
      const ttl = Number(res.TTL);
      if (ttl > 0) this.deadline.extend(sentAt + ttl * 1000);
      else this.fence('lease-expired');
    } catch (err) {
      if (this.lease !== lease) return;
      if ((err as Error).name === 'EtcdLeaseInvalidError') this.fence('lease-expired');
      else this.o.log?.('cluster-keepalive-failed', { node: this.o.node, error: (err as Error).message, fenceInMs: Math.round(this.fenceInMs) });
    } finally {
      clearTimeout(timer);
    }
  }

  private clearTimers(): void {
    this.deadline.stop();
    if (this.loopTimer) clearTimeout(this.loopTimer);
    this.loopTimer = null;
  }
}
