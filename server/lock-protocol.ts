/**
 * The lock protocol on one connection: what each client message does,
 * relayed to the session's owner in the core with the client's own
 * request-site stack (request-sites.ts). How a message gets here — alone or
 * in a batch, its role and schema checked, any failure an `{ error }`
 * reply — is dispatch.ts; a handler runs only on a message that passed.
 */

import type { ConvertOptions, DlmLock, LockManager, LockOptions, Owner, SetlkOptions } from '../src/index.js';
import { LockError } from '../src/index.js';
import type { Reply, WireLock } from '../client/protocol.js';
import { ownerBytes, type Budget, type SessionUse } from './budget.js';
import { Dispatch, type AckFn } from './dispatch.js';
import { errorReply } from './errors.js';
import { serverLimits } from './limits.js';
import type { Logger } from './log.js';
import * as M from './messages.js';
import { RequestSites } from './request-sites.js';
import { dropInSlices } from './slices.js';
import { reclaim, reclaimComplete, reclaimMessage } from './reclaim.js';
import type { Recovery } from './recovery.js';
import type { ClusterBinding } from './cluster/binding.js';
import type { Session } from './sessions.js';
import type { Schema } from './validate.js';
import type { LockLink } from './sockets.js';

export interface ProtocolContext {
  lm: LockManager;
  /** Session of every remote dlm lock, by lock id (to route `lost`, and to tell EPERM from ENOENT). */
  lockIndex: Map<number, Session>;
  internalError(err: unknown): void;
  end(session: Session): void;
  /** Restart recovery, when the server keeps a state directory. */
  recovery: Recovery | null;
  /** The cluster this node belongs to (client records in etcd), or null. */
  cluster: ClusterBinding | null;
  log: Logger;
  /** The server's budgets and what each session uses (budget.ts). */
  budget: Budget;
}

export function wireLock(l: DlmLock): WireLock {
  const lvb = l.lvb;
  return {
    id: l.id, domain: l.domain, resource: l.resource, mode: l.mode, range: l.range, state: l.state, token: String(l.token),
    lvb: lvb === null ? null : Buffer.from(lvb).toString('base64'), lvbValid: l.lvbValid, lvbSeq: l.lvbSeq, demoted: l.demoted,
    ...(l.cached ? { tokenLast: String(l.tokenLast) } : {}),
  };
}

function decodeLvb(b64: string | undefined): Uint8Array | undefined {
  return b64 === undefined ? undefined : new Uint8Array(Buffer.from(b64, 'base64'));
}

type Msg<S> = S extends Schema<infer T> ? T : never;

/** The handlers of one connection, one method per message. */
class LockProtocol {
  private readonly lm: LockManager;
  /** What this session may use and has used (budget.ts). */
  private readonly use: SessionUse;
  /** Request sites this connection numbered. */
  private readonly sites: RequestSites;
  private readonly dispatch: Dispatch;
  /** The reclaims of this connection, run one after another (see reclaimInOrder). */
  private reclaimTail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly link: LockLink,
    private readonly session: Session,
    private readonly ctx: ProtocolContext,
  ) {
    this.lm = ctx.lm;
    this.use = ctx.budget.session(session, link.data.principal);
    this.sites = new RequestSites(ctx.budget, this.use);
    this.dispatch = new Dispatch(link, session.id, this.sites, ctx.internalError, ctx.log);
  }

  bind(): void {
    this.dispatch.on('owner', M.ownerMessage, (m, ack) => this.owner(m, ack));
    this.dispatch.on('lock', M.lockMessage, (m, ack) => this.lock(m, ack));
    this.dispatch.on('convert', M.convertMessage, (m, ack) => this.convert(m, ack));
    this.dispatch.on('release', M.releaseMessage, (m, ack) => this.release(m, ack));
    this.dispatch.on('hold', M.holdMessage, (m, ack) => this.hold(m, ack));
    this.dispatch.on('adopt', M.adoptMessage, (m, ack) => {
      // A cached grant passed between two owners of this session (K6): the same lock, now the other owner's.
      const l = this.ownLock(m.id);
      if (!l.cached) throw new LockError('EINVAL', `lock ${m.id} is not a cached grant`);
      this.lm.handOver(l, this.session.owner(m.oid));
      ack?.({ ok: null });
    });
    this.dispatch.on('setlk', M.setlkMessage, (m, ack) => this.setlk(m, ack));
    this.dispatch.on('getlk', M.getlkMessage, async (m, ack) => ack?.({ ok: await this.session.owner(m.oid).getlk(m.domain, m.resource, m.request) }));
    this.dispatch.on('releaseAll', M.ownerRef, (m, ack) => {
      // In slices (rule B5), answered when the last is done; a session expiring meanwhile takes over the rest.
      dropInSlices([this.session.owner(m.oid)], (o, max) => o.releaseSome(max), () => ack?.({ ok: null }), () => this.session.state === 'expired');
    });
    this.dispatch.on('dropOwner', M.ownerRef, (m, ack) => this.dropOwner(m.oid, ack));
    this.dispatch.on('cancel', M.reqRef, (m, ack) => {
      this.session.pending.get(m.req)?.abort();
      ack?.({ ok: null });
    });
    this.dispatch.on('sync', M.syncMessage, (m, ack) => this.sync(m.reqs, ack));
    this.dispatch.on('reclaim', reclaimMessage, (m, ack) => {
      // Tracked like a request, so a reply lost with the connection is sent again on `sync`, not the locks reclaimed twice.
      // Each item's site, resolved now: a number never sent with its text makes the whole message EINVAL.
      const sites = m.items.map((item) => (item.site !== undefined || item.siteId !== undefined ? this.sites.of(item) : null));
      return this.pending(m.req, ack, false, () => this.reclaimInOrder(m.items, sites, m.done === true));
    });
    this.dispatch.on('reclaimComplete', M.reclaimComplete, (m, ack) => {
      reclaimComplete(this.session, this.lm, this.ctx.recovery, this.ctx.cluster, m.generation);
      ack?.({ ok: null });
    });
    this.dispatch.on('ping', M.empty, (_m, ack) => ack?.({ ok: { time: Date.now() } }), null);
    this.dispatch.on('view', M.empty, (_m, ack) => ack?.({ ok: this.ctx.cluster?.clientView() ?? null }), null);
    this.dispatch.on('bye', M.empty, (_m, ack) => {
      ack?.({ ok: null });
      this.ctx.end(this.session);
    }, null);
    this.dispatch.listen();
  }

  /**
   * One reclaim message, after the ones before it on this connection: each
   * item waits for the core (a microtask), so messages run side by side
   * would interleave, and `done` on the last one could arrive before an
   * earlier message's items and get them refused (ENOGRACE: already done).
   */
  private reclaimInOrder(items: Msg<typeof reclaimMessage>['items'], sites: (string | null)[], done: boolean): Promise<unknown> {
    const ctx = this.ctx;
    const rc = { lm: this.lm, recovery: ctx.recovery, cluster: ctx.cluster, log: ctx.log, internalError: ctx.internalError, adopt: (l: DlmLock) => this.own(l) };
    const run = this.reclaimTail.then(async () => {
      const results = await reclaim(this.session, items, sites, rc);
      // In a cluster, `done` comes on its own message, with the view's generation.
      if (done && ctx.cluster === null) reclaimComplete(this.session, this.lm, this.ctx.recovery);
      return results;
    });
    this.reclaimTail = run.catch(() => {});
    return run;
  }

  private ownLock(id: number): DlmLock {
    const l = this.session.locks.get(id);
    if (l !== undefined) return l;
    // Only remote locks are named EPERM: telling in-process locks apart would take a scan per bad id.
    if (this.ctx.lockIndex.has(id)) throw new LockError('EPERM', `lock ${id} belongs to another session`);
    throw new LockError('ENOENT', `no lock ${id} in this session`);
  }

  /** A request that may wait: tracked (for cancel and sync), its reply delivered through the session so a late one survives a reconnect. */
  private async pending<R>(
    req: number, ack: AckFn | null, abortable: boolean | undefined, run: (signal?: AbortSignal) => Promise<R>,
    errorContext?: () => Record<string, unknown>,
  ): Promise<void> {
    const session = this.session;
    if (session.pending.has(req)) throw new LockError('EINVAL', `request ${req} is already pending`);
    if (session.pending.size >= serverLimits.pendingPerSessionMax) {
      throw new LockError('ENOLCK', `limit pendingPerSessionMax (${serverLimits.pendingPerSessionMax}) reached`, { limit: 'pendingPerSessionMax' });
    }
    const controller = abortable === true ? new AbortController() : null;
    session.pending.set(req, controller);
    let reply: Reply<unknown>;
    try {
      reply = { ok: await run(controller?.signal) };
    } catch (err) {
      const r = errorReply(err, this.ctx.internalError);
      if (errorContext !== undefined) Object.assign(r.error, errorContext());
      // The client retries when grace ends: it is told first (recovery.ts).
      if (r.error.code === 'EGRACE') session.heldByGrace = true;
      reply = r;
    } finally {
      session.pending.delete(req);
    }
    session.deliver(this.link, req, ack, reply);
  }

  /** The lock becomes this session's: its `lost` is routed here, and its id is the client's to use. */
  private own(l: DlmLock): void {
    this.session.locks.set(l.id, l);
    this.ctx.lockIndex.set(l.id, this.session);
  }

  private adopt(l: DlmLock): WireLock {
    this.own(l);
    return wireLock(l);
  }

  private owner(msg: Msg<typeof M.ownerMessage>, ack: AckFn | null): void {
    const session = this.session;
    const existing = session.owners.get(msg.oid);
    // Sent again after a reconnect when its reply was lost: the same owner is not an error.
    if (existing !== undefined && existing.name === msg.name) return ack?.({ ok: null });
    if (existing !== undefined) throw new LockError('EINVAL', `owner ${msg.oid} already exists in this session`);
    if (session.owners.size >= serverLimits.ownersPerSessionMax) {
      throw new LockError('ENOLCK', `limit ownersPerSessionMax (${serverLimits.ownersPerSessionMax}) reached`, { limit: 'ownersPerSessionMax' });
    }
    const { client, host, pid } = session.who;
    const meta = { ...msg.meta, client, host, ...(pid === null ? {} : { clientPid: pid }) };
    const bytes = ownerBytes(msg.name, meta);
    this.ctx.budget.addOwner(this.use, bytes); // B3: refused before the owner exists
    let o: Owner;
    try {
      o = this.lm.owner(msg.name, {
        meta, quota: this.use.quota,
        ...(msg.priority === undefined ? {} : { priority: msg.priority }), ...(session.who.clientId === null ? {} : { client: session.who.clientId }),
      });
    } catch (err) {
      this.ctx.budget.dropOwner(this.use, bytes);
      throw err;
    }
    if (msg.gid !== undefined) this.ctx.cluster?.nameOwner(o, msg.gid);
    session.owners.set(msg.oid, o);
    ack?.({ ok: null });
  }

  private lock(msg: Msg<typeof M.lockMessage>, ack: AckFn | null): Promise<void> {
    const owner = this.session.owner(msg.oid);
    const site = this.sites.of(msg);
    const { blocking, abortable, ...rest } = msg.options ?? {};
    const holder = { id: 0, cached: false };
    this.ctx.recovery?.record(this.session);
    const recorded = this.ctx.cluster?.recordClient(this.session.who.clientId, this.session.verifier) ?? null;
    return this.pending(msg.req, ack, abortable, async (signal) => {
      if (recorded !== null) await recorded;
      const options: LockOptions = { ...rest };
      if (signal !== undefined) options.signal = signal;
      // The core calls onBlocking only for a granted lock, after the grant's continuation below has set holder.id.
      // A cached grant is always called back when in the way (client/cache.ts); one made plain (K5) only if asked.
      if (blocking === true || rest.cache === true) {
        options.onBlocking = (mode) => holder.id !== 0 && (blocking === true || holder.cached) && this.session.push('blocking', { id: holder.id, mode });
      }
      const l = await owner.lockAt(site, msg.domain, msg.resource, msg.mode, options);
      holder.id = l.id;
      holder.cached = l.cached;
      return this.adopt(l);
    });
  }

  private convert(msg: Msg<typeof M.convertMessage>, ack: AckFn | null): Promise<void> {
    const l = this.ownLock(msg.id);
    const site = this.sites.of(msg);
    const { lvb, abortable, ...rest } = msg.options ?? {};
    return this.pending(msg.req, ack, abortable, async (signal) => {
      const options: ConvertOptions = { ...rest };
      const bytes = decodeLvb(lvb);
      if (bytes !== undefined) options.lvb = bytes;
      if (signal !== undefined) options.signal = signal;
      const p = l.convertAt(site, msg.mode, options);
      // A queued conversion (possibly demoted to NL) changes the handle before any reply.
      if (l.state === 'converting') this.session.push('update', { id: l.id, mode: l.mode, state: l.state, demoted: l.demoted });
      return wireLock(await p);
    }, () => ({ lock: wireLock(l) })); // with an error, the client's mirror learns the lock's state (old mode, demoted, lost)
  }

  private release(msg: Msg<typeof M.releaseMessage>, ack: AckFn | null): void {
    const l = this.ownLock(msg.id);
    const lvb = decodeLvb(msg.lvb);
    l.release(lvb === undefined ? undefined : { lvb });
    ack?.({ ok: null });
  }

  /** A cached grant's holder about its use (K1 when `confirm`, else the lazy report K4); a lock gone meanwhile is no error. */
  private hold(msg: Msg<typeof M.holdMessage>, ack: AckFn | null): void {
    const l = this.session.locks.get(msg.id);
    if (l !== undefined && l.cached) {
      const site = msg.site !== undefined || msg.siteId !== undefined ? this.sites.of(msg) : null;
      l.reportCacheUse(msg.inUse, msg.user ?? null, site, Date.now());
      if (msg.confirm === true && msg.inUse) l.confirmCache();
    }
    ack?.({ ok: null });
  }

  private setlk(msg: Msg<typeof M.setlkMessage>, ack: AckFn | null): Promise<void> {
    const owner = this.session.owner(msg.oid);
    const site = this.sites.of(msg);
    const { abortable, ...rest } = msg.options ?? {};
    if (msg.request.type !== 'unlock') this.ctx.recovery?.record(this.session);
    const recorded = msg.request.type === 'unlock' ? null : this.ctx.cluster?.recordClient(this.session.who.clientId, this.session.verifier) ?? null;
    return this.pending(msg.req, ack, abortable, async (signal) => {
      if (recorded !== null) await recorded;
      const options: SetlkOptions = { ...rest };
      if (signal !== undefined) options.signal = signal;
      const r = await owner.setlkAt(site, msg.domain, msg.resource, msg.request, options);
      return r === null ? null : { token: String(r.token) };
    });
  }

  private dropOwner(oid: number, ack: AckFn | null): void {
    const o = this.session.owners.get(oid);
    // An owner that still holds (posix pieces outlive the client's object) stays until the session ends.
    const dropped = o !== undefined && o.holding === 0 && o.waiting === 0;
    if (dropped) {
      this.session.owners.delete(oid);
      this.ctx.budget.dropOwner(this.use, ownerBytes(o.name, o.meta));
    }
    ack?.({ ok: { dropped } });
  }

  /**
   * After a reconnect: which of these requests does the server not know? Known ones are answered
   * (again, from the recent replies) or still pending; unknown ones never arrived and the client sends them again.
   */
  private sync(reqs: number[], ack: AckFn | null): void {
    const unknown: number[] = [];
    for (const req of reqs) {
      if (this.session.pending.has(req)) continue;
      const reply = this.session.recent.get(req);
      if (reply !== undefined) this.session.push('reply', { req, reply });
      else unknown.push(req);
    }
    ack?.({ ok: { unknown } });
  }
}

export function bindLockProtocol(link: LockLink, session: Session, ctx: ProtocolContext): void {
  new LockProtocol(link, session, ctx).bind();
}
