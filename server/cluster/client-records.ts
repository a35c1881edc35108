/**
 * The cluster's records, in etcd, of whom a recovery waits for (README.md,
 * "Failover"; node.ts rules N4 and N7, binding.ts rule B5):
 *
 *   clients/<node>/<client>  a client that may hold locks mastered on
 *                            <node>, with its session secret's verifier
 *                            (`-`: none); written before its first request
 *                            reaches the core, and attached to no lease, so
 *                            that the survivors of <node> can read it
 *   moved/<to>/<from>        the clients <from> listed for <to> when it
 *                            handed resources over, under a view's generation
 *
 * Written, read and forgotten here (N7: those of members that left, once
 * the grace has ended, by one member); when they are written and read, and
 * what they mean, is node.ts's and recovery-wait.ts's. Precondition: every
 * call has a deadline (etcd.ts, E1) and may fail with EETCD; the caller
 * decides what a failure means.
 */

import type { Etcd3 } from 'etcd3';
import { etcdCall } from './etcd.js';

/** A client a node waits for in a recovery (N4), with the verifier of its session secret (null: not known). */
export interface ExpectedClient {
  id: string;
  verifier: string | null;
}

/** A handover list (`moved/<to>/<from>`): the clients to wait for, listed under the view of `generation`. */
export interface Handover {
  generation: string;
  clients: ExpectedClient[];
}

/** One node's access to the records, under the cluster's key prefix. */
export class ClientRecords {
  /** N7: views in which members left, whose client records are forgotten once the grace has ended. */
  private readonly departedViews: { generation: string; nodes: string[] }[] = [];
  private forgetting = false;

  constructor(
    private readonly etcd: Etcd3,
    /** `/lockscope/<cluster>/` */
    private readonly prefix: string,
    private readonly node: string,
    private readonly log?: (event: string, fields: Record<string, unknown>) => void,
  ) {}

  /** Where the lists handed to this node are (`moved/<node>/`, then the sender's name). */
  get handoversPrefix(): string {
    return `${this.prefix}moved/${this.node}/`;
  }

  /** Record that `client` holds locks mastered here (before its first lock request reaches the core), with its secret's verifier. */
  async record(client: string, verifier: string | null): Promise<void> {
    const key = `${this.prefix}clients/${this.node}/${client}`;
    await etcdCall('record a client', () => this.etcd.put(key).value(verifier ?? '-').exec());
  }

  async forget(client: string): Promise<void> {
    await etcdCall('forget a client', () => this.etcd.delete().key(`${this.prefix}clients/${this.node}/${client}`).exec());
  }

  /** N4: a live node that lost resources to `to` lists their holders for it (an empty list too). */
  async handOver(to: string, generation: string, clients: ExpectedClient[]): Promise<void> {
    const key = `${this.prefix}moved/${to}/${this.node}`;
    await etcdCall('list handed-over clients', () => this.etcd.put(key).value(JSON.stringify({ generation, clients })).exec());
  }

  /**
   * N4: the clients recorded on members that left (`clients/<node>/…`), and
   * those listed to them in handovers (`moved/<node>/…`): a client moving a
   * lock to a node that dies before the client reclaimed there is recorded
   * nowhere else, and its lock must not be lost with that node (found by the
   * cluster torture run with pauses and kills). Lists of an earlier life only
   * add clients to wait for (bounded).
   */
  async recordedOn(departed: string[]): Promise<ExpectedClient[]> {
    const out: ExpectedClient[] = [];
    for (const d of departed) {
      const res = await etcdCall('read a departed node\'s clients', () => this.etcd.getAll().prefix(`${this.prefix}clients/${d}/`).strings());
      for (const [k, val] of Object.entries(res)) out.push({ id: k.slice(k.lastIndexOf('/') + 1), verifier: val === '-' || val === '1' ? null : val });
      const lists = await etcdCall('read the lists handed to a departed node', () => this.etcd.getAll().prefix(`${this.prefix}moved/${d}/`).strings());
      for (const value of Object.values(lists)) out.push(...(parseHandover(value)?.clients ?? []));
    }
    return out;
  }

  /** The handover lists written for this node, each with the member that wrote it. */
  async handoversHere(): Promise<{ from: string; value: Buffer }[]> {
    const prefix = this.handoversPrefix;
    const res = await etcdCall('read handover lists', () => this.etcd.getAll().prefix(prefix).exec());
    return res.kvs.map((kv) => ({ from: kv.key.toString().slice(prefix.length), value: kv.value }));
  }

  /** N7: members left in the view of `generation`; their records are forgotten after the grace (forgetDeparted). */
  departed(generation: string, nodes: string[]): void {
    this.departedViews.push({ generation, nodes });
  }

  /**
   * N7. The records of members that left in a view are forgotten once the
   * cluster's grace has ended, by one member (the first by name, `first`):
   * every member of that view read them before it said it adopted the view,
   * and passed the clients on, so nobody needs them any more; kept, they
   * would make a later failover of the same node wait to its bound for
   * clients long gone. Only records written at or before the view's
   * revision go: a node back as a new member records its clients anew,
   * after it.
   */
  forgetDeparted(first: boolean): void {
    if (this.departedViews.length === 0 || this.forgetting) return;
    if (!first) {
      this.departedViews.length = 0; // another member forgets them
      return;
    }
    const views = this.departedViews.splice(0);
    this.forgetting = true;
    this.forgetViews(views).catch((err) => this.log?.('cluster-forget-failed', { error: (err as Error).message }))
      .finally(() => {
        this.forgetting = false;
      });
  }

  /** Each view's departed members' records and the lists handed to them, each delete guarded by the record's mod revision (E2). */
  private async forgetViews(views: { generation: string; nodes: string[] }[]): Promise<void> {
    for (const { generation, nodes } of views) {
      for (const d of nodes) {
        const records = await etcdCall('list a departed node\'s clients', () => this.etcd.getAll().prefix(`${this.prefix}clients/${d}/`).exec());
        const lists = await etcdCall('list the lists handed to a departed node', () => this.etcd.getAll().prefix(`${this.prefix}moved/${d}/`).exec());
        for (const kv of [...records.kvs, ...lists.kvs]) {
          if (BigInt(kv.mod_revision) > BigInt(generation)) continue; // a later life's record
          const key = kv.key.toString();
          await etcdCall('forget a departed node\'s client', () => this.etcd.if(key, 'Mod', '==', kv.mod_revision).then(this.etcd.delete().key(key)).commit());
        }
      }
    }
  }
}

/** A handover list (`moved/<to>/<from>`) as written by handOver, or null when the value is not one. */
export function parseHandover(value: string): Handover | null {
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
