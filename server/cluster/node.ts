/**
 * One node of a cluster, as the lock server sees it: is this request mine to
 * grant now? `ClusterNode` puts membership (membership.ts), the grace record
 * (grace-record.ts) and token blocks (token-blocks.ts) together and answers
 * the server's two questions, `refuseNew` and `refuseReclaim`, from the view
 * it has adopted. It does no locking itself: the server drops the locks of
 * resources it lost (`view` event) and feeds token blocks to the core
 * (`tokens` event).
 *
 * Rules (numbered in README.md, "Failover"):
 *
 * N1. A request is served only by a member whose fence deadline has not
 *     passed (M3), under the view its client routed it by (same generation),
 *     and only if this node masters the resource under that view; otherwise
 *     ESTALE with the view, and the client routes again.
 * N2. A resource is in recovery while a cluster grace is in force and its
 *     master changed in a view this node adopted since the grace began (or
 *     this node joined during it). A resource in recovery takes reclaims and
 *     refuses new locks (EGRACE); every other resource keeps granting.
 * N3. A reclaim, or any grant on a resource this node gained, waits until
 *     every member of the view has adopted it (M7) and this node holds a
 *     token block reserved after that (T2).
 * N4. A node that gained resources in a view sets `need` in the grace record;
 *     it lifts it when every client expected to reclaim there said it is
 *     done, or when the grace's bound passes. The expected clients are those
 *     recorded for a departed node (`clients/<node>/…`) and those a live
 *     node listed when it handed resources over (`moved/<to>/<from>`); a node
 *     that hands resources over while it is itself still waiting for clients
 *     lists those too (a superset only waits longer). A client newly expected
 *     in a later view (a second failure) is expected again even if it said it
 *     was done with an earlier one.
 * N5. Only an expected client reclaims, and only with the secret its record
 *     was made with (the record keeps the secret's verifier, never the
 *     secret): no other client can take a dead node's locks or end the
 *     recovery owed to the client that held them. Its `done` counts only
 *     under a view this node has adopted, once it knows whom it waits for.
 * N6. A fenced node forgets its view and its recovery (forgetMembership).
 * N7. The client records of members that left, and the handover lists
 *     written to them, are read before this node
 *     says it adopted the view, passed on to members arriving in the same
 *     view, and forgotten after the grace by one member (forgetDeparted).
 *     A member is one life of a node (M8): a node back under the same name
 *     in the next view is a departure and an arrival at once.
 * N8. A node's recovery (its refusal of new locks on what it gained) ends
 *     when the cluster's grace has ended and its own need is lifted, judged
 *     on every record event and also on the record its own lift left: a
 *     lift with nothing to write (the record no longer named the node, its
 *     flags taken out by another node's G7 after startup churn) makes no
 *     event, and the node refused every new lock on its gained share with
 *     EGRACE, which clients retry, for ever (found by a benchmark of fresh
 *     three-node clusters). Safe as N2 is: the record says no node takes
 *     reclaims, and this node waits for nobody.
 *
 * This class adopts views and answers admission (N1–N3, N6); whom its
 * recovery waits for and when its need lifts (N4, N5, N8) is
 * recovery-wait.ts, the client records and handover lists in etcd and
 * their forgetting (N4, N7) client-records.ts, what a view changes
 * view-change.ts.
 */

import { EventEmitter } from 'node:events';
import type { Etcd3, Watcher } from 'etcd3';
import { Rendezvous, resourceKey } from '../../src/rendezvous.js';
import { ClientRecords } from './client-records.js';
import { clusterKeys, openEtcd, settleWithin, type ClusterKeys } from './etcd.js';
import { GraceStore, inGrace, remove, settle, type GraceRecord } from './grace-record.js';
import { Membership, type View } from './membership.js';
import { RecoveryWait } from './recovery-wait.js';
import { TokenBlocks, type TokenBlock } from './token-blocks.js';
import { buildStatus, type ClusterStatus } from './status.js';
import type { NodeRecovery } from './shapes.js';
import { diffViews, viewChange, type ViewChange } from './view-change.js';

export interface ClusterNodeOptions {
  endpoints: string[];
  cluster: string;
  node: string;
  weight: number;
  advertise: string;
  ttlSec: number;
  /** Longest a node keeps its `need` waiting for clients that do not come back. */
  graceMs: number;
  /** Tokens per block reserved from etcd. */
  tokenBlock: number;
  callTimeoutMs?: number;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export interface Refusal {
  code: 'ESTALE' | 'EGRACE' | 'ENOGRACE';
  reason: 'fenced' | 'generation' | 'not-master' | 'in-recovery' | 'adopting' | 'not-in-recovery';
  generation: string;
}

interface NodeEvents {
  view: [ViewChange];
  fenced: [{ reason: string }];
  tokens: [TokenBlock];
  grace: [GraceRecord];
}

export class ClusterNode extends EventEmitter<NodeEvents> {
  readonly etcd: Etcd3;
  readonly membership: Membership;
  readonly grace: GraceStore;
  private readonly tokens: TokenBlocks;
  private readonly keys: ClusterKeys;
  private handoverWatcher: Watcher | null = null;
  private ring = new Rendezvous([]);
  private adoptedView: View = { generation: '0', members: [] };
  /** Views (as rings) adopted since the cluster grace began; `null` stands for "before this node joined". */
  private recoveryRings: (Rendezvous | null)[] = [];
  /** Generation whose barrier passed and whose fresh token block is held (N3). */
  private readyGeneration = '0';
  private reservingFor = '0';
  /** N4, N7: the client records and handover lists in etcd. */
  private readonly records: ClientRecords;
  /** N4, N5, N8: whom this node's recovery waits for, and its need. */
  private readonly wait: RecoveryWait;
  private record: GraceRecord = { current: 1, recovery: 0, nodes: {} };
  /** A view is being adopted: reclaims are "not yet" until it is (mayReclaim). */
  private inAdoption = false;
  private closed = false;

  constructor(private readonly o: ClusterNodeOptions) {
    super();
    this.keys = clusterKeys(o.cluster);
    this.etcd = openEtcd(o.endpoints, o.callTimeoutMs);
    this.membership = new Membership({
      etcd: this.etcd, cluster: o.cluster, node: o.node, weight: o.weight, advertise: o.advertise, ttlSec: o.ttlSec,
      ...(o.log ? { log: o.log } : {}),
    });
    this.grace = new GraceStore(this.etcd, this.keys.grace);
    this.tokens = new TokenBlocks(this.etcd, `${this.keys.prefix}tokens`, o.tokenBlock);
    this.records = new ClientRecords(this.etcd, this.keys.prefix, o.node, o.log);
    this.wait = new RecoveryWait({
      node: o.node, graceMs: o.graceMs, grace: this.grace, records: this.records, ...(o.log ? { log: o.log } : {}),
      view: () => this.adoptedView,
      ready: () => this.readyGeneration === this.adoptedView.generation,
      lifted: (r) => this.endRecovery(r),
    });
  }

  get node(): string {
    return this.o.node;
  }

  get view(): View {
    return this.adoptedView;
  }

  /** Where this cluster's keys live in etcd (`/lockscope/<cluster>/`). */
  get keyPrefix(): string {
    return this.keys.prefix;
  }

  get graceRecord(): GraceRecord {
    return this.record;
  }

  /** Join the cluster and adopt the first view; fails with EETCD when etcd does not answer. */
  async start(): Promise<void> {
    this.watchHandovers();
    this.membership.on('view', (v) => this.adoptSoon(v));
    this.membership.on('members', () => this.checkBarrier());
    this.membership.on('fenced', (e) => {
      this.forgetMembership();
      this.emit('fenced', e);
    });
    this.membership.on('member', (v) => this.adoptSoon(v));
    await this.grace.watch((r) => this.onRecord(r));
    await this.membership.join();
    this.adoptSoon(this.membership.view);
    await this.adopting;
  }

  private watchHandovers(): void {
    const prefix = this.records.handoversPrefix;
    this.etcd.watch().prefix(prefix).create().then((w) => {
      this.handoverWatcher = w;
      w.on('put', (kv) => {
        this.wait.acceptHandover(kv.key.toString().slice(prefix.length), kv.value);
        this.wait.maybeLift();
      });
    }).catch((err) => this.o.log?.('cluster-watch-error', { error: (err as Error).message }));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.handoverWatcher) await settleWithin(this.handoverWatcher.cancel());
    this.wait.close();
    await this.grace.close();
    await this.membership.close();
    this.etcd.close();
  }

  /** The master of a resource under the adopted view. */
  master(domain: string, resource: string): string | null {
    return this.ring.master(resourceKey(domain, resource));
  }

  /** N1, N2: may a new lock (or conversion) on this resource be granted here now? */
  refuseNew(domain: string, resource: string, generation?: string): Refusal | null {
    const base = this.refuseRouting(domain, resource, generation);
    if (base) return base;
    if (this.inRecovery(domain, resource)) return this.refusal('EGRACE', 'in-recovery');
    return null;
  }

  /** N1, N2, N3: may a reclaim of a lock on this resource be granted here now? */
  refuseReclaim(domain: string, resource: string, generation?: string): Refusal | null {
    const base = this.refuseRouting(domain, resource, generation);
    if (base) return base;
    if (!this.inRecovery(domain, resource)) return this.refusal('ENOGRACE', 'not-in-recovery');
    if (this.readyGeneration !== this.adoptedView.generation) return this.refusal('EGRACE', 'adopting');
    return null;
  }

  /** What `GET /api/cluster` answers: this node's view of the cluster, and a resource's master when asked. */
  async status(query?: { domain: string; resource: string }): Promise<ClusterStatus> {
    return buildStatus(this.o.cluster, this.adoptedView, this.membership.liveMembers, this.record, await this.tokens.highWater(), query);
  }

  /** N4: whom this node's recovery still waits for (`GET /api/cluster`). */
  recovery(): NodeRecovery {
    return this.wait.status();
  }

  /** A block for the current view (its barrier already passed): the next one before the current runs out (B2). */
  reserveTokens(): Promise<TokenBlock> {
    return this.tokens.reserve();
  }

  /** The cluster's token high-water mark: no node has issued a token above it. */
  tokenMark(): Promise<number> {
    return this.tokens.highWater();
  }

  /**
   * N5: may this client reclaim here now? `not-yet` while the clients to wait
   * for are being read (the client asks again), `no` when it is not one of
   * them or presents another secret.
   */
  mayReclaim(client: string, verifier: string | null): 'yes' | 'not-yet' | 'no' {
    // Fenced, or back and not yet in a view (N6), or adopting a newer one (its clients may know it already, and whom
    // it waits for under it is not read yet): nobody is refused for good.
    if (!this.membership.mayGrant() || !this.adoptedView.members.some((m) => m.node === this.o.node) || this.inAdoption) return 'not-yet';
    return this.wait.mayReclaim(client, verifier);
  }

  /**
   * N4, N5: a client that had to reclaim here says it is done, under the view
   * of `generation`. Refused EGRACE (the client asks again) when this node has
   * not adopted that view or read whom it waits for yet, so a `done` counts
   * only for the recovery it was meant for; ignored from a client not waited
   * for, or with another secret.
   */
  reclaimDone(client: string, verifier: string | null, generation?: string): Refusal | null {
    if (generation !== undefined && BigInt(generation) > BigInt(this.adoptedView.generation)) return this.refusal('EGRACE', 'adopting');
    if (!this.wait.countsDone()) return this.refusal('EGRACE', 'adopting');
    const may = this.mayReclaim(client, verifier);
    if (may === 'not-yet') return this.refusal('EGRACE', 'adopting');
    if (may === 'yes') this.wait.markDone(client, generation ?? this.adoptedView.generation);
    return null;
  }

  /** B5: record that `client` holds locks mastered here (before its first lock request reaches the core), with its secret's verifier. */
  recordClient(client: string, verifier: string | null): Promise<void> {
    return this.records.record(client, verifier);
  }

  forgetClient(client: string): Promise<void> {
    return this.records.forget(client);
  }

  private refusal(code: Refusal['code'], reason: Refusal['reason']): Refusal {
    return { code, reason, generation: this.adoptedView.generation };
  }

  private refuseRouting(domain: string, resource: string, generation?: string): Refusal | null {
    if (!this.membership.mayGrant()) return this.refusal('EGRACE', 'fenced');
    if (generation !== undefined && generation !== this.adoptedView.generation) return this.refusal('ESTALE', 'generation');
    if (this.master(domain, resource) !== this.o.node) return this.refusal('ESTALE', 'not-master');
    return null;
  }

  private inRecovery(domain: string, resource: string): boolean {
    if (this.recoveryRings.length === 0) return false;
    const key = resourceKey(domain, resource);
    return this.recoveryRings.some((r) => r === null || r.master(key) !== this.o.node);
  }

  /**
   * N6. A fenced node forgets the view it acted on and its own recovery: it
   * comes back as a new member, so the first view that names it again is a
   * join (everything it masters then is in recovery, and it waits for the
   * clients the other members list), never a continuation of its old view.
   * Without this, a node fenced and back within one view change saw "no
   * change" and refused the reclaims of the locks it had just dropped.
   */
  private forgetMembership(): void {
    this.readyGeneration = '0';
    this.adoptedView = { generation: this.adoptedView.generation, members: [] };
    this.ring = new Rendezvous([]);
    this.recoveryRings = [];
    this.wait.forget();
  }

  /** Views are adopted one at a time, in generation order. */
  private adopting: Promise<void> = Promise.resolve();

  private adoptSoon(v: View): void {
    this.adopting = this.adopting.then(() => this.adopt(v)).catch((err) => {
      this.o.log?.('cluster-adopt-failed', { generation: v.generation, error: (err as Error).message });
    });
  }

  /** Act on a new view: rings, recovery, lost resources, and say so in etcd (M7). */
  private async adopt(v: View): Promise<void> {
    if (this.closed || BigInt(v.generation) <= BigInt(this.adoptedView.generation)) return;
    if (!v.members.some((m) => m.node === this.o.node)) return; // not in it (yet, or any more): nothing to master
    this.inAdoption = true;
    try {
      await this.adoptNow(v);
    } finally {
      this.inAdoption = false;
    }
  }

  private async adoptNow(v: View): Promise<void> {
    const previous = this.adoptedView;
    const prevRing = this.ring;
    const ring = new Rendezvous(v.members.map((m) => ({ name: m.node, weight: m.weight })));
    const { departed, arrived, joinedNow, gained, names } = diffViews(previous, v, this.o.node);
    // N4, N7: the clients recorded on the departed members, read before this node says it adopted the view (so the
    // records may be forgotten once every member did), and before the handover lists (a member arriving in the same
    // view may master some of the departed members' resources: it must wait for their clients too).
    const recorded = await this.records.recordedOn(departed);
    this.ring = ring;
    this.adoptedView = v;
    if (gained) {
      if (joinedNow) this.recoveryRings = [null];
      else this.recoveryRings.push(prevRing);
      // Held from now (before any await), so no record seen meanwhile can end this node's recovery early.
      this.wait.hold();
    }
    this.o.log?.('cluster-view', { node: this.o.node, generation: v.generation, members: v.members.map((m) => m.node), departed, arrived, gained });
    // N4: a node still in its own recovery passes on the clients it waits for: some may hold locks that move on.
    const pending = [...this.wait.stillExpected(), ...recorded];
    const lostHolders = new Map<string, Map<string, string | null>>(arrived.map((n) => [n, new Map(pending.map((c) => [c.id, c.verifier]))]));
    this.emit('view', viewChange(previous, v, departed, this.o.node, prevRing, ring, lostHolders));
    await this.membership.adopt(v.generation);
    // N4: every member that arrived learns whom it must wait for from each older member, even "nobody".
    for (const [node, clients] of lostHolders) await this.records.handOver(node, v.generation, [...clients].map(([id, verifier]) => ({ id, verifier })));
    if (gained) await this.wait.begin(v, recorded, joinedNow);
    // G7: a member that left is taken out of the grace record; one back under the same name keeps its (new) flags.
    for (const d of departed) if (!names.has(d)) await this.grace.update((r) => remove(r, d));
    if (departed.length > 0) this.records.departed(v.generation, departed);
    this.checkBarrier();
  }

  private onRecord(r: GraceRecord): void {
    this.record = r;
    this.endRecovery(r);
    this.emit('grace', r);
  }

  /** Recovery ends for this node when the cluster's grace has ended (in `r`) and its own need is lifted (N2, N4, N8). */
  private endRecovery(r: GraceRecord): void {
    if (!inGrace(r) && !this.wait.needed) {
      this.recoveryRings = [];
      this.records.forgetDeparted(this.adoptedView.members[0]?.node === this.o.node); // N7
      if (r.nodes[this.o.node]?.enforcing) {
        this.grace.update((x) => settle(x, this.o.node)).catch(() => {});
      }
    }
  }

  /** N3: when every member adopted the view, reserve a fresh token block and open reclaims. */
  private checkBarrier(): void {
    const v = this.adoptedView;
    if (this.closed || v.generation === this.readyGeneration || v.generation === this.reservingFor) return;
    if (!this.membership.allAdopted(v)) return;
    const generation = v.generation;
    this.reservingFor = generation;
    this.tokens.reserve().then((block) => {
      if (this.adoptedView.generation !== generation) return; // a newer view came meanwhile: its barrier decides
      this.emit('tokens', block);
      this.readyGeneration = generation;
      this.o.log?.('cluster-ready', { node: this.o.node, generation, tokens: `${block.first}-${block.last}` });
      this.wait.maybeLift();
    }).catch((err) => this.o.log?.('cluster-tokens-failed', { error: (err as Error).message }))
      .finally(() => {
        if (this.reservingFor === generation) this.reservingFor = '0';
      });
  }
}
