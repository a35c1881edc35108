/**
 * The dashboard's state: the snapshot the feed sends on subscribing, kept
 * current by the batched events after it. Lock rows live in one map keyed
 * by lock (dlm) or piece (posix), so a batch costs O(events), not O(locks),
 * and the views redraw from here at their own pace. The wait-for graph
 * comes whole with each batch (events do not say who blocks whom).
 */

import type {
  CurrentCycle, DeadlockRecord, DumpRecord, EdgeSnapshot, FeedBatch, FeedEvent, FeedGraph, GraceState, Hang, LockSnapshot, OwnerSnapshot,
  SessionSummary, Snapshot,
} from '../../server/protocol.js';
import { webLimits } from './limits.js';
// The core's own range algebra (no imports, no state), so the table shows exactly the pieces the server holds.
import { applyRange, type Piece } from '../../src/ranges.js';

export interface Row {
  key: string;
  domain: string;
  kind: string;
  resource: string;
  owner: string;
  ownerId: number;
  state: 'granted' | 'converting' | 'waiting';
  mode: string | null;
  requested: string | null;
  range: { start: number; end: number | null } | null;
  /** What an operator breaks (a granted dlm lock) or cancels (a pending request); null when there is none. */
  lockId: number | null;
  waitId: number | null;
  /** In the cluster scope: the node that masters it (the page's own node otherwise). */
  node?: string;
  /** Wall-clock ms: granted at (held rows) or requested at (pending rows); null when unknown. */
  since: number | null;
  stack: string | null;
  /** A cached grant (client/cache.ts): in use or idle as its client last said, and whether it was called back and confirmed. */
  cache?: { inUse: boolean | null; user: string | null; confirmed: boolean };
}

export interface WaitSample {
  time: number;
  ms: number;
}

type PosixSet = { domain: string; resource: string; owner: string; ownerId: number; pieces: Piece[]; node?: string };

export class Model {
  node = '';
  /** The nodes the state comes from: this node, or every member in the cluster scope. */
  nodes: string[] = [];
  rows = new Map<string, Row>();
  domains: { name: string; kind: string; softTimeoutMs: number }[] = [];
  owners = new Map<number, OwnerSnapshot>();
  edges: EdgeSnapshot[] = [];
  cycles: CurrentCycle[] = [];
  deadlocks: DeadlockRecord[] = [];
  hangs = new Map<number, Hang>();
  hangHistory: Hang[] = [];
  grace: GraceState | null = null;
  sessions: SessionSummary[] = [];
  dumps: DumpRecord[] = [];
  waits = new Map<string, WaitSample[]>();
  /** Bumped on every change; views compare it with what they drew last. */
  version = 0;
  graphVersion = 0;
  private posix = new Map<string, PosixSet>();
  /** Pending posix requests by owner and resource, so a grant finds its wait without a scan of every row. */
  private posixWaits = new Map<string, Set<string>>();

  constructor(private readonly now: () => number = () => Date.now()) {}

  applySnapshot(s: Snapshot & { nodes?: string[] }): void {
    this.node = s.node;
    this.nodes = s.nodes ?? [s.node];
    this.rows.clear();
    this.posix.clear();
    this.posixWaits.clear();
    this.domains = s.domains.map((d) => ({ name: d.name, kind: d.kind, softTimeoutMs: d.policy.softTimeoutMs }));
    for (const d of s.domains) {
      for (const r of d.resources) {
        for (const l of [...r.granted, ...r.converting, ...r.waiting]) this.snapshotLock(d.name, d.kind, r.name, l);
      }
    }
    this.owners = new Map(s.owners.map((o) => [o.id, o]));
    this.setGraph({ edges: s.edges, cycles: s.cycles, owners: [] });
    this.deadlocks = s.deadlocks.slice(-webLimits.historyMax);
    this.hangs = new Map(s.hangs.map((h) => [h.id, h]));
    this.hangHistory = s.hangHistory.slice(-webLimits.historyMax);
    this.grace = s.grace;
    this.version++;
  }

  applyBatch(b: FeedBatch): void {
    for (const e of b.events) this.applyEvent(e);
    if (b.graph !== undefined) this.setGraph(b.graph);
    this.version++;
  }

  setSessions(list: SessionSummary[]): void {
    this.sessions = list;
    this.version++;
  }

  setDumps(list: DumpRecord[]): void {
    this.dumps = list;
    this.version++;
  }

  private setGraph(g: FeedGraph): void {
    for (const o of g.owners) this.owners.set(o.id, o);
    this.edges = g.edges;
    this.cycles = g.cycles;
    this.graphVersion++;
  }

  private snapshotLock(domain: string, kind: string, resource: string, l: LockSnapshot): void {
    if (kind === 'posix' && l.state === 'granted') {
      this.posixApply(domain, resource, l.owner, l.ownerId, l.range, l.mode === 'write', Number(l.token), l.grantedAt ?? this.now(), l.node);
      return;
    }
    const key = kind === 'posix' ? `p:${l.id}` : `d:${l.id}`;
    if (kind === 'posix') this.trackWait(domain, resource, l.ownerId, key, true);
    this.rows.set(key, {
      key, domain, kind, resource, owner: l.owner, ownerId: l.ownerId, state: l.state, mode: l.mode, requested: l.requested, range: l.range,
      lockId: kind === 'posix' ? null : l.id, waitId: l.state === 'waiting' ? l.id : null,
      since: l.state === 'granted' ? l.grantedAt : l.requestedAt, stack: l.stack, ...(l.node === undefined ? {} : { node: l.node }),
      ...(l.cache === undefined ? {} : { cache: { inUse: l.cache.inUse, user: l.cache.user, confirmed: l.cache.confirmed } }),
    });
  }

  private applyEvent(e: FeedEvent): void {
    const now = this.now();
    switch (e.event) {
      case 'waiting': return this.onWaiting(e.payload, now);
      case 'granted': return this.onGranted(e.payload, now);
      case 'converted': {
        const r = this.rows.get(`d:${e.payload.id}`);
        if (r !== undefined) Object.assign(r, { state: 'granted', mode: e.payload.mode, requested: null, waitId: null, since: now });
        return this.sample(e.payload.domain, e.payload.waitedMs, now);
      }
      case 'demoted': {
        const r = this.rows.get(`d:${e.payload.id}`);
        if (r !== undefined) r.mode = 'NL';
        return;
      }
      case 'cache-use': {
        const r = this.rows.get(`d:${e.payload.id}`);
        // Its owner too: a cached grant may pass to another owner of its client (K6).
        if (r !== undefined) Object.assign(r, { owner: e.payload.owner, ownerId: e.payload.ownerId, cache: { inUse: e.payload.inUse, user: e.payload.user, confirmed: e.payload.confirmed } });
        return;
      }
      case 'failed': return this.onFailed(e.payload);
      case 'released': return this.onReleased(e.payload, now);
      case 'deadlock': return void pushBounded(this.deadlocks, e.payload);
      case 'hang':
      case 'hang-persistent': return void this.hangs.set(e.payload.id, e.payload);
      case 'hang-resolved':
        this.hangs.delete(e.payload.id);
        return void pushBounded(this.hangHistory, e.payload);
      case 'grace': return void (this.grace = e.payload.state);
      default: return;
    }
  }

  private onWaiting(p: Extract<FeedEvent, { event: 'waiting' }>['payload'], now: number): void {
    const kind = this.kindOf(p.domain);
    if (p.held !== null && kind !== 'posix') {
      const r = this.rows.get(`d:${p.id}`);
      if (r !== undefined) Object.assign(r, { state: 'converting', requested: p.mode, waitId: p.waitId, since: now });
      return;
    }
    const key = kind === 'posix' ? `p:${p.waitId}` : `d:${p.id}`;
    if (kind === 'posix') this.trackWait(p.domain, p.resource, p.ownerId, key, true);
    this.rows.set(key, {
      key, domain: p.domain, kind, resource: p.resource, owner: p.owner, ownerId: p.ownerId, state: 'waiting', mode: null, requested: p.mode,
      range: p.range, lockId: kind === 'posix' ? null : p.id, waitId: p.waitId, since: now, stack: null,
    });
  }

  private onGranted(p: Extract<FeedEvent, { event: 'granted' }>['payload'], now: number): void {
    this.sample(p.domain, p.waitedMs, now);
    if (p.mode === 'read' || p.mode === 'write') {
      // A posix grant ends that owner's wait on the resource, if it had one.
      const setKey = `${p.domain}\u0000${p.resource}\u0000${p.ownerId}`;
      for (const k of this.posixWaits.get(setKey) ?? []) this.rows.delete(k);
      this.posixWaits.delete(setKey);
      this.posixApply(p.domain, p.resource, p.owner, p.ownerId, p.range, p.mode === 'write', Number(p.token), now);
      return;
    }
    const key = `d:${p.id}`;
    const r = this.rows.get(key);
    const row: Row = r ?? {
      key, domain: p.domain, kind: 'dlm', resource: p.resource, owner: p.owner, ownerId: p.ownerId, state: 'granted', mode: p.mode, requested: null,
      range: p.range, lockId: p.id, waitId: null, since: now, stack: null,
    };
    Object.assign(row, { state: 'granted', mode: p.mode, requested: null, waitId: null, since: now });
    // A fresh cached grant is in use by the owner that asked for it.
    if (p.cached === true) row.cache = { inUse: true, user: p.owner, confirmed: false };
    this.rows.set(key, row);
  }

  private onFailed(p: Extract<FeedEvent, { event: 'failed' }>['payload']): void {
    const posix = this.kindOf(p.domain) === 'posix';
    const key = posix ? `p:${p.waitId}` : `d:${p.id}`;
    const r = this.rows.get(key);
    if (r === undefined) return;
    if (r.state === 'converting') Object.assign(r, { state: 'granted', requested: null, waitId: null });
    else if (r.state === 'waiting') this.rows.delete(key);
    if (posix) this.trackWait(p.domain, p.resource, p.ownerId, key, false);
  }

  private onReleased(p: Extract<FeedEvent, { event: 'released' }>['payload'], now: number): void {
    if (p.mode === 'unlock' || this.kindOf(p.domain) === 'posix') {
      const end = p.range === null ? Infinity : (p.range.end ?? Infinity);
      this.posixApply(p.domain, p.resource, p.owner, p.ownerId, { start: p.range?.start ?? 0, end: end === Infinity ? null : end }, null, 0, now);
      return;
    }
    this.rows.delete(`d:${p.id}`);
  }

  /** Set the owner's range to a read or write lock (`write`), or unlock it (null); `token` orders merged pieces as the core does. */
  private posixApply(
    domain: string, resource: string, owner: string, ownerId: number, range: Row['range'], write: boolean | null, token: number, now: number,
    node?: string,
  ): void {
    const setKey = `${domain}\u0000${resource}\u0000${ownerId}`;
    const set = this.posix.get(setKey) ?? { domain, resource, owner, ownerId, pieces: [], ...(node === undefined ? {} : { node }) };
    for (const p of set.pieces) this.rows.delete(`q:${setKey}\u0000${p.start}`);
    set.pieces = applyRange(set.pieces, range?.start ?? 0, range?.end ?? Infinity, write, token, null, now).pieces;
    if (set.pieces.length === 0) this.posix.delete(setKey);
    else this.posix.set(setKey, set);
    for (const p of set.pieces) {
      const key = `q:${setKey}\u0000${p.start}`;
      this.rows.set(key, {
        key, domain, kind: 'posix', resource, owner, ownerId, state: 'granted', mode: p.write ? 'write' : 'read', requested: null,
        range: { start: p.start, end: p.end === Infinity ? null : p.end }, lockId: null, waitId: null, since: p.at, stack: null,
        ...(set.node === undefined ? {} : { node: set.node }),
      });
    }
  }

  private trackWait(domain: string, resource: string, ownerId: number, key: string, on: boolean): void {
    const setKey = `${domain}\u0000${resource}\u0000${ownerId}`;
    const keys = this.posixWaits.get(setKey) ?? new Set<string>();
    if (on) keys.add(key);
    else keys.delete(key);
    if (keys.size === 0) this.posixWaits.delete(setKey);
    else this.posixWaits.set(setKey, keys);
  }

  private sample(domain: string, ms: number, now: number): void {
    let list = this.waits.get(domain);
    if (list === undefined) this.waits.set(domain, (list = []));
    list.push({ time: now, ms });
    if (list.length > webLimits.waitSamplesMax) list.splice(0, list.length - webLimits.waitSamplesMax);
  }

  private kindOf(domain: string): string {
    return this.domains.find((d) => d.name === domain)?.kind ?? 'dlm';
  }
}

function pushBounded<T>(list: T[], item: T): void {
  list.push(item);
  if (list.length > webLimits.historyMax) list.splice(0, list.length - webLimits.historyMax);
}
