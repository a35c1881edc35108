/**
 * Whom a node's recovery waits for, and when it lifts its need (node.ts,
 * rules N4, N5 and N8): the clients expected to reclaim here — recorded on
 * members that left, or listed to this node in handovers — each with the
 * verifier of its secret, the newest view it is expected under and the
 * newest one it said `done` under; after a join, the members whose
 * handover list is still to come; the need's start and bound; and its lift
 * in the grace record.
 *
 * Preconditions: the node adopts views one at a time, and calls `hold`
 * before its first await in a view that gained it resources, so that no
 * record seen meanwhile ends its recovery early; `ready()` says whether the
 * adopted view's barrier has passed (N3: no client can have reclaimed
 * before it).
 */

import { clusterLimits } from './limits.js';
import { inGrace, join, lift, start, type GraceRecord, type GraceStore } from './grace-record.js';
import { parseHandover, type ClientRecords, type ExpectedClient } from './client-records.js';
import type { View } from './membership.js';
import type { NodeRecovery } from './shapes.js';

/** What the wait needs of its node. */
export interface WaitHost {
  readonly node: string;
  /** Longest the need waits for clients that do not come back. */
  readonly graceMs: number;
  readonly grace: GraceStore;
  readonly records: ClientRecords;
  /** The view the node has adopted. */
  view(): View;
  /** N3: the adopted view's barrier has passed and its fresh token block is held. */
  ready(): boolean;
  /** N8: a lift was written; `r` is the record it left. */
  lifted(r: GraceRecord): void;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export class RecoveryWait {
  /** When the need began (0: no need). */
  private since = 0;
  private timer: NodeJS.Timeout | null = null;
  private boundAt: number | null = null;
  /** False from a gain until the clients to wait for have been read (N4): no lift before. */
  private expectationsRead = true;
  /** N4: the clients to wait for, by id, each with its secret's verifier (N5). */
  private readonly expected = new Map<string, string | null>();
  /** N4: the newest generation each expected client is expected under (a later view's list expects it anew). */
  private readonly expectedAt = new Map<string, bigint>();
  /** N4: the newest generation under which each client said it is done. */
  private readonly done = new Map<string, bigint>();
  /** The generation at which this node joined, and the members whose handover list it still waits for (N4). */
  private joinedAt = '0';
  private awaitingHandover = new Set<string>();

  constructor(private readonly h: WaitHost) {}

  /** Whether this node's need is set (it waits for clients, or for its bound). */
  get needed(): boolean {
    return this.since !== 0;
  }

  /** N4: whom this node's recovery still waits for (`GET /api/cluster`). */
  status(): NodeRecovery {
    if (this.since === 0) return { since: null, waitingFor: [], waiting: 0, handoversFrom: [], ready: true, boundAt: null };
    const waiting = [...this.expected.keys()].filter((c) => !this.isDone(c));
    return {
      since: this.since,
      waitingFor: waiting.slice(0, clusterLimits.waitingForShownMax),
      waiting: waiting.length,
      handoversFrom: [...this.awaitingHandover],
      ready: this.expectationsRead && this.h.ready(),
      boundAt: this.boundAt,
    };
  }

  /** A view being adopted gained this node resources: the need holds from now (before any await), and nobody is counted done until the clients are read. */
  hold(): void {
    if (this.since === 0) this.since = Date.now();
    this.expectationsRead = false;
  }

  /** N4: this node gained resources: take part in (or start) the grace, and learn whom to wait for. */
  async begin(v: View, recorded: ExpectedClient[], joinedNow: boolean): Promise<void> {
    const node = this.h.node;
    await this.h.grace.update((r) => (inGrace(r) ? join(r, node) : start(r, node)));
    for (const c of recorded) this.expect(c.id, c.verifier, v.generation);
    if (joinedNow) {
      this.joinedAt = v.generation;
      this.awaitingHandover = new Set(v.members.map((m) => m.node).filter((n) => n !== node));
      await this.readHandovers();
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.liftNow('grace-bound'), this.h.graceMs);
    this.boundAt = Date.now() + this.h.graceMs;
    this.expectationsRead = true;
    this.h.log?.('cluster-need', { node, generation: v.generation, expected: this.expected.size });
    this.maybeLift();
  }

  /**
   * N5, after the node's own checks (a member, in its view, not adopting):
   * may this client reclaim here now? `not-yet` while the clients to wait
   * for are being read, `no` when it is not one of them or presents
   * another secret.
   */
  mayReclaim(client: string, verifier: string | null): 'yes' | 'not-yet' | 'no' {
    if (this.since === 0) return 'no';
    if (!this.expectationsRead || this.awaitingHandover.size > 0) return 'not-yet';
    if (!this.expected.has(client) || this.isDone(client)) return 'no';
    const v = this.expected.get(client) ?? null;
    return v === null || v === verifier ? 'yes' : 'no';
  }

  /** Whether a `done` may be counted now: no need, or the clients read and the barrier passed. */
  countsDone(): boolean {
    return this.since === 0 || (this.expectationsRead && this.h.ready());
  }

  /** N4: `client` said it is done under the view of `generation`. */
  markDone(client: string, generation: string): void {
    const g = BigInt(generation);
    if ((this.done.get(client) ?? -1n) < g) this.done.set(client, g);
    this.maybeLift();
  }

  /** The clients this node still waits for in its recovery (N4): a node that hands resources over passes them on. */
  stillExpected(): ExpectedClient[] {
    if (this.since === 0) return [];
    return [...this.expected].filter(([id]) => !this.isDone(id)).map(([id, verifier]) => ({ id, verifier }));
  }

  /** A handover list written for this node by `from` (read at the join, or from the watch). */
  acceptHandover(from: string, value: Buffer): void {
    const h = parseHandover(value.toString());
    if (h === null || BigInt(h.generation) < BigInt(this.joinedAt)) return; // not a list, or for an earlier life of this node
    for (const c of h.clients) this.expect(c.id, c.verifier, h.generation);
    this.awaitingHandover.delete(from);
  }

  maybeLift(): void {
    if (this.since === 0 || !this.expectationsRead) return;
    this.dropGone();
    if (this.awaitingHandover.size > 0) return;
    for (const c of this.expected.keys()) if (!this.isDone(c)) return;
    if (!this.h.ready()) return; // clients cannot have reclaimed before the barrier
    this.liftNow('all-reclaimed');
  }

  /** N6: a fenced node waits for nobody; it learns anew as a joiner. */
  forget(): void {
    this.clear();
    this.expectationsRead = true;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
  }

  /** Handover lists written for this node since it joined; a member that left owes none. */
  private async readHandovers(): Promise<void> {
    for (const { from, value } of await this.h.records.handoversHere()) this.acceptHandover(from, value);
    this.dropGone();
  }

  /** A member that left the view owes no handover list. */
  private dropGone(): void {
    const members = this.h.view().members;
    for (const n of this.awaitingHandover) if (!members.some((m) => m.node === n)) this.awaitingHandover.delete(n);
  }

  private liftNow(why: string): void {
    if (this.since === 0) return;
    this.clear();
    this.h.log?.('cluster-lift', { node: this.h.node, why });
    // N8: the record as the lift left it decides too: a lift with nothing to write (the record no longer named this
    // node: another node took its flags out, G7) makes no record event, and this node's recovery must end all the same.
    this.h.grace.update((r) => lift(r, this.h.node)).then(
      (r) => this.h.lifted(r),
      (err: Error) => this.h.log?.('cluster-lift-failed', { error: err.message }),
    );
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

  /** This node waits for nobody any more (its need lifted, or forgotten at a fence). */
  private clear(): void {
    this.since = 0;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.boundAt = null;
    this.expected.clear();
    this.expectedAt.clear();
    this.done.clear();
    this.awaitingHandover.clear();
  }
}
