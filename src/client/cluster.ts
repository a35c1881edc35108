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
 *     to that node, as they would with a single server.
 *
 * Failover (a node dies: its handles reclaimed on the new masters) is the
 * next step; today a handle on a dead node ends as the single-node client's
 * does when its server does not come back.
 */

import type { LockOptions, OwnerOptions, PosixLockInfo, PosixRequest, SetlkOptions, SetlkResult } from '../api.js';
import { LockError } from '../errors.js';
import type { DlmMode } from '../modes.js';
import { Rendezvous, resourceKey } from '../rendezvous.js';
import type { ConnectOptions, LockClient } from './index.js';
import type { ClusterView } from './protocol.js';
import type { RemoteLock } from './remote-lock.js';
import type { RemoteOwner } from './remote-owner.js';

/** How many times a request is routed again after ESTALE before the caller sees it. */
export const ROUTE_ATTEMPTS_MAX = 8;
/** Members a view may name (server/cluster/limits.ts membersMax). */
const MEMBERS_MAX = 64;

type Connect = (url: string, options: ConnectOptions) => Promise<LockClient>;

export class ClusterRouter {
  private view: ClusterView;
  private ring: Rendezvous;
  /** A LockClient per node (the attached one included), connecting or connected. */
  private readonly clients = new Map<string, Promise<LockClient>>();
  /** Per application owner, its owner on each node. */
  private readonly subOwners = new WeakMap<RemoteOwner, Map<string, RemoteOwner>>();
  private refreshing: Promise<void> | null = null;

  constructor(
    private readonly attached: LockClient,
    view: ClusterView,
    private readonly options: ConnectOptions,
    private readonly connectTo: Connect,
  ) {
    this.view = view;
    this.ring = ringOf(view);
    this.clients.set(view.node, Promise.resolve(attached));
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

  private accept(v: ClusterView | null): void {
    if (v === null || v.members.length > MEMBERS_MAX) return;
    if (BigInt(v.generation) <= BigInt(this.view.generation)) return;
    this.view = v;
    this.ring = ringOf(v);
  }

  /** R2: a view at least as new as `generation`, asked of the attached node, then of the others. */
  private refresh(generation: string | undefined): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        for (const c of [this.attached, ...await this.connected()]) {
          try {
            this.accept(await c.conn.call<ClusterView | null>('view', () => ({})));
          } catch {
            continue; // that node is down: ask the next
          }
          if (generation === undefined || BigInt(this.view.generation) >= BigInt(generation)) return;
        }
      } finally {
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }

  private async connected(): Promise<LockClient[]> {
    const all = await Promise.allSettled([...this.clients.values()]);
    return all.flatMap((r) => (r.status === 'fulfilled' && r.value !== this.attached ? [r.value] : []));
  }

  private clientOf(node: string): Promise<LockClient> {
    const known = this.clients.get(node);
    if (known !== undefined) return known;
    const member = this.view.members.find((m) => m.node === node);
    if (member === undefined) return Promise.reject(new LockError('ESTALE', `node ${node} is not in this client's view`));
    const p = this.connectTo(member.advertise, this.options);
    this.clients.set(node, p);
    p.catch(() => this.clients.delete(node));
    return p;
  }

  private async ownerOn(node: string, owner: RemoteOwner, options: OwnerOptions | undefined): Promise<RemoteOwner> {
    let byNode = this.subOwners.get(owner);
    if (byNode === undefined) this.subOwners.set(owner, (byNode = new Map()));
    const known = byNode.get(node);
    if (known !== undefined) return known;
    const o = (await this.clientOf(node)).directOwner(owner.name, options);
    byNode.set(node, o);
    return o;
  }

  /** R1, R2: run `op` with the owner on the resource's master, routing again after ESTALE. */
  async run<T>(owner: RemoteOwner, options: OwnerOptions | undefined, domain: string, resource: string, op: (o: RemoteOwner) => Promise<T>): Promise<T> {
    let last: LockError | null = null;
    for (let attempt = 0; attempt < ROUTE_ATTEMPTS_MAX; attempt++) {
      const node = this.master(domain, resource);
      if (node === null) throw new LockError('ESTALE', 'this client knows no cluster member', { domain, resource });
      try {
        return await op(await this.ownerOn(node, owner, options));
      } catch (err) {
        if (!(err instanceof LockError) || err.code !== 'ESTALE') throw err;
        last = err;
        await this.refresh(err.generation);
      }
    }
    throw last!;
  }

  lock(owner: RemoteOwner, options: OwnerOptions | undefined, domain: string, resource: string, mode: DlmMode, o?: LockOptions): Promise<RemoteLock> {
    return this.run(owner, options, domain, resource, (sub) => sub.lock(domain, resource, mode, o));
  }

  setlk(owner: RemoteOwner, options: OwnerOptions | undefined, domain: string, resource: string, rq: PosixRequest, o?: SetlkOptions): Promise<SetlkResult | null> {
    return this.run(owner, options, domain, resource, (sub) => sub.setlk(domain, resource, rq, o));
  }

  getlk(owner: RemoteOwner, options: OwnerOptions | undefined, domain: string, resource: string, rq: PosixRequest): Promise<PosixLockInfo | null> {
    return this.run(owner, options, domain, resource, (sub) => sub.getlk(domain, resource, rq));
  }

  /** Every node this owner used releases everything it holds there. */
  async releaseAll(owner: RemoteOwner): Promise<void> {
    const byNode = this.subOwners.get(owner);
    if (byNode === undefined) return;
    await Promise.all([...byNode.values()].map((o) => o.releaseAll()));
  }

  /** The clients of the other nodes close with the attached one. */
  async close(): Promise<void> {
    await Promise.all((await this.connected()).map((c) => c.close().catch(() => {})));
  }
}

function ringOf(v: ClusterView): Rendezvous {
  return new Rendezvous(v.members.slice(0, MEMBERS_MAX).map((m) => ({ name: m.node, weight: m.weight })));
}
