/**
 * A lock server as a cluster node: the ClusterNode (node.ts) joined to the
 * server's LockManager. The manager asks the node before every request that
 * creates state (`admission`), issues fencing tokens only from the node's
 * blocks, and gives up the locks of resources the node stops mastering.
 *
 * B1. Admission: a refusal from the node (ESTALE, EGRACE, ENOGRACE) fails
 *     the request before the core changes anything; ESTALE carries the
 *     node's generation so the client routes again under the newer view.
 * B2. Tokens: the manager runs in external mode (src/tokens.ts); the node
 *     hands it a fresh block after each view's barrier (T2), and the binding
 *     reserves the next block when the current one is half used, so a
 *     handover never finds none.
 * B3. A view in which this node stops mastering a resource (another node
 *     joined) is pushed to every session first, then every lock and wait
 *     there is revoked (`node-moved`: the cluster client reclaims the lock on
 *     the new master and sends the wait again there) and their clients are
 *     listed, with their secrets' verifiers, for the new master, which waits
 *     for them to reclaim.
 * B4. A fenced node revokes everything it holds at once: its state may
 *     already be taken over on the survivors. The reason is `node-moved`:
 *     the locks are not gone, their clients reclaim them on whichever node
 *     masters them once the view has changed (the survivors, or this node
 *     back as a new member).
 * B5. A client is recorded in etcd (`clients/<node>/<client>`, with its
 *     secret's verifier) before its first lock request or reclaim on this
 *     node reaches the core, and forgotten when its session ends while this
 *     node is a member (a fenced node forgets nothing: its survivors read the
 *     records): the survivors of this node wait for every client that may
 *     hold locks here. A fenced node comes back as a new member and records
 *     its clients again (the survivors forget the old records, N7).
 * B6. A reclaim is admitted only from a client this node waits for (N5),
 *     then by the core's admission like any request (N1–N3): a resource in
 *     recovery, after the barrier. Every view this node adopts is pushed to
 *     every session, so clients learn of a failover from any node they use.
 */

import type { Admission, LockManager } from '../../src/index.js';
import type { ExpectedClient } from './client-records.js';
import { LockError } from '../../src/index.js';
import { clusterLimits, ETCD_CONNECT_TIMEOUT_MS } from './limits.js';
import { ClusterNode, type Refusal } from './node.js';
import { EtcdUnavailableError } from './etcd.js';
import type { TokenBlock } from './token-blocks.js';
import type { ClusterView } from '../../client/protocol.js';
import type { Owner } from '../../src/index.js';
import { ClusterDetector } from './detector.js';
import type { LocksQuery, ViewKind } from '../views.js';
import { ClusterDumps, type NodeState } from './dumps.js';
import { explainHang } from './hangs.js';
import type { ClusterNodeSettings } from './options.js';
import { loadPeerSecret, type PeerHandler } from './peers.js';
import type { DetectorStatus } from './shapes.js';
import { breakAt, checkEdges, explainEdges, gatherWaits, nameClusterOwner } from './waits.js';

function refusalError(r: Refusal, node: string, domain: string, resource: string): LockError {
  const why: Record<Refusal['reason'], string> = {
    fenced: `node ${node} is not a cluster member right now (its lease could not be renewed): retry`,
    generation: `the request was routed under another membership view than node ${node}'s`,
    'not-master': `node ${node} does not master this resource under generation ${r.generation}`,
    'in-recovery': 'the resource is in recovery after a membership change: only reclaims are granted; retry after it',
    adopting: 'the cluster is adopting a new membership view: retry shortly',
    'not-in-recovery': 'nothing of this resource is being recovered: a reclaim is not allowed',
  };
  return new LockError(r.code, why[r.reason], { node, domain, resource, generation: r.generation });
}

/** What the binding asks of the server: pushes to every session, and a client's verifier. */
export interface ClusterHooks {
  pushView(v: ClusterView): void;
  /** The cluster's grace ended: requests refused EGRACE may go again now (the client does not wait out its backoff). */
  pushGraceOver(): void;
  verifierOf(client: string): string | null;
  /** Whether a session of this client is connected here now (hang reports say so of a root blocker). */
  clientConnected(client: string): boolean;
  /** This node's files for a cluster dump taken elsewhere (its dumper's collectors; none without a dumper). */
  nodeFiles(): Promise<Pick<NodeState, 'files' | 'errors'>>;
  /** One of this node's REST views (views.ts), for the cluster-wide view. */
  read(what: ViewKind, query: LocksQuery): Promise<unknown>;
}

export class ClusterBinding {
  private nodeValue: ClusterNode | null = null;
  /** What failovers and handovers did here, for the metrics (metrics.ts). */
  readonly stats = { views: 0, failovers: 0, fenced: 0, handedOver: 0, reclaims: 0 };
  private lm: LockManager | null = null;
  private prefetching = false;
  private firstBlock: TokenBlock | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly options: ClusterNodeSettings,
    private readonly graceMs: number,
    private readonly log: (event: string, f: Record<string, unknown>) => void,
  ) {
    this.timer = setInterval(() => this.prefetch(), 100);
    this.timer.unref();
  }

  get name(): string {
    return this.options.node;
  }

  /** The joined node (null before start() resolved). */
  get node(): ClusterNode | null {
    return this.nodeValue;
  }

  /**
   * Join the cluster, advertising `listenUrl` unless an address was
   * configured; resolves once this node holds its first token block. Fails
   * with EETCD when etcd does not answer.
   */
  async start(listenUrl: string): Promise<void> {
    const o = this.options;
    const node = new ClusterNode({
      endpoints: o.etcd, cluster: o.cluster, node: o.node, weight: o.weight, advertise: o.advertise ?? listenUrl,
      ttlSec: o.ttlSec, graceMs: this.graceMs, tokenBlock: o.tokenBlock, log: this.log,
    });
    // A view's block is used from the next grant on (T2): the rest of the block before it is skipped.
    node.on('tokens', (t) => {
      if (this.lm !== null) this.lm.advanceTokens(t.first, t.last, true);
      else this.firstBlock = t;
    });
    const first = new Promise<void>((resolve, reject) => {
      node.once('tokens', () => resolve());
      setTimeout(() => reject(new EtcdUnavailableError('no fencing-token block within the connect deadline')), ETCD_CONNECT_TIMEOUT_MS * 2).unref();
    });
    first.catch(() => {});
    try {
      await node.start();
      await first;
    } catch (err) {
      await node.close().catch(() => {});
      throw err;
    }
    try {
      this.peerSecret = await loadPeerSecret(node.etcd, `${node.keyPrefix}peer`);
    } catch (err) {
      await node.close().catch(() => {});
      throw err;
    }
    this.nodeValue = node;
    await this.dumps.start(node.etcd, `${node.keyPrefix}dumped`);
    if (this.lm !== null) this.wire(this.lm, node);
  }

  /** P1: the secret peers show each other (null before the join). */
  private peerSecret: string | null = null;
  private detector: ClusterDetector | null = null;

  get secret(): string | null {
    return this.peerSecret;
  }

  /** W1: a remote owner's cluster-wide name (its application owner's number in the client). */
  nameOwner(owner: Owner, gid: number): void {
    nameClusterOwner(owner, gid);
  }

  /** What this node answers its peers (null before the join). */
  peerHandler(): PeerHandler | null {
    const lm = this.lm;
    const node = this.nodeValue;
    if (lm === null || node === null) return null;
    return {
      waits: () => gatherWaits(lm, node.node, node.view.generation),
      explain: (keys) => explainEdges(lm, node.node, keys, (c) => this.hooks.clientConnected(c)),
      check: (generation, keys) => checkEdges(lm, node.node, node.view.generation, generation, keys),
      breakAt: (generation, key, cycle, policy, nodes) => breakAt(lm, node.view.generation, generation, key, cycle, policy, nodes),
      state: async () => ({ node: node.node, ...(await this.hooks.nodeFiles()), waits: gatherWaits(lm, node.node, node.view.generation) }),
      // The snapshot goes with this node's edges by cluster-wide owner names, which its merge joins owners on (V2).
      read: async (what, query) => (what === 'snapshot'
        ? { snapshot: await this.hooks.read(what, query), waits: gatherWaits(lm, node.node, node.view.generation) }
        : this.hooks.read(what, query)),
    };
  }

  /** K1–K3: the other nodes' part of this node's hang-dumps, and the cluster's rate limit of automatic ones. */
  readonly dumps = new ClusterDumps({
    node: () => this.nodeValue,
    secret: () => this.peerSecret,
    state: () => {
      const h = this.peerHandler();
      return h === null ? Promise.reject(new Error('not joined')) : h.state();
    },
    cluster: async () => {
      const node = this.nodeValue!;
      return { ...(await node.status()), recovery: node.recovery(), detector: this.detectorStatus() };
    },
    log: (e, f) => this.log(e, f),
  });

  /** The cluster's deadlock detector as this node knows it. */
  detectorStatus(): DetectorStatus | null {
    return this.detector?.status ?? null;
  }

  private recordsInFlight = 0;
  private readonly recordQueue: (() => void)[] = [];

  /** B5: at most `recordsInFlightMax` record writes at once. */
  private recordSlot(): Promise<void> {
    if (this.recordsInFlight < clusterLimits.recordsInFlightMax) {
      this.recordsInFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.recordQueue.push(resolve));
  }

  private recordDone(): void {
    const next = this.recordQueue.shift();
    if (next !== undefined) next(); // the slot passes on
    else this.recordsInFlight--;
  }

  /** Clients recorded in etcd as holding locks mastered here (N4), and the writes in flight. */
  private readonly recorded = new Map<string, Promise<void>>();

  /**
   * B5: a client is recorded in etcd before its first lock request reaches
   * the core, so that if this node dies the survivors know to wait for it.
   * Null when already recorded (the request goes on at once).
   */
  recordClient(client: string | null, verifier: string | null): Promise<void> | null {
    const node = this.nodeValue;
    if (client === null || node === null) return null;
    const known = this.recorded.get(client);
    if (known !== undefined) return known;
    const p = this.recordSlot().then(() => node.recordClient(client, verifier)).finally(() => this.recordDone()).catch((err: unknown) => {
      throw new LockError('EGRACE', `the cluster could not record this client in etcd (${(err as Error).message}): retry`, { node: node.node });
    });
    this.recorded.set(client, p);
    p.then(() => this.recorded.set(client, Promise.resolve()), () => this.recorded.delete(client));
    return p;
  }

  /** The client's session ended: nobody needs to wait for it (best effort; a stale record only lengthens a grace). */
  forgetClient(client: string | null): void {
    const node = this.nodeValue;
    if (client === null || node === null) return;
    // B5: a node that is not a member now (fenced) keeps its records: the survivors read them to know whom to wait
    // for, and a client retiring this node's connection must not erase that it held locks here.
    if (!node.membership.mayGrant()) return;
    if (!this.recorded.delete(client)) return;
    node.forgetClient(client).catch((err) => this.log('cluster-forget-failed', { error: (err as Error).message }));
  }

  /** B6: may this client (id and secret's verifier) reclaim here now? EGRACE: not yet; ENOGRACE: no. */
  checkReclaimer(client: string | null, verifier: string | null, domain: string, resource: string): void {
    const node = this.nodeValue;
    // Not joined yet (listening comes first): ask again, as every request is refused EGRACE meanwhile (B1).
    const may = client === null ? 'no' : node === null ? 'not-yet' : node.mayReclaim(client, verifier);
    if (may === 'yes') return;
    if (may === 'not-yet') {
      throw new LockError('EGRACE', 'this node is still reading which clients must reclaim here: retry shortly', { node: this.options.node, domain, resource });
    }
    throw new LockError('ENOGRACE', 'this node is not waiting for this client to reclaim (not a holder of a moved resource, or its recovery is over)', {
      node: this.options.node, domain, resource,
    });
  }

  /** N4, N5: the client says it is done reclaiming under `generation`; EGRACE when this node is not ready to count it. */
  reclaimDone(client: string | null, verifier: string | null, generation: string | undefined): void {
    const node = this.nodeValue;
    if (generation !== undefined && !/^\d{1,20}$/.test(generation)) throw new LockError('EINVAL', 'generation must be a view generation (decimal digits)');
    if (client === null) return;
    // Not joined yet (listening comes first): the client asks again. Taking it as counted would lose it, and the
    // node, once joined, would wait out its bound for a client that had told it (found by the cluster torture run).
    if (node === null) throw new LockError('EGRACE', `node ${this.options.node} is joining its cluster: retry shortly`, { node: this.options.node });
    const r = node.reclaimDone(client, verifier, generation);
    if (r !== null) throw refusalError(r, node.node, '', '');
  }

  /** Where every adopted view goes (each session, B6), and how a client id's verifier is found (B3). */
  private hooks: ClusterHooks = { pushView: () => {}, pushGraceOver: () => {}, verifierOf: () => null, clientConnected: () => false,
    nodeFiles: async () => ({ files: [], errors: [] }), read: async () => [] };

  setHooks(hooks: ClusterHooks): void {
    this.hooks = hooks;
  }

  /** The membership view as clients need it (null before the join). */
  clientView(): ClusterView | null {
    const node = this.nodeValue;
    if (node === null) return null;
    const v = node.view;
    return { generation: v.generation, node: node.node, members: v.members.map((m) => ({ node: m.node, weight: m.weight, advertise: m.advertise })) };
  }

  /** B1: the manager's admission function. */
  readonly admission: Admission = (domain, resource, reclaim, client) => {
    const node = this.nodeValue;
    if (node === null) {
      throw new LockError('EGRACE', `node ${this.options.node} is joining its cluster: retry shortly`, { node: this.options.node, domain, resource });
    }
    const r = reclaim ? node.refuseReclaim(domain, resource) : node.refuseNew(domain, resource);
    if (r !== null) throw refusalError(r, node.node, domain, resource);
    if (reclaim && client === null) throw new LockError('ENOGRACE', 'only a remote client reclaims', { node: node.node, domain, resource });
  };

  /** Connect the manager: tokens (B2), lost resources (B3), fencing (B4). */
  attach(lm: LockManager): void {
    this.lm = lm;
    if (this.nodeValue !== null) this.wire(lm, this.nodeValue);
  }

  private wire(lm: LockManager, node: ClusterNode): void {
    // C1–C3: a hang report follows its chain onto the other nodes before it goes out.
    lm.setHangExplainer((hang) => explainHang(hang, { lm, node, local: this.peerHandler()!, secret: () => this.peerSecret }));
    if (lm.detection.mode !== 'off') {
      this.detector = new ClusterDetector(node, this.peerHandler()!, () => this.peerSecret, lm.detection.victim, this.log, this.options.detector);
      this.detector.start();
    }
    if (this.firstBlock !== null) lm.advanceTokens(this.firstBlock.first, this.firstBlock.last, true);
    this.firstBlock = null;
    node.on('view', (change) => {
      // B6, B3: the view reaches the sessions before the losses it explains.
      const view = this.clientView();
      if (view !== null) this.hooks.pushView(view);
      this.stats.views++;
      if (change.departed.length > 0) this.stats.failovers++;
      const byNode = new Map<string, Set<string>>();
      const revoked = lm.revokeResources((domain, resource) => {
        if (!change.lost(domain, resource)) return false;
        this.stats.handedOver++;
        const to = change.movedTo(domain, resource);
        if (to !== null && !byNode.has(to)) byNode.set(to, new Set());
        return true;
      }, 'node-moved');
      // Every client that held anything moved is listed for each gainer (a superset is safe: it only waits longer).
      const holders: ExpectedClient[] = [...revoked].map((id) => ({ id, verifier: this.hooks.verifierOf(id) }));
      for (const to of byNode.keys()) change.holders(to, holders);
      if (revoked.size > 0) this.log('cluster-handover', { generation: change.view.generation, clients: revoked.size, to: [...byNode.keys()] });
    });
    let graceWas = false;
    node.on('grace', (r) => {
      const now = r.recovery !== 0;
      if (graceWas && !now) this.hooks.pushGraceOver();
      graceWas = now;
    });
    node.on('fenced', ({ reason }) => {
      this.stats.fenced++;
      // B5: back as a new member, this node records every client again before its next request: the survivors
      // forget the records of this node's earlier life once their grace is over (N7).
      this.recorded.clear();
      const clients = lm.revokeResources(() => true, 'node-moved');
      this.log('cluster-fenced-revoked', { reason, clients: clients.size });
    });
  }

  /** B2: the next block before the current one runs out. */
  private prefetch(): void {
    const lm = this.lm;
    const node = this.nodeValue;
    if (lm === null || node === null || this.prefetching || lm.tokensRemaining > this.options.tokenBlock / 2) return;
    if (!node.membership.mayGrant()) return;
    this.prefetching = true;
    node.reserveTokens()
      .then((t) => lm.advanceTokens(t.first, t.last))
      .catch((err) => this.log('cluster-tokens-failed', { error: (err as Error).message }))
      .finally(() => {
        this.prefetching = false;
      });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    this.detector?.close();
    await this.dumps.close();
    await this.nodeValue?.close();
    this.nodeValue = null;
  }
}
