/**
 * A cluster client's side of failover and handover (server/cluster/README.md,
 * "Failover"): the locks this client holds on a node that died, or that a
 * node stopped mastering (another joined), are reclaimed on their resources'
 * new masters, and the client then tells every member it is done.
 *
 * F1. A lock is served by the node that granted it (R3). When the newest
 *     view shows that node gone, or no longer the resource's master, or the
 *     node lost this client's session, the lock is reclaimed on the
 *     resource's master under that view. Meanwhile its handle stays
 *     `granted`: no one else can be granted a conflicting lock, since the
 *     old master stopped granting it (fence or view) and the new master
 *     grants nothing new on it until its recovery ends; release and convert
 *     wait for the move. A conversion queued on the old master when it died
 *     or handed the resource over fails there (ESTALE, or EREVOKED
 *     `node-moved`); the handle keeps its granted mode, and once the lock has
 *     moved the conversion is asked again of the new master
 *     (remote-lock.ts `afterMove`).
 * F2. A node gone from the view is retired: calls pending there end (a
 *     release as done, anything else ESTALE, which the router sends again to
 *     the new master, so a queued wait is queued there), and its connection
 *     is closed.
 * F3. A reclaim refused "not yet" (EGRACE: the new master waits for its
 *     barrier or is reading whom to wait for; ESTALE: another view; the
 *     connection dropped) is tried again, after a backoff or a newer view,
 *     for at most `FAILOVER_WAIT_MAX_MS`; any other refusal (ENOGRACE: the
 *     recovery is over or the lock did not move; EINVAL: another client
 *     reclaimed a conflicting lock) loses the lock, and the report says so.
 * F4. After a pass under a view it had not handled yet, or that moved
 *     anything, `reclaimComplete` with the view's generation goes to every
 *     member (a node that is not ready answers EGRACE: asked again). A node
 *     that gained resources waits for every client that may have held
 *     something there: every client recorded on a dead node, and every
 *     client a live old master listed, which includes clients whose only
 *     business there was a queued wait (routed again as a new request, not
 *     reclaimed) or a lock released since. Such a client moves nothing, so
 *     every client says it under every new view, moves or not: otherwise a
 *     joiner's recovery, and the grace of the whole cluster with it, waits
 *     out its bound (found by the cluster torture run: a joiner waited for
 *     clients that had only been queued on a moved resource).
 * F5. Passes run one at a time; a view that arrives during a pass is handled
 *     by the next one, which starts from the handles as they are then.
 * F6. A posix request of an owner on a resource whose pieces are moving
 *     waits for the move (posix pieces have no handle to wait on, as a dlm
 *     release does, F1). An unlock that overtook the reclaim of the piece it
 *     unlocks would find nothing on the new master, and the reclaim would
 *     then leave there a piece its owner let go of: every later request on
 *     the range would wait for it (found by the cluster torture run, as
 *     deadlocks between owners that held nothing). Requests already sent
 *     settle (for at most `POSIX_SETTLE_MAX_MS`) before the pieces to move
 *     are read from the mirror, so an unlock answered during the pass is
 *     not moved as a piece (and then reported lost).
 */

import type { LockErrorCode, LossReason } from '../src/errors.js';
import type { LockClient } from './index.js';
import type { ClusterView, ReclaimItem, ReclaimResult, WireError } from './protocol.js';
import { batches, dlmItem, dropPiece, lostOf, send, type ReclaimReport, type Ref } from './reclaim.js';
import type { RemoteLock } from './remote-lock.js';
import type { RemoteOwner } from './remote-owner.js';
import { FAILOVER_RETRY_FIRST_MS, FAILOVER_RETRY_MAX_MS, FAILOVER_WAIT_MAX_MS, POSIX_SETTLE_MAX_MS } from './limits.js';
export { FAILOVER_WAIT_MAX_MS } from './limits.js';

/** Refusals that mean "not yet" (F3). */
const AGAIN: ReadonlySet<LockErrorCode> = new Set(['EGRACE', 'ESTALE', 'ECANCELED', 'ETIMEDOUT', 'EREVOKED']);
/** How a reclaim batch cut short by its connection ends: tried again. */
const CUT_SHORT: WireError = { code: 'ECANCELED', message: 'the connection to the new master was lost during the reclaim' };

/** What the router gives the failover. */
export interface FailoverHost {
  /** The newest view the client has. */
  view(): ClusterView;
  master(domain: string, resource: string): string | null;
  /** The per-node clients connected (or trying to reconnect) now. */
  nodeClients(): Map<string, LockClient>;
  clientOf(node: string): Promise<LockClient>;
  /** The owner standing for the application's owner on `node`. */
  ownerOn(node: string, owner: RemoteOwner): Promise<RemoteOwner>;
  /** Forget the node's client (it is closed by the failover). */
  retire(node: string): void;
  refresh(generation?: string): Promise<void>;
  /** Where reports go (the client the application got). */
  report(r: ReclaimReport): void;
}

type Move = { ref: Ref; reason: LossReason };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** The pause before try number `attempt` + 1 of a reclaim or a `done` (F3, F4). */
const backoff = (attempt: number): number => Math.min(FAILOVER_RETRY_MAX_MS, FAILOVER_RETRY_FIRST_MS * 2 ** Math.min(attempt, 8));

/** A posix resource of one owner to move (F6). */
interface PosixMove { owner: RemoteOwner; domain: string; resource: string; key: string; reason: LossReason }

export class Failover {
  /** Clients whose node lost their session: every lock there is reclaimed (F1). */
  private readonly orphans = new Set<LockClient>();
  /** Handles their node revoked (`node-moved`), with the client of that node: moved whatever the view says (F1). */
  private readonly revokedOn = new Map<RemoteLock, LockClient>();
  /** F6: per application owner, the posix resources (domain NUL resource) whose pieces are moving, and when that ends. */
  private readonly posixMoving = new WeakMap<RemoteOwner, Map<string, Promise<void>>>();
  private running: Promise<void> | null = null;
  private again = false;
  /** F4: a `done` is owed under the newest view. */
  private doneOwed = false;
  /** F4: the generation of the newest view a pass has handled. */
  private handled: string;
  private closed = false;

  constructor(private readonly host: FailoverHost) {
    this.handled = host.view().generation;
  }

  orphaned(c: LockClient): void {
    this.orphans.add(c);
    this.schedule();
  }

  /** The node of client `c` revoked this handle's lock because it no longer masters it, or fenced itself. */
  revoked(h: RemoteLock, c: LockClient): void {
    this.revokedOn.set(h, c);
  }

  /** Run a pass now, or after the one under way (F5). */
  schedule(): void {
    if (this.closed) return;
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.pass();
        } catch {
          this.again = true; // a node went away mid-pass: the next pass starts from what is left
          await sleep(FAILOVER_RETRY_MAX_MS);
        }
      } while (this.again && !this.closed);
      this.running = null;
    })();
  }

  /** F6: settles once no move of this owner's pieces on the resource is under way. */
  async posixSettled(owner: RemoteOwner, domain: string, resource: string): Promise<void> {
    // Each move awaited once: a settled one still in the map (it should not be) must not make this loop spin.
    let done: Promise<void> | undefined;
    for (let p = this.posixMoving.get(owner)?.get(`${domain}\0${resource}`); p !== undefined && p !== done; p = this.posixMoving.get(owner)?.get(`${domain}\0${resource}`)) {
      done = p;
      await p;
    }
  }

  close(): void {
    this.closed = true;
  }

  /** Settles when no pass is running (tests, close). */
  async idle(): Promise<void> {
    let done: Promise<void> | null = null;
    while (this.running !== null && this.running !== done) {
      done = this.running;
      await done;
    }
  }

  private async pass(): Promise<void> {
    const started = Date.now();
    const view = this.host.view();
    const { moves, posixMoves, departed } = this.collect(view);
    // Entries for handles that moved or ended since: their node's revocation is moot.
    for (const [h, c] of this.revokedOn) if (h.owner.client !== c || h.state === 'lost' || h.state === 'released') this.revokedOn.delete(h);
    if (moves.length > 0 || posixMoves.length > 0 || departed || view.generation !== this.handled) this.doneOwed = true;
    this.handled = view.generation;
    if (!this.doneOwed) return;
    const report: ReclaimReport = { epoch: 0, generation: view.generation, reclaimed: 0, lost: [], durationMs: 0 };
    if (moves.length > 0 || posixMoves.length > 0) await this.move(moves, posixMoves, report);
    if (await this.sayDone()) this.doneOwed = false;
    if (moves.length > 0) { // a posix resource whose last piece was unlocked meanwhile moved nothing: no report
      report.durationMs = Date.now() - started;
      this.host.report(report);
    }
  }

  /**
   * What this pass moves under `view`: dlm handles on nodes gone, orphaned
   * or no longer mastering their resource, and posix resources per owner
   * (F6); a departed node's calls end and its connection is retired (F2).
   */
  private collect(view: ClusterView): { moves: Move[]; posixMoves: PosixMove[]; departed: boolean } {
    const members = new Set(view.members.map((m) => m.node));
    const moves: Move[] = [];
    const posixMoves: PosixMove[] = [];
    let departed = false;
    for (const [node, c] of this.host.nodeClients()) {
      const gone = !members.has(node);
      const orphan = this.orphans.delete(c);
      const moving = (domain: string, resource: string): boolean => gone || orphan || this.host.master(domain, resource) !== node;
      const reason: LossReason = orphan && !gone ? 'session-expired' : 'node-failed';
      for (const h of [...c.handles.values()]) {
        // Being released when its node went, or lost this client's session: the release succeeds with the session
        // (the node holds nothing of it any more), so the lock is not moved; a move would leave a lock on the new
        // master that its owner believes released.
        if ((gone || orphan) && h.releasePending) h.markReleased();
        const revoked = this.revokedOn.get(h) === c;
        // Being released on a live node: not moved either. The release ends it there, or is answered ENOENT (the node
        // revoked it as it adopted the view), which releases the handle too; moving it would report a lock "lost" that
        // its owner let go of (found by the cluster torture run).
        if (h.releasePending) continue;
        if ((h.state === 'granted' || h.state === 'converting') && h.moving === null && (revoked || moving(h.domain, h.resource))) {
          this.revokedOn.delete(h);
          moves.push({ ref: { kind: 'dlm', handle: h }, reason });
        }
      }
      // F6: a posix resource moves as a whole per owner, its pieces read from the mirror once the requests in flight
      // there settled (an unlock answered after the pass began must not be moved as a piece).
      for (const o of c.posixOwners) {
        const keys = new Set<string>();
        for (const { domain, resource } of o.posix.requests()) keys.add(`${domain}\0${resource}`);
        for (const key of o.posixPending.keys()) keys.add(key);
        for (const key of keys) {
          const [domain, resource] = key.split('\0') as [string, string];
          if (moving(domain, resource)) posixMoves.push({ owner: o, domain, resource, key, reason });
        }
      }
      if (gone) {
        departed = true;
        // F2: waits there go again to the new masters; the node's connection ends.
        const left = { code: 'ESTALE', message: `node ${node} left the cluster`, generation: view.generation } as WireError;
        c.conn.failPending(left);
        this.host.retire(node);
        // Calls made meanwhile (a retry after EGRACE) end the same way, and are routed again.
        // No goodbye: the node is out of the view, and its session ending must not look like "this client is done there".
        void c.conn.close(left, false);
      }
    }
    return { moves, posixMoves, departed };
  }

  /** Reclaim `moves` (and the posix resources of `posixMoves`, once their requests in flight settled) on their new masters. */
  private async move(moves: Move[], posixMoves: PosixMove[], report: ReclaimReport): Promise<void> {
    let finish!: () => void;
    const moved = new Promise<void>((resolve) => (finish = resolve));
    for (const m of moves) if (m.ref.kind === 'dlm') m.ref.handle.moving = moved;
    const posix: [Map<string, Promise<void>>, string][] = [];
    for (const pm of posixMoves) {
      const o = pm.owner.parent ?? pm.owner;
      let byRes = this.posixMoving.get(o);
      if (byRes === undefined) this.posixMoving.set(o, (byRes = new Map()));
      byRes.set(pm.key, moved);
      posix.push([byRes, pm.key]);
    }
    try {
      // F6: new requests of these owners there wait (posixMoving); those already sent settle first.
      // Bounded: a node that neither answers nor leaves the view must not hold the move up.
      await Promise.race([Promise.all(posixMoves.flatMap((pm) => [...(pm.owner.posixPending.get(pm.key) ?? [])])), sleep(POSIX_SETTLE_MAX_MS)]);
      for (const pm of posixMoves) {
        for (const { domain, resource, request, site } of pm.owner.posix.requests()) {
          if (domain === pm.domain && resource === pm.resource) moves.push({ ref: { kind: 'posix', owner: pm.owner, domain, resource, request, site }, reason: pm.reason });
        }
      }
      await this.reclaimAll(moves, report);
    } finally {
      for (const m of moves) if (m.ref.kind === 'dlm' && m.ref.handle.moving === moved) m.ref.handle.moving = null;
      for (const [byRes, key] of posix) if (byRes.get(key) === moved) byRes.delete(key);
      finish();
    }
  }

  /** F1, F3: every move reclaimed on its master, tried again while refused "not yet". */
  private async reclaimAll(moves: Move[], report: ReclaimReport): Promise<void> {
    const deadline = Date.now() + FAILOVER_WAIT_MAX_MS;
    let left = moves;
    for (let attempt = 0; left.length > 0 && !this.closed; attempt++) {
      const byNode = new Map<string, Move[]>();
      const retry: Move[] = [];
      for (const m of left) {
        const node = this.host.master(...keyOf(m.ref));
        if (node === null) retry.push(m);
        else byNode.set(node, [...(byNode.get(node) ?? []), m]);
      }
      let stale: string | undefined;
      await Promise.all([...byNode].map(async ([node, ms]) => {
        const out = await this.reclaimOn(node, ms);
        for (let i = 0; i < ms.length; i++) {
          const m = ms[i]!;
          const r = out.results[i]!;
          if (!('error' in r)) {
            this.apply(m, out.owners[i]!, r);
            report.reclaimed++;
          } else if (AGAIN.has(r.error.code) && Date.now() < deadline) {
            if (r.error.code === 'ESTALE') stale = (r.error as { generation?: string }).generation ?? '0';
            retry.push(m);
          } else {
            this.lose(m, r.error.code, report);
          }
        }
      }));
      left = retry;
      if (left.length === 0) break;
      if (Date.now() >= deadline) {
        for (const m of left) this.lose(m, 'ETIMEDOUT', report);
        break;
      }
      await sleep(backoff(attempt));
      if (stale !== undefined) await this.host.refresh(stale === '0' ? undefined : stale);
    }
  }

  /** One node's share: sent in batches (reclaim.ts `send`); a batch refused whole gives each of its items the refusal. */
  private async reclaimOn(node: string, ms: Move[]): Promise<{ owners: (RemoteOwner | null)[]; results: ReclaimResult[] }> {
    let c: LockClient;
    let owners: RemoteOwner[];
    try {
      c = await this.host.clientOf(node);
      owners = await Promise.all(ms.map((m) => this.host.ownerOn(node, appOwner(m.ref))));
    } catch (err) {
      const code = (err as { code?: LockErrorCode }).code;
      const e = code !== undefined && AGAIN.has(code) ? { code, message: String((err as Error).message) } as WireError : CUT_SHORT;
      return { owners: ms.map(() => null), results: ms.map(() => ({ error: e })) };
    }
    const refs = ms.map((m) => m.ref);
    const items: ReclaimItem[] = ms.map((m, i) => itemOf(m.ref, owners[i]!.oid));
    const results: ReclaimResult[] = [];
    for (const [a, b] of batches(refs, items)) {
      // No `done` here: a cluster client says it once every lock has moved, with the view's generation (F4).
      const sent = await send(c, refs.slice(a, b), items.slice(a, b), false, new Set(owners.slice(a, b)));
      results.push(...(sent?.results ?? items.slice(a, b).map(() => ({ error: CUT_SHORT }))));
    }
    return { owners, results };
  }

  private apply(m: Move, owner: RemoteOwner | null, r: ReclaimResult): void {
    const ref = m.ref;
    if (ref.kind === 'dlm') {
      if (!('lock' in r)) return;
      if (ref.handle.state !== 'lost' && ref.handle.state !== 'released') ref.handle.moveTo(owner!, r.lock);
      // Released or lost while it moved: the new master holds a lock nobody will release, which would block every
      // later request on the resource (its own owner's included, as a deadlock with itself). Let it go there.
      else void owner!.client.conn.call('release', () => ({ id: r.lock.id }), { onSessionLost: 'succeed' }).catch(() => {});
      return;
    }
    dropPiece(ref);
    owner!.posixApply(ref.domain, ref.resource, ref.request, ref.site);
  }

  private lose(m: Move, code: LockErrorCode, report: ReclaimReport): void {
    const ref = m.ref;
    report.lost.push(lostOf(ref, code));
    if (ref.kind === 'dlm') ref.handle.lose(m.reason);
    else dropPiece(ref);
  }

  /** F4: `done` under the newest view to every member; false when one could not be told in time (owed again). */
  private async sayDone(): Promise<boolean> {
    const view = this.host.view();
    const generation = view.generation;
    const deadline = Date.now() + FAILOVER_WAIT_MAX_MS;
    const told = await Promise.all(view.members.map(async ({ node }) => {
      for (let attempt = 0; Date.now() < deadline && !this.closed; attempt++) {
        if (this.host.view().generation !== generation) return false; // a newer view: the next pass says it again
        try {
          const c = await this.host.clientOf(node);
          await c.conn.call('reclaimComplete', () => ({ generation }), { onSessionLost: CUT_SHORT });
          return true;
        } catch (err) {
          const code = (err as { code?: LockErrorCode }).code;
          if (code !== undefined && !AGAIN.has(code)) return true; // a node that cannot count it never will
          await sleep(backoff(attempt));
        }
      }
      return false;
    }));
    return told.every(Boolean);
  }
}

function keyOf(ref: Ref): [domain: string, resource: string] {
  return ref.kind === 'dlm' ? [ref.handle.domain, ref.handle.resource] : [ref.domain, ref.resource];
}

function appOwner(ref: Ref): RemoteOwner {
  const o = ref.kind === 'dlm' ? ref.handle.owner : ref.owner;
  return o.parent ?? o;
}

function itemOf(ref: Ref, oid: number): ReclaimItem {
  if (ref.kind === 'posix') return { kind: 'posix', oid, domain: ref.domain, resource: ref.resource, request: ref.request };
  return dlmItem(ref.handle, oid);
}
