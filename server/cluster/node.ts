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
 */

import { EventEmitter } from 'node:events';
import type { Etcd3, Watcher } from 'etcd3';
import { Rendezvous, resourceKey } from '../../src/rendezvous.js';
import { clusterKeys, etcdCall, openEtcd, settleWithin, type ClusterKeys } from './etcd.js';
import { GraceStore, inGrace, lift, remove, settle, start, join, type GraceRecord } from './grace-record.js';
import { Membership, type MemberRecord, type View } from './membership.js';
import { TokenBlocks, type TokenBlock } from './token-blocks.js';
import { buildStatus, type ClusterStatus } from './status.js';
import { clusterLimits } from './limits.js';
import type { NodeRecovery } from './shapes.js';

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

export interface ViewChange {
  view: View;
  previous: View;
  /** Members of the previous view that are not in this one (their share is remastered on the survivors). */
  departed: string[];
  /** Whether this node masters the resource no more (the server drops its locks there and tells their holders). */
  lost: (domain: string, resource: string) => boolean;
  /** The resource's master under the new view. */
  movedTo: (domain: string, resource: string) => string | null;
  /** The server names the clients holding locks it lost to `node`, with their secrets' verifiers (called during the event). */
  holders: (node: string, clients: Iterable<ExpectedClient>) => void;
}

/** A client a node waits for in a recovery (N4), with the verifier of its session secret (null: not known). */
export interface ExpectedClient {
  id: string;
  verifier: string | null;
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
  /** False from a gain until the clients to wait for have been read (N4): no lift before. */
  private expectationsRead = true;
  private reservingFor = '0';
  private needSince = 0;
  private needTimer: NodeJS.Timeout | null = null;
  private needBoundAt: number | null = null;
  /** N4: the clients to wait for, by id, each with its secret's verifier (N5). */
  private readonly expected = new Map<string, string | null>();
  /** N4: the newest generation each expected client is expected under (a later view's list expects it anew). */
  private readonly expectedAt = new Map<string, bigint>();
  /** N4: the newest generation under which each client said it is done. */
  private readonly done = new Map<string, bigint>();
  private record: GraceRecord = { current: 1, recovery: 0, nodes: {} };
  /** The generation at which this node joined, and the members whose handover list it still waits for (N4). */
  private joinedAt = '0';
  private awaitingHandover = new Set<string>();
  /** N7: views in which members left, whose client records are forgotten once the grace has ended. */
  private readonly departedViews: { generation: string; nodes: string[] }[] = [];
  private forgetting = false;
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
    const prefix = `${this.keys.prefix}moved/${this.o.node}/`;
    this.etcd.watch().prefix(prefix).create().then((w) => {
      this.handoverWatcher = w;
      w.on('put', (kv) => {
        this.acceptHandover(kv.key.toString().slice(prefix.length), kv.value);
        this.maybeLift();
      });
    }).catch((err) => this.o.log?.('cluster-watch-error', { error: (err as Error).message }));
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.handoverWatcher) await settleWithin(this.handoverWatcher.cancel());
    if (this.needTimer) clearTimeout(this.needTimer);
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
    if (this.needSince === 0) return { since: null, waitingFor: [], waiting: 0, handoversFrom: [], ready: true, boundAt: null };
    const waiting = [...this.expected.keys()].filter((c) => !this.isDone(c));
    return {
      since: this.needSince,
      waitingFor: waiting.slice(0, clusterLimits.waitingForShownMax),
      waiting: waiting.length,
      handoversFrom: [...this.awaitingHandover],
      ready: this.expectationsRead && this.readyGeneration === this.adoptedView.generation,
      boundAt: this.needBoundAt,
    };
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
    if (this.needSince === 0) return 'no';
    if (!this.expectationsRead || this.awaitingHandover.size > 0) return 'not-yet';
    if (!this.expected.has(client) || this.isDone(client)) return 'no';
    const v = this.expected.get(client) ?? null;
    return v === null || v === verifier ? 'yes' : 'no';
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
    if (this.needSince !== 0 && (!this.expectationsRead || this.readyGeneration !== this.adoptedView.generation)) return this.refusal('EGRACE', 'adopting');
    const may = this.mayReclaim(client, verifier);
    if (may === 'not-yet') return this.refusal('EGRACE', 'adopting');
    if (may === 'yes') {
      const g = BigInt(generation ?? this.adoptedView.generation);
      if ((this.done.get(client) ?? -1n) < g) this.done.set(client, g);
      this.maybeLift();
    }
    return null;
  }

  /** Record that `client` holds locks mastered here (before its first lock request reaches the core), with its secret's verifier. */
  async recordClient(client: string, verifier: string | null): Promise<void> {
    const key = `${this.keys.prefix}clients/${this.o.node}/${client}`;
    await etcdCall('record a client', () => this.etcd.put(key).value(verifier ?? '-').exec());
  }

  /** The clients this node still waits for in its recovery (N4): a node that hands resources over passes them on. */
  private stillExpected(): ExpectedClient[] {
    if (this.needSince === 0) return [];
    return [...this.expected].filter(([id]) => !this.isDone(id)).map(([id, verifier]) => ({ id, verifier }));
  }

  async forgetClient(client: string): Promise<void> {
    await etcdCall('forget a client', () => this.etcd.delete().key(`${this.keys.prefix}clients/${this.o.node}/${client}`).exec());
  }

  /** N4: a live node that lost resources to `to` lists their holders for it (an empty list too). */
  private async handOver(to: string, generation: string, clients: ExpectedClient[]): Promise<void> {
    const key = `${this.keys.prefix}moved/${to}/${this.o.node}`;
    await etcdCall('list handed-over clients', () => this.etcd.put(key).value(JSON.stringify({ generation, clients })).exec());
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
    this.clearNeed();
    this.expectationsRead = true;
  }

  /** This node waits for nobody any more (its need lifted, or forgotten at a fence). */
  private clearNeed(): void {
    this.needSince = 0;
    if (this.needTimer) clearTimeout(this.needTimer);
    this.needTimer = null;
    this.needBoundAt = null;
    this.expected.clear();
    this.expectedAt.clear();
    this.done.clear();
    this.awaitingHandover.clear();
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
    const prevNames = new Set(previous.members.map((m) => m.node));
    const nowNames = new Set(v.members.map((m) => m.node));
    // A member is a life of a node (M8): one back as a new member under the same name left and arrived at once.
    const life = (m: MemberRecord): string => `${m.node}\0${m.incarnation ?? ''}`;
    const prevLives = new Set(previous.members.map(life));
    const nowLives = new Set(v.members.map(life));
    const departed = previous.members.filter((m) => !nowLives.has(life(m))).map((m) => m.node);
    const joinedNow = !prevNames.has(this.o.node);
    // Every member new to this node's view gets a handover list from it, an empty one when this node held nothing
    // (it joined itself): a joiner waits for one from each older member (N4), whatever order the views came in.
    const arrived = v.members.filter((m) => !prevLives.has(life(m)) && m.node !== this.o.node).map((m) => m.node);
    // Gains: a member left (its share comes to the survivors), or this node joined a cluster with other members.
    const gained = departed.length > 0 || (joinedNow && v.members.length > 1);
    // N4, N7: the clients recorded on the departed members, read before this node says it adopted the view (so the
    // records may be forgotten once every member did), and before the handover lists (a member arriving in the same
    // view may master some of the departed members' resources: it must wait for their clients too).
    const recorded = await this.recordedOn(departed);
    this.ring = ring;
    this.adoptedView = v;
    if (gained) {
      if (joinedNow) this.recoveryRings = [null];
      else this.recoveryRings.push(prevRing);
      // Held from now (before any await), so no record seen meanwhile can end this node's recovery early.
      if (this.needSince === 0) this.needSince = Date.now();
      this.expectationsRead = false;
    }
    this.o.log?.('cluster-view', { node: this.o.node, generation: v.generation, members: v.members.map((m) => m.node), departed, arrived, gained });
    // N4: a node still in its own recovery passes on the clients it waits for: some may hold locks that move on.
    const pending = [...this.stillExpected(), ...recorded];
    const lostHolders = new Map<string, Map<string, string | null>>(arrived.map((n) => [n, new Map(pending.map((c) => [c.id, c.verifier]))]));
    this.emit('view', {
      view: v,
      previous,
      departed,
      lost: (domain, resource) => {
        const key = resourceKey(domain, resource);
        return prevRing.master(key) === this.o.node && ring.master(key) !== this.o.node;
      },
      movedTo: (domain, resource) => ring.master(resourceKey(domain, resource)),
      holders: (node, clients) => {
        const set = lostHolders.get(node);
        if (set) for (const c of clients) set.set(c.id, c.verifier);
      },
    });
    await this.membership.adopt(v.generation);
    // N4: every member that arrived learns whom it must wait for from each older member, even "nobody".
    for (const [node, clients] of lostHolders) await this.handOver(node, v.generation, [...clients].map(([id, verifier]) => ({ id, verifier })));
    if (gained) await this.beginNeed(v, recorded, joinedNow);
    // G7: a member that left is taken out of the grace record; one back under the same name keeps its (new) flags.
    for (const d of departed) if (!nowNames.has(d)) await this.grace.update((r) => remove(r, d));
    if (departed.length > 0) this.departedViews.push({ generation: v.generation, nodes: departed });
    this.checkBarrier();
  }

  /** N4: this node gained resources: take part in (or start) the grace, and learn whom to wait for. */
  private async beginNeed(v: View, recorded: ExpectedClient[], joinedNow: boolean): Promise<void> {
    await this.grace.update((r) => (inGrace(r) ? join(r, this.o.node) : start(r, this.o.node)));
    for (const c of recorded) this.expect(c.id, c.verifier, v.generation);
    if (joinedNow) {
      this.joinedAt = v.generation;
      this.awaitingHandover = new Set(v.members.map((m) => m.node).filter((n) => n !== this.o.node));
      await this.readHandovers();
    }
    if (this.needTimer) clearTimeout(this.needTimer);
    this.needTimer = setTimeout(() => this.liftNow('grace-bound'), this.o.graceMs);
    this.needBoundAt = Date.now() + this.o.graceMs;
    this.expectationsRead = true;
    this.o.log?.('cluster-need', { node: this.o.node, generation: v.generation, expected: this.expected.size });
    this.maybeLift();
  }

  /**
   * N4: the clients recorded on members that left (`clients/<node>/…`), and
   * those listed to them in handovers (`moved/<node>/…`): a client moving a
   * lock to a node that dies before the client reclaimed there is recorded
   * nowhere else, and its lock must not be lost with that node (found by the
   * cluster torture run with pauses and kills). Lists of an earlier life only
   * add clients to wait for (bounded).
   */
  private async recordedOn(departed: string[]): Promise<ExpectedClient[]> {
    const out: ExpectedClient[] = [];
    for (const d of departed) {
      const res = await etcdCall('read a departed node\'s clients', () => this.etcd.getAll().prefix(`${this.keys.prefix}clients/${d}/`).strings());
      for (const [k, val] of Object.entries(res)) out.push({ id: k.slice(k.lastIndexOf('/') + 1), verifier: val === '-' || val === '1' ? null : val });
      const lists = await etcdCall('read the lists handed to a departed node', () => this.etcd.getAll().prefix(`${this.keys.prefix}moved/${d}/`).strings());
      for (const value of Object.values(lists)) out.push(...(parseHandover(value)?.clients ?? []));
    }
    return out;
  }

  /**
   * N7. The records of members that left in a view are forgotten once the
   * cluster's grace has ended, by one member (the first by name): every
   * member of that view read them before it said it adopted the view, and
   * passed the clients on, so nobody needs them any more; kept, they would
   * make a later failover of the same node wait to its bound for clients
   * long gone. Only records written at or before the view's revision go: a
   * node back as a new member records its clients anew, after it.
   */
  private forgetDeparted(): void {
    if (this.departedViews.length === 0 || this.forgetting) return;
    if (this.adoptedView.members[0]?.node !== this.o.node) {
      this.departedViews.length = 0; // another member forgets them
      return;
    }
    const views = this.departedViews.splice(0);
    this.forgetting = true;
    void (async () => {
      for (const { generation, nodes } of views) {
        for (const d of nodes) {
          const records = await etcdCall('list a departed node\'s clients', () => this.etcd.getAll().prefix(`${this.keys.prefix}clients/${d}/`).exec());
          const lists = await etcdCall('list the lists handed to a departed node', () => this.etcd.getAll().prefix(`${this.keys.prefix}moved/${d}/`).exec());
          for (const kv of [...records.kvs, ...lists.kvs]) {
            if (BigInt(kv.mod_revision) > BigInt(generation)) continue; // a later life's record
            const key = kv.key.toString();
            await etcdCall('forget a departed node\'s client', () => this.etcd.if(key, 'Mod', '==', kv.mod_revision).then(this.etcd.delete().key(key)).commit());
          }
        }
      }
    })().catch((err) => this.o.log?.('cluster-forget-failed', { error: (err as Error).message }))
      .finally(() => {
        this.forgetting = false;
      });
  }

  /** Handover lists written for this node since it joined; a member that left owes none. */
  private async readHandovers(): Promise<void> {
    const prefix = `${this.keys.prefix}moved/${this.o.node}/`;
    const res = await etcdCall('read handover lists', () => this.etcd.getAll().prefix(prefix).exec());
    for (const kv of res.kvs) this.acceptHandover(kv.key.toString().slice(prefix.length), kv.value);
    for (const n of this.awaitingHandover) if (!this.adoptedView.members.some((m) => m.node === n)) this.awaitingHandover.delete(n);
  }

  private acceptHandover(from: string, value: Buffer): void {
    const h = parseHandover(value.toString());
    if (h === null || BigInt(h.generation) < BigInt(this.joinedAt)) return; // not a list, or for an earlier life of this node
    for (const c of h.clients) this.expect(c.id, c.verifier, h.generation);
    this.awaitingHandover.delete(from);
  }

  /**
   * N4: wait for `client`, listed under the view of `generation`. A `done` it
   * said under that view or a later one still counts: the same list is read
   * twice (once by the read at the join, once from the watch, in either
   * order), and reading it again must not undo a `done` already counted
   * (found by the cluster torture run: a joiner waited out its bound for a
   * client that had told it). A list from a later view expects it anew.
   */
  private expect(client: string, verifier: string | null, generation: string): void {
    const g = BigInt(generation);
    this.expected.set(client, verifier);
    if ((this.expectedAt.get(client) ?? -1n) < g) this.expectedAt.set(client, g);
  }

  /** N4: the client said it is done under the view it is expected under, or a later one. */
  private isDone(client: string): boolean {
    const d = this.done.get(client);
    return d !== undefined && d >= (this.expectedAt.get(client) ?? 0n);
  }

  private maybeLift(): void {
    if (this.needSince === 0 || !this.expectationsRead) return;
    for (const n of this.awaitingHandover) if (!this.adoptedView.members.some((m) => m.node === n)) this.awaitingHandover.delete(n);
    if (this.awaitingHandover.size > 0) return;
    for (const c of this.expected.keys()) if (!this.isDone(c)) return;
    if (this.readyGeneration !== this.adoptedView.generation) return; // clients cannot have reclaimed before the barrier
    this.liftNow('all-reclaimed');
  }

  private liftNow(why: string): void {
    if (this.needSince === 0) return;
    this.clearNeed();
    this.o.log?.('cluster-lift', { node: this.o.node, why });
    // N8: the record as the lift left it decides too: a lift with nothing to write (the record no longer named this
    // node: another node took its flags out, G7) makes no record event, and this node's recovery must end all the same.
    this.grace.update((r) => lift(r, this.o.node)).then(
      (r) => this.endRecovery(r),
      (err: Error) => this.o.log?.('cluster-lift-failed', { error: err.message }),
    );
  }

  private onRecord(r: GraceRecord): void {
    this.record = r;
    this.endRecovery(r);
    this.emit('grace', r);
  }

  /** Recovery ends for this node when the cluster's grace has ended (in `r`) and its own need is lifted (N2, N4, N8). */
  private endRecovery(r: GraceRecord): void {
    if (!inGrace(r) && this.needSince === 0) {
      this.recoveryRings = [];
      this.forgetDeparted();
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
      this.maybeLift();
    }).catch((err) => this.o.log?.('cluster-tokens-failed', { error: (err as Error).message }))
      .finally(() => {
        if (this.reservingFor === generation) this.reservingFor = '0';
      });
  }
}

/** A handover list (`moved/<to>/<from>`) as written by handOver, or null when the value is not one. */
function parseHandover(value: string): { generation: string; clients: ExpectedClient[] } | null {
  try {
    const h = JSON.parse(value) as { generation?: unknown; clients?: unknown };
    if (typeof h.generation !== 'string' || !/^\d{1,20}$/.test(h.generation) || !Array.isArray(h.clients)) return null;
    const clients: ExpectedClient[] = [];
    for (const c of h.clients as (ExpectedClient | string)[]) {
      if (typeof c === 'string') clients.push({ id: c, verifier: null });
      else if (typeof c?.id === 'string') clients.push({ id: c.id, verifier: typeof c.verifier === 'string' ? c.verifier : null });
    }
    return { generation: h.generation, clients };
  } catch {
    return null;
  }
}
