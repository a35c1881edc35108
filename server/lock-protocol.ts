/**
 * The lock protocol on one connection: each client message is checked
 * against its schema (messages.ts) and the caller's role, then relayed to
 * the session's owner in the core with the client's own request-site stack.
 * Every failure becomes an `{ error }` reply here (errors.ts); nothing a
 * client sends can throw out of a handler.
 */

import type { ConvertOptions, DlmLock, LockManager, LockOptions, SetlkOptions } from '../src/index.js';
import { LockError } from '../src/index.js';
import type { Reply, WireLock } from '../src/client/protocol.js';
import { Auth } from './auth.js';
import { errorReply } from './errors.js';
import { serverLimits } from './limits.js';
import * as M from './messages.js';
import type { LockSocket } from './protocol.js';
import type { Session } from './sessions.js';
import type { Schema } from './validate.js';

/** Where requests without a relayed stack say they came from. */
const NO_SITE = '    at <remote client>';

export interface ProtocolContext {
  lm: LockManager;
  /** Session of every remote dlm lock, by lock id (to route `lost`, and to tell EPERM from ENOENT). */
  lockIndex: Map<number, Session>;
  internalError(err: unknown): void;
  end(session: Session): void;
}

type AckFn = (r: Reply<unknown>) => void;

export function wireLock(l: DlmLock): WireLock {
  const lvb = l.lvb;
  return {
    id: l.id, domain: l.domain, resource: l.resource, mode: l.mode, range: l.range, state: l.state, token: String(l.token),
    lvb: lvb === null ? null : Buffer.from(lvb).toString('base64'), lvbValid: l.lvbValid, lvbSeq: l.lvbSeq, demoted: l.demoted,
  };
}

function decodeLvb(b64: string | undefined): Uint8Array | undefined {
  return b64 === undefined ? undefined : new Uint8Array(Buffer.from(b64, 'base64'));
}

export function bindLockProtocol(socket: LockSocket, session: Session, ctx: ProtocolContext): void {
  const { lm } = ctx;
  const principal = socket.data.principal;

  /** Validate, authorize, run; the reply goes through the session so a late one survives a reconnect. */
  function on<T>(event: string, schema: Schema<T>, fn: (msg: T, ack: AckFn | null) => unknown, action: 'lock' | null = 'lock'): void {
    (socket as unknown as { on(e: string, l: (...a: unknown[]) => void): void }).on(event, (raw: unknown, maybeAck: unknown) => {
      const ack = typeof maybeAck === 'function' ? (maybeAck as AckFn) : null;
      let msg: T;
      try {
        msg = schema(raw, event);
        if (action !== null) Auth.require(principal, action);
      } catch (err) {
        ack?.(errorReply(err, ctx.internalError));
        return;
      }
      try {
        const r = fn(msg, ack);
        if (r instanceof Promise) r.catch((err: unknown) => ack?.(errorReply(err, ctx.internalError)));
      } catch (err) {
        ack?.(errorReply(err, ctx.internalError));
      }
    });
  }

  function ownLock(id: number): DlmLock {
    const l = session.locks.get(id);
    if (l !== undefined) return l;
    // Only remote locks are named EPERM: telling in-process locks apart would take a scan per bad id.
    if (ctx.lockIndex.has(id)) throw new LockError('EPERM', `lock ${id} belongs to another session`);
    throw new LockError('ENOENT', `no lock ${id} in this session`);
  }

  /** Track a request that may wait; resolve its reply through the session. */
  async function pendingRequest<R>(
    req: number, ack: AckFn | null, abortable: boolean | undefined, run: (signal?: AbortSignal) => Promise<R>,
    errorContext?: () => Record<string, unknown>,
  ): Promise<void> {
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
      const r = errorReply(err, ctx.internalError);
      if (errorContext !== undefined) Object.assign(r.error, errorContext());
      reply = r;
    } finally {
      session.pending.delete(req);
    }
    session.deliver(socket, req, ack, reply);
  }

  function adopt(l: DlmLock): WireLock {
    session.locks.set(l.id, l);
    ctx.lockIndex.set(l.id, session);
    return wireLock(l);
  }

  on('owner', M.ownerMessage, (msg, ack) => {
    const existing = session.owners.get(msg.oid);
    // Sent again after a reconnect when its reply was lost: the same owner is not an error.
    if (existing !== undefined && existing.name === msg.name) return ack?.({ ok: null });
    if (existing !== undefined) throw new LockError('EINVAL', `owner ${msg.oid} already exists in this session`);
    if (session.owners.size >= serverLimits.ownersPerSessionMax) {
      throw new LockError('ENOLCK', `limit ownersPerSessionMax (${serverLimits.ownersPerSessionMax}) reached`, { limit: 'ownersPerSessionMax' });
    }
    const { client, host, pid } = session.who;
    const meta = { ...msg.meta, client, host, ...(pid === null ? {} : { clientPid: pid }) };
    const o = lm.owner(msg.name, { meta, ...(msg.priority === undefined ? {} : { priority: msg.priority }) });
    session.owners.set(msg.oid, o);
    ack?.({ ok: null });
  });

  on('lock', M.lockMessage, (msg, ack) => {
    const owner = session.owner(msg.oid);
    const { blocking, abortable, ...rest } = msg.options ?? {};
    const holder = { id: 0 };
    return pendingRequest(msg.req, ack, abortable, async (signal) => {
      const options: LockOptions = { ...rest };
      if (signal !== undefined) options.signal = signal;
      // The core calls onBlocking only for a granted lock, after the grant's continuation below has set holder.id.
      if (blocking === true) options.onBlocking = (mode) => holder.id !== 0 && session.push('blocking', { id: holder.id, mode });
      const l = await owner.lockAt(msg.site ?? NO_SITE, msg.domain, msg.resource, msg.mode as never, options);
      holder.id = l.id;
      return adopt(l);
    });
  });

  on('convert', M.convertMessage, (msg, ack) => {
    const l = ownLock(msg.id);
    const { lvb, abortable, ...rest } = msg.options ?? {};
    return pendingRequest(msg.req, ack, abortable, async (signal) => {
      const options: ConvertOptions = { ...rest };
      const bytes = decodeLvb(lvb);
      if (bytes !== undefined) options.lvb = bytes;
      if (signal !== undefined) options.signal = signal;
      const p = l.convert(msg.mode as never, options);
      // A queued conversion (possibly demoted to NL) changes the handle before any reply.
      if (l.state === 'converting') session.push('update', { id: l.id, mode: l.mode, state: l.state, demoted: l.demoted });
      return wireLock(await p);
    }, () => ({ lock: wireLock(l) })); // with an error, the client's mirror learns the lock's state (old mode, demoted, lost)
  });

  on('release', M.releaseMessage, (msg, ack) => {
    const l = ownLock(msg.id);
    const lvb = decodeLvb(msg.lvb);
    l.release(lvb === undefined ? undefined : { lvb });
    ack?.({ ok: null });
  });

  on('setlk', M.setlkMessage, (msg, ack) => {
    const owner = session.owner(msg.oid);
    const { abortable, ...rest } = msg.options ?? {};
    return pendingRequest(msg.req, ack, abortable, async (signal) => {
      const options: SetlkOptions = { ...rest };
      if (signal !== undefined) options.signal = signal;
      const r = await owner.setlkAt(msg.site ?? NO_SITE, msg.domain, msg.resource, msg.request, options);
      return r === null ? null : { token: String(r.token) };
    });
  });

  on('getlk', M.getlkMessage, async (msg, ack) => {
    const info = await session.owner(msg.oid).getlk(msg.domain, msg.resource, msg.request);
    ack?.({ ok: info });
  });

  on('releaseAll', M.ownerRef, (msg, ack) => {
    session.owner(msg.oid).releaseAll();
    ack?.({ ok: null });
  });

  on('dropOwner', M.ownerRef, (msg, ack) => {
    const o = session.owners.get(msg.oid);
    // An owner that still holds (posix pieces outlive the client's object) stays until the session ends.
    const dropped = o !== undefined && o.holding === 0 && o.waiting === 0;
    if (dropped) session.owners.delete(msg.oid);
    ack?.({ ok: { dropped } });
  });

  on('cancel', M.reqRef, (msg, ack) => {
    session.pending.get(msg.req)?.abort();
    ack?.({ ok: null });
  });

  // After a reconnect: which of these requests does the server not know? Known ones are answered
  // (again, from the recent replies) or still pending; unknown ones never arrived and the client sends them again.
  on('sync', M.syncMessage, (msg, ack) => {
    const unknown: number[] = [];
    for (const req of msg.reqs) {
      if (session.pending.has(req)) continue;
      const reply = session.recent.get(req);
      if (reply !== undefined) session.push('reply', { req, reply });
      else unknown.push(req);
    }
    ack?.({ ok: { unknown } });
  });

  on('ping', M.empty, (_msg, ack) => ack?.({ ok: { time: Date.now() } }), null);

  on('bye', M.empty, (_msg, ack) => {
    ack?.({ ok: null });
    ctx.end(session);
  }, null);

  // Events nobody handles: answered EINVAL when they ask for an answer, never thrown.
  const known = new Set(['owner', 'lock', 'convert', 'release', 'setlk', 'getlk', 'releaseAll', 'dropOwner', 'cancel', 'sync', 'ping', 'bye']);
  socket.onAny((event: unknown, ...args: unknown[]) => {
    if (typeof event === 'string' && known.has(event)) return;
    const ack = args.at(-1);
    if (typeof ack === 'function') (ack as AckFn)(errorReply(new LockError('EINVAL', 'unknown message'), ctx.internalError));
  });
}
