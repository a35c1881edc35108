/**
 * The lock protocol on one connection: each client message is checked
 * against its schema (messages.ts) and the caller's role, then relayed to
 * the session's owner in the core with the client's own request-site stack.
 * Every failure becomes an `{ error }` reply here (errors.ts); nothing a
 * client sends can throw out of a handler.
 */

import type { ConvertOptions, DlmLock, LockManager, LockOptions, Owner, SetlkOptions } from '../src/index.js';
import { LockError } from '../src/index.js';
import { BATCHED_EVENTS } from '../client/protocol.js';
import type { BatchedEvent, ClientToServerEvents, Reply, WireLock } from '../client/protocol.js';
import { Auth } from './auth.js';
import type { Budget, SessionUse } from './budget.js';
import { errorReply } from './errors.js';
import { serverLimits } from './limits.js';
import type { Logger } from './log.js';
import * as M from './messages.js';
import { outboxOf } from './outbox.js';
import { dropInSlices } from './slices.js';
import { reclaim, reclaimComplete, reclaimMessage } from './reclaim.js';
import type { Recovery } from './recovery.js';
import type { ClusterBinding } from './cluster/binding.js';
import type { Session } from './sessions.js';
import type { Schema } from './validate.js';
import type { LockSocket } from './sockets.js';

/** Where requests without a relayed stack say they came from. */
const NO_SITE = '    at <remote client>';

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

/** Answers a request; `ended`: the answer ends a wait (a grant or a failure), sent before other answers (outbox.ts). */
type AckFn = (r: Reply<unknown>, ended?: boolean) => void;

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

/** Every client event but the batch itself (`m`), each with its handler. */
type HandledEvent = Exclude<keyof ClientToServerEvents, 'm'>;

/** The handlers of one connection, one method per message. */
class LockProtocol {
  private readonly lm: LockManager;

  constructor(
    private readonly socket: LockSocket,
    private readonly session: Session,
    private readonly ctx: ProtocolContext,
  ) {
    this.lm = ctx.lm;
    this.use = ctx.budget.session(session, socket.data.principal);
  }

  /** The handlers by event; `m` batches reach the same ones. */
  private readonly handlers = new Map<HandledEvent, (raw: unknown, ack: AckFn | null) => void>();
  /** The reclaims of this connection, run one after another (see reclaimInOrder). */
  private reclaimTail: Promise<unknown> = Promise.resolve();
  /** Request sites this connection numbered (siteId → the session's kept text): a program asks from a few places, over and over. */
  private readonly sites = new Map<number, string>();
  /** What this session may use and has used (budget.ts). */
  private readonly use: SessionUse;

  bind(): void {
    this.on('owner', M.ownerMessage, (m, ack) => this.owner(m, ack));
    this.on('lock', M.lockMessage, (m, ack) => this.lock(m, ack));
    this.on('convert', M.convertMessage, (m, ack) => this.convert(m, ack));
    this.on('release', M.releaseMessage, (m, ack) => this.release(m, ack));
    this.on('hold', M.holdMessage, (m, ack) => this.hold(m, ack));
    this.on('adopt', M.adoptMessage, (m, ack) => {
      // A cached grant passed between two owners of this session (K6): the same lock, now the other owner's.
      const l = this.ownLock(m.id);
      if (!l.cached) throw new LockError('EINVAL', `lock ${m.id} is not a cached grant`);
      this.lm.handOver(l, this.session.owner(m.oid));
      ack?.({ ok: null });
    });
    this.on('setlk', M.setlkMessage, (m, ack) => this.setlk(m, ack));
    this.on('getlk', M.getlkMessage, async (m, ack) => ack?.({ ok: await this.session.owner(m.oid).getlk(m.domain, m.resource, m.request) }));
    this.on('releaseAll', M.ownerRef, (m, ack) => {
      // In slices (rule B5), answered when the last is done; a session expiring meanwhile takes over the rest.
      dropInSlices([this.session.owner(m.oid)], (o, max) => o.releaseSome(max), () => ack?.({ ok: null }), () => this.session.state === 'expired');
    });
    this.on('dropOwner', M.ownerRef, (m, ack) => this.dropOwner(m.oid, ack));
    this.on('cancel', M.reqRef, (m, ack) => {
      this.session.pending.get(m.req)?.abort();
      ack?.({ ok: null });
    });
    this.on('sync', M.syncMessage, (m, ack) => this.sync(m.reqs, ack));
    this.on('reclaim', reclaimMessage, (m, ack) => {
      // Tracked like a request, so a reply lost with the connection is sent again on `sync`, not the locks reclaimed twice.
      // Each item's site, resolved now: a number never sent with its text makes the whole message EINVAL.
      const sites = m.items.map((item) => (item.site !== undefined || item.siteId !== undefined ? this.siteOf(item) : null));
      return this.pending(m.req, ack, false, () => this.reclaimInOrder(m.items, sites, m.done === true));
    });
    this.on('reclaimComplete', M.reclaimComplete, (m, ack) => {
      reclaimComplete(this.session, this.lm, this.ctx.recovery, this.ctx.cluster, m.generation);
      ack?.({ ok: null });
    });
    this.on('ping', M.empty, (_m, ack) => ack?.({ ok: { time: Date.now() } }), null);
    this.on('view', M.empty, (_m, ack) => ack?.({ ok: this.ctx.cluster?.clientView() ?? null }), null);
    this.on('bye', M.empty, (_m, ack) => {
      ack?.({ ok: null });
      this.ctx.end(this.session);
    }, null);
    const outbox = outboxOf(this.socket);
    // The listeners take `unknown`: a client may send anything under an event's name, and the schema judges it.
    for (const [event, handle] of this.handlers) {
      this.socket.on(event, (raw: unknown, maybeAck?: unknown) => {
        const fn = typeof maybeAck === 'function' ? (maybeAck as AckFn) : null;
        handle(raw, fn === null ? null : (r) => outbox.ack(fn, r));
      });
    }
    this.socket.on('m', (raw: unknown) => this.batch(raw));
    // Events nobody handles: answered EINVAL when they ask for an answer, never thrown.
    const handled = new Set<string>([...this.handlers.keys(), 'm']);
    this.socket.onAny((event: unknown, ...args: unknown[]) => {
      if (typeof event === 'string' && handled.has(event)) return;
      const ack = args.at(-1);
      if (typeof ack === 'function') outbox.ack(ack as AckFn, errorReply(new LockError('EINVAL', 'unknown message'), this.ctx.internalError));
    });
  }

  /**
   * A batch: each item goes to its handler as if sent alone, in order, and
   * is answered under its key (0: no answer). A malformed batch is dropped
   * whole (it has no key to answer under); a malformed item gets EINVAL.
   */
  private batch(raw: unknown): void {
    if (!Array.isArray(raw) || raw.length > serverLimits.batchItemsMax) {
      this.ctx.log('warn', 'bad batch', { session: this.session.id, reason: Array.isArray(raw) ? `over ${serverLimits.batchItemsMax} items` : 'not an array' });
      return;
    }
    const outbox = outboxOf(this.socket);
    for (const item of raw) {
      const parsed = batchItem(item);
      if (parsed === null) continue;
      const [key, event, msg] = parsed;
      const ack: AckFn | null = key === 0 ? null : (r, ended) => outbox.reply(key, r, ended);
      const handle = isBatched(event) ? this.handlers.get(event) : undefined;
      if (handle === undefined) ack?.(errorReply(new LockError('EINVAL', `not a message that can be batched: ${String(event).slice(0, 40)}`), this.ctx.internalError));
      else handle(msg, ack);
    }
  }

  /**
   * Authorize, keep the request's sites, validate, run; any failure becomes the `{ error }` reply.
   * Budget rule B1 (budget.ts): nothing is stored for a message its sender's role may not send, so a
   * viewer's lock request costs nothing after its reply. The sites of a message from a role that may
   * lock are kept before the message is judged: the client numbers a site once and refers to it after,
   * so a site first sent with a refused request (a bad field, a full quota) still stands for later ones;
   * what is kept is charged to the session's site budget (B4), which bounds what refusals can cost.
   */
  private on<T>(event: HandledEvent, schema: Schema<T>, fn: (msg: T, ack: AckFn | null) => unknown, action: 'lock' | null = 'lock'): void {
    const fail = (ack: AckFn | null) => (err: unknown): void => ack?.(errorReply(err, this.ctx.internalError));
    const numbersSites = SITED.has(event);
    this.handlers.set(event, (raw, ack) => {
      try {
        if (action !== null) Auth.require(this.socket.data.principal, action);
        if (numbersSites) this.numberSites(raw);
        const msg = schema(raw, event);
        const r = fn(msg, ack);
        if (r instanceof Promise) r.catch(fail(ack));
      } catch (err) {
        fail(ack)(err);
      }
    });
  }

  /** The message's own site, and a reclaim's one per item. */
  private numberSites(raw: unknown): void {
    this.numberSite(raw);
    const items = (raw as { items?: unknown } | null)?.items;
    if (Array.isArray(items)) for (const item of items.slice(0, serverLimits.reclaimItemsMax)) this.numberSite(item);
  }

  /** A well-formed site is replaced by the session's kept copy (or B4's placeholder), which its number then stands for. */
  private numberSite(raw: unknown): void {
    if (raw === null || typeof raw !== 'object') return;
    const m = raw as { site?: unknown; siteId?: unknown };
    if (typeof m.site !== 'string' || m.site.length > serverLimits.siteCharsMax) return;
    m.site = this.ctx.budget.keepSite(this.use, m.site);
    const id = m.siteId;
    if (!Number.isSafeInteger(id) || (id as number) < 1 || (id as number) > serverLimits.sitesPerConnectionMax) return;
    this.sites.set(id as number, m.site as string);
  }

  /** The request's site: its text, or the text its number stands for on this connection. */
  private siteOf(msg: { site?: string; siteId?: number }): string {
    if (msg.site !== undefined) return msg.site;
    if (msg.siteId === undefined) return NO_SITE;
    const text = this.sites.get(msg.siteId);
    if (text === undefined) throw new LockError('EINVAL', `siteId ${msg.siteId} was never sent with its text on this connection`);
    return text;
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
    session.deliver(this.socket, req, ack, reply);
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
    const site = this.siteOf(msg);
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
    const site = this.siteOf(msg);
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
      const site = msg.site !== undefined || msg.siteId !== undefined ? this.siteOf(msg) : null;
      l.reportCacheUse(msg.inUse, msg.user ?? null, site, Date.now());
      if (msg.confirm === true && msg.inUse) l.confirmCache();
    }
    ack?.({ ok: null });
  }

  private setlk(msg: Msg<typeof M.setlkMessage>, ack: AckFn | null): Promise<void> {
    const owner = this.session.owner(msg.oid);
    const site = this.siteOf(msg);
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

/** Messages that carry a request site (a reclaim, one per item). */
const SITED: ReadonlySet<string> = new Set(['lock', 'convert', 'setlk', 'reclaim', 'hold']);

/**
 * What may travel in a batch: requests, an owner's registration (it goes with the owner's first request) and a
 * reclaim (with its owners' registrations: after a restart a client's owners, reclaim and done in one message,
 * answered in one). socket.io's maxHttpBufferSize bounds the whole batch as it did each message.
 */
const BATCHED: ReadonlySet<string> = new Set(BATCHED_EVENTS);

function isBatched(event: unknown): event is BatchedEvent {
  return typeof event === 'string' && BATCHED.has(event);
}

/** A batch item with its key (>= 0), its event and message still to be judged; null: no key, so nowhere to answer. */
function batchItem(item: unknown): [key: number, event: unknown, msg: unknown] | null {
  if (!Array.isArray(item) || item.length !== 3) return null;
  const [key, event, msg]: unknown[] = item;
  return typeof key === 'number' && Number.isSafeInteger(key) && key >= 0 ? [key, event, msg] : null;
}

/** What an owner's registration is charged (B3): its name and metadata as JSON, in UTF-8 bytes. */
function ownerBytes(name: string, meta: unknown): number {
  return Buffer.byteLength(name) + Buffer.byteLength(JSON.stringify(meta ?? null));
}

export function bindLockProtocol(socket: LockSocket, session: Session, ctx: ProtocolContext): void {
  new LockProtocol(socket, session, ctx).bind();
}
