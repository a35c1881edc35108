/**
 * A client of a cluster: each request goes straight to its resource's master
 * (server/cluster/README.md, "Routing"). The client the application got from
 * `connect()` is attached to one node; the router keeps one more LockClient
 * per other node it has sent a request to, and one owner per node for each
 * of the application's owners, with the same name and options.
 *
 * R1. The master of (domain, resource) is computed with the same weighted
 *     rendezvous hashing the nodes use (src/rendezvous.ts), from the newest
 *     view this client has seen.
 * R2. A request refused ESTALE (the node acts on another view, or does not
 *     master the resource) is sent again after the client has fetched a view
 *     at least as new as the refusing node's generation; at most
 *     `routeAttemptsMax` times, then ESTALE reaches the caller.
 * R3. A handle is served by the node that granted it: convert and release go
 *     to that node, as they would with a single server, until a failover or
 *     a handover moves it (failover.ts); a request whose wait that node
 *     revoked because the resource moved (`node-moved`) is routed again.
 * R4. Every per-node client shares one identity (client id and secret), so
 *     every node records the same client and a reclaim on a new master
 *     proves it comes from the holder.
 * R5. The client learns a new view from any node it is connected to (nodes
 *     push every view they adopt), from an ESTALE, and, while a node it uses
 *     does not answer, by asking the other members every `VIEW_POLL_MS`.
 *     Each newer view starts a failover pass (failover.ts).
 */

import type { LockOptions, OwnerOptions, PosixLockInfo, PosixRequest, SetlkOptions, SetlkResult } from '../src/api.js';
import { LockError } from '../src/errors.js';
import type { DlmMode } from '../src/modes.js';
import { Rendezvous, resourceKey } from '../src/rendezvous.js';
import { Failover } from './failover.js';
import type { ClientIdentity, ConnectOptions, LockClient } from './index.js';
import type { ClusterView } from './protocol.js';
import type { ReclaimReport } from './reclaim.js';
import type { RemoteLock } from './remote-lock.js';
import type { RemoteOwner } from './remote-owner.js';
import { MEMBERS_MAX, MEMBER_CONNECT_TIMEOUT_MS, ROUTE_ATTEMPTS_MAX, VIEW_CALL_TIMEOUT_MS, VIEW_POLL_MS } from './limits.js';
export { ROUTE_ATTEMPTS_MAX, VIEW_POLL_MS } from './limits.js';


type Connect = (url: string, options: ConnectOptions, identity?: ClientIdentity) => Promise<LockClient>;

export class ClusterRouter {
  private view: ClusterView;
  private ring: Rendezvous;
  /** A LockClient per node (the attached one included), connecting or connected. */
  private readonly clients = new Map<string, Promise<LockClient>>();
  /** Per application owner, its owner on each node. */
  private readonly subOwners = new WeakMap<RemoteOwner, Map<string, RemoteOwner>>();
  private refreshing: Promise<void> | null = null;
  private pollTimer: NodeJS.Timeout | null = null;
  private closed = false;
  readonly failover: Failover;

  constructor(
    private readonly attached: LockClient,
    view: ClusterView,
    private readonly options: ConnectOptions,
    private readonly connectTo: Connect,
  ) {
    this.view = view;
    this.ring = ringOf(view);
    this.clients.set(view.node, Promise.resolve(attached));
    this.failover = new Failover({
      view: () => this.view,
      master: (d, r) => this.master(d, r),
      nodeClients: () => this.settled,
      clientOf: (node) => this.clientOf(node),
      ownerOn: (node, owner) => this.ownerOn(node, owner, owner.options),
      retire: (node) => {
        this.clients.delete(node);
        this.settled.delete(node);
      },
      refresh: (generation) => this.refresh(generation),
      report: (r: ReclaimReport) => this.attached.report(r),
    });
    this.settled.set(view.node, attached);
  }

  /** The per-node clients whose connection was made (the failover's; the attached one included). */
  private readonly settled = new Map<string, LockClient>();

  /** R5: a view pushed by a node or fetched; a newer one starts a failover pass. */
  accept(v: ClusterView | null): void {
    if (v === null || v.members.length > MEMBERS_MAX || !/^\d{1,20}$/.test(v.generation)) return;
    if (BigInt(v.generation) <= BigInt(this.view.generation)) return;
    this.view = v;
    this.ring = ringOf(v);
    this.failover.schedule();
  }

  /** A node lost this client's session: its locks are reclaimed where they are mastered now (F1). */
  orphaned(c: LockClient): void {
    this.failover.orphaned(c);
  }

  /** A node revoked a lock of this client (its resource moved, or the node fenced itself): learn the node's view, then move it. */
  moved(c: LockClient, id: number): void {
    const h = c.handles.get(id);
    if (h !== undefined) this.failover.revoked(h, c);
    void this.refreshFrom(c).then(() => this.failover.schedule());
  }

  /** R5: a node this client uses stopped answering: ask the others for views until it is back or gone from the view. */
  away(_c: LockClient): void {
    if (this.pollTimer !== null || this.closed) return;
    this.pollTimer = setInterval(() => {
      if (![...this.settled.values()].some((x) => x.conn.state === 'away')) {
        clearInterval(this.pollTimer!);
        this.pollTimer = null;
        return;
      }
      void this.refresh(undefined, true);
    }, VIEW_POLL_MS);
    this.pollTimer.unref();
  }

  get generation(): string {
    return this.view.generation;
  }

  get members(): readonly string[] {
    return this.view.members.map((m) => m.node);
  }

  /** R1: the node that masters a resource under this client's view. */
  master(domain: string, resource: string): string | null {
    return this.ring.master(resourceKey(domain, resource));
  }

  private async refreshFrom(c: LockClient): Promise<void> {
    try {
      this.accept(await askView(c));
    } catch {
      await this.refresh(undefined);
    }
  }

  /**
   * R2, R5: a view at least as new as `generation`, asked of the nodes this
   * client is connected to; with `others`, of the rest of the members too
   * when none of those answers (the nodes it used may all be down).
   */
  private refresh(generation: string | undefined, others = false): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const ask = async (c: LockClient): Promise<boolean> => {
          if (c.conn.state !== 'ready') return false;
          try {
            this.accept(await askView(c));
          } catch {
            return false; // that node is down: ask the next
          }
          return generation === undefined || BigInt(this.view.generation) >= BigInt(generation);
        };
        for (const c of this.settled.values()) if (await ask(c)) return;
        if (!others) return;
        for (const m of this.view.members) {
          if (this.settled.has(m.node)) continue;
          try {
            if (await ask(await this.clientOf(m.node))) return;
          } catch {
            continue;
          }
        }
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private clientOf(node: string): Promise<LockClient> {
    const known = this.clients.get(node);
    if (known !== undefined) return known;
    const member = this.view.members.find((m) => m.node === node);
    if (member === undefined) return Promise.reject(new LockError('ESTALE', `node ${node} is not in this client's view`));
    if (this.closed) return Promise.reject(new LockError('ECANCELED', 'the client closed'));
    const options = { ...this.options, connectTimeoutMs: Math.min(this.options.connectTimeoutMs ?? MEMBER_CONNECT_TIMEOUT_MS, MEMBER_CONNECT_TIMEOUT_MS) };
    const p = this.connectTo(member.advertise, options, this.attached.identity).then((c) => {
      c.member = this;
      if (this.clients.get(node) === p) this.settled.set(node, c);
      return c;
    });
    this.clients.set(node, p);
    p.catch(() => {
      if (this.clients.get(node) === p) this.clients.delete(node);
    });
    return p;
  }

  private async ownerOn(node: string, owner: RemoteOwner, options: OwnerOptions | undefined): Promise<RemoteOwner> {
    let byNode = this.subOwners.get(owner);
    if (byNode === undefined) this.subOwners.set(owner, (byNode = new Map()));
    const known = byNode.get(node);
    // An owner on a node's earlier client (retired by a failover, perhaps still saying goodbye) is not reused.
    if (known !== undefined && this.settled.get(node) === known.client) return known;
    const c = await this.clientOf(node);
    // Asked for again meanwhile: one owner per node.
    const raced = byNode.get(node);
    if (raced !== undefined && raced.client === c) return raced;
    if (this.settled.get(node) !== c) throw new LockError('ESTALE', `node ${node} left this client's view while it connected`);
    const o = c.directOwner(owner.name, options);
    o.parent = owner;
    byNode.set(node, o);
    return o;
  }

  /**
   * `owner`'s owner on the node that holds `lock`, if it has one there now
   * (on that node's current client); null otherwise. Synchronous: a cached
   * grant passes to another owner of this client in place (cache.ts, C4 and
   * C9) only when that owner is known on the node already.
   */
  ownerHolding(lock: RemoteLock, owner: RemoteOwner): RemoteOwner | null {
    const byNode = this.subOwners.get(owner);
    if (byNode === undefined) return null;
    for (const [node, o] of byNode) if (o.client === lock.owner.client && this.settled.get(node) === o.client) return o;
    return null;
  }

  /** R1, R2: run `op` with the owner on the resource's master, routing again after ESTALE. */
  async run<T>(
    owner: RemoteOwner, options: OwnerOptions | undefined, domain: string, resource: string, op: (o: RemoteOwner) => Promise<T>, posix = false,
  ): Promise<T> {
    let last: LockError | null = null;
    for (let attempt = 0; attempt < ROUTE_ATTEMPTS_MAX; attempt++) {
      if (posix) await this.failover.posixSettled(owner, domain, resource); // F6
      const node = this.master(domain, resource);
      if (node === null) throw new LockError('ESTALE', 'this client knows no cluster member', { domain, resource });
      let sub: RemoteOwner;
      try {
        sub = await this.ownerOn(node, owner, options);
      } catch (err) {
        // R2: the master does not answer: it may be gone (a newer view names another) or only slow (tried again).
        last = err instanceof LockError ? err : new LockError('ESTALE', String(err), { domain, resource });
        const before = this.view.generation;
        await this.refresh(undefined, true);
        if (this.view.generation === before) await new Promise((resolve) => setTimeout(resolve, VIEW_POLL_MS));
        continue;
      }
      try {
        return await op(sub);
      } catch (err) {
        const again = err instanceof LockError && (err.code === 'ESTALE' || (err.code === 'EREVOKED' && err.reason === 'node-moved'));
        if (!again) throw err;
        last = err;
        await this.refresh(err.generation);
      }
    }
    throw last!;
  }

  /** `site`: the caller's request site, captured before routing (the await in `run` loses the caller's frames). */
  lock(
    owner: RemoteOwner, options: OwnerOptions | undefined, domain: string, resource: string, mode: DlmMode, o: LockOptions | undefined, site: string | undefined,
    hook?: (mode: DlmMode) => void,
  ): Promise<RemoteLock> {
    return this.run(owner, options, domain, resource, (sub) => sub.lockAt(site, domain, resource, mode, o, hook));
  }

  setlk(owner: RemoteOwner, options: OwnerOptions | undefined, domain: string, resource: string, rq: PosixRequest, o: SetlkOptions | undefined, site: string | undefined): Promise<SetlkResult | null> {
    return this.run(owner, options, domain, resource, (sub) => sub.setlkAt(site, domain, resource, rq, o), true);
  }

  getlk(owner: RemoteOwner, options: OwnerOptions | undefined, domain: string, resource: string, rq: PosixRequest): Promise<PosixLockInfo | null> {
    return this.run(owner, options, domain, resource, (sub) => sub.getlk(domain, resource, rq));
  }

  /** Every node this owner used releases everything it holds there. */
  async releaseAll(owner: RemoteOwner): Promise<void> {
    const byNode = this.subOwners.get(owner);
    if (byNode === undefined) return;
    for (const [node, o] of byNode) if (this.settled.get(node) !== o.client) byNode.delete(node); // a retired node's: it holds nothing
    await Promise.all([...byNode.values()].map((o) => o.releaseAll()));
  }

  /** The clients of the other nodes close with the attached one. */
  async close(): Promise<void> {
    this.closed = true;
    this.failover.close();
    if (this.pollTimer !== null) clearInterval(this.pollTimer);
    const all = await Promise.allSettled([...this.clients.values()]);
    const others = all.flatMap((r) => (r.status === 'fulfilled' && r.value !== this.attached ? [r.value] : []));
    await Promise.all(others.map((c) => c.conn.close().catch(() => {})));
  }
}

function askView(c: LockClient): Promise<ClusterView | null> {
  return Promise.race([
    c.conn.call('view', () => ({})),
    new Promise<never>((_, reject) => setTimeout(() => reject(new LockError('ETIMEDOUT', 'no view within the deadline')), VIEW_CALL_TIMEOUT_MS).unref()),
  ]);
}

function ringOf(v: ClusterView): Rendezvous {
  return new Rendezvous(v.members.slice(0, MEMBERS_MAX).map((m) => ({ name: m.node, weight: m.weight })));
}
