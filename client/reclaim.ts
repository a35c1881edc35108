/**
 * The client's replay after a server restart (NFSv4's reclaim: the server
 * kept no locks, the client knows its own; src/README.md, "Grace period and
 * reclaim"): every dlm lock it holds (same mode, range, and value block from PW/EX)
 * and every piece of every owner's posix lock set is sent as a reclaim, in
 * batches, while the connection holds everything else back; the last batch
 * says the client is done (`done: true`; a client with nothing to reclaim,
 * or a server that does not know `done`, sends `reclaimComplete` instead),
 * and the held-back calls go.
 *
 * A reclaimed handle keeps working: the server gave it a new id, which the
 * handle takes (its messages are built when sent, so a release or convert
 * held back meanwhile goes with the new id). A lock the server refused is
 * lost: its handle ends `lost` with reason `node-failed` (its pending
 * conversion fails EREVOKED), a refused posix piece leaves the mirror, and
 * the `reclaim` report names each one.
 *
 * A pass cut short by another restart applies nothing: the next pass starts
 * over from the same handles and mirrors.
 */

import type { PosixRequest, Range } from '../src/api.js';
import type { LockErrorCode } from '../src/errors.js';
import type { LockClient } from './index.js';
import { MESSAGE_BYTES_MAX, MESSAGE_ITEMS_MAX, type ReclaimItem, type ReclaimMessage, type ReclaimResult, type WireError } from './protocol.js';
import type { RemoteLock } from './remote-lock.js';
import type { RemoteOwner } from './remote-owner.js';
import { toBase64 } from './wire.js';

export interface LostLock {
  owner: string;
  domain: string;
  resource: string;
  kind: 'dlm' | 'posix';
  /** dlm: the mode and range held. */
  mode?: string;
  range?: Range | null;
  /** posix: the piece held. */
  request?: PosixRequest;
  /** Why the server refused it: ENOGRACE (grace over, or not a recorded client), EINVAL (another client reclaimed it). */
  code: LockErrorCode;
}

export interface ReclaimReport {
  /** Session epoch of the pass (0: a cluster failover's, see `generation`). */
  epoch: number;
  /** A cluster failover: the generation of the view its locks were reclaimed under. */
  generation?: string;
  reclaimed: number;
  lost: LostLock[];
  durationMs: number;
}


/** How the calls of a pass cut short by another restart end. */
const ABANDONED: WireError = { code: 'ECANCELED', message: 'the server restarted again during the reclaim' };

export type Ref =
  | { kind: 'dlm'; handle: RemoteLock }
  | { kind: 'posix'; owner: RemoteOwner; domain: string; resource: string; request: PosixRequest; site: string | null };

function collect(client: LockClient): { refs: Ref[]; items: ReclaimItem[] } {
  const refs: Ref[] = [];
  const items: ReclaimItem[] = [];
  for (const h of [...client.handles.values()]) {
    // Being released when the server died: the new server never had it, and its release must not go out with a stale id.
    if (h.releasePending) h.markReleased();
    if (h.state !== 'granted' && h.state !== 'converting') continue;
    refs.push({ kind: 'dlm', handle: h });
    items.push(dlmItem(h, h.owner.oid));
  }
  for (const o of client.posixOwners) {
    for (const { domain, resource, request, site } of o.posix.requests()) {
      refs.push({ kind: 'posix', owner: o, domain, resource, request, site });
      items.push({ kind: 'posix', oid: o.oid, domain, resource, request });
    }
  }
  return { refs, items };
}

/** The reclaim of a held dlm lock, by the owner numbered `oid` on the session it goes to. */
export function dlmItem(h: RemoteLock, oid: number): ReclaimItem {
  const item: ReclaimItem = { kind: 'dlm', oid, domain: h.domain, resource: h.resource, mode: h.mode };
  if (h.range !== null) item.range = h.range;
  const lvb = h.lvb;
  // The holder's valid copy of the value block, with its sequence number: the server restores it from a PW/EX copy,
  // else from the newest PR/CW copy (a CR/NL copy may predate a write and is not used, so it is not sent).
  if (h.mode !== 'NL' && h.mode !== 'CR' && h.lvbValid && lvb !== null && lvb.length > 0) {
    item.lvb = toBase64(lvb, 'lvb');
    item.lvbSeq = h.lvbSeq;
  }
  return item;
}

/** The request site a reclaim sends for ref, when it was captured: a dlm lock's own, a posix piece's setlk's. */
function siteOf(ref: Ref): string | null {
  return ref.kind === 'dlm' ? ref.handle.site : ref.site;
}

/**
 * Consecutive slices of at most MESSAGE_ITEMS_MAX items and about
 * MESSAGE_BYTES_MAX bytes of JSON, counting each site text once per slice
 * (the connection sends a text once and its number after: an upper bound).
 */
export function batches(refs: Ref[], items: ReclaimItem[]): [number, number][] {
  const out: [number, number][] = [];
  let from = 0;
  let bytes = 0;
  let sites = new Set<string>();
  for (let i = 0; i < items.length; i++) {
    const site = siteOf(refs[i]!);
    const own = Buffer.byteLength(JSON.stringify(items[i])) + 1 + (site === null ? 0 : SITE_ID_BYTES);
    const text = (): number => (site === null ? 0 : Buffer.byteLength(JSON.stringify(site)) + SITE_KEY_BYTES);
    let size = own + (site === null || sites.has(site) ? 0 : text());
    if (i > from && (i - from >= MESSAGE_ITEMS_MAX || bytes + size > MESSAGE_BYTES_MAX)) {
      out.push([from, i]);
      from = i;
      bytes = 0;
      sites = new Set();
      size = own + text();
    }
    if (site !== null) sites.add(site);
    bytes += size;
  }
  if (from < items.length) out.push([from, items.length]);
  return out;
}

/** `,"siteId":4096` at most, and `,"site":` before a text. */
const SITE_ID_BYTES = 14;
const SITE_KEY_BYTES = 8;

/**
 * Each item's site, as its text: set anew for every send (the connection
 * replaces a text it has sent before by its number, and a resend on a new
 * connection starts the numbering again), or left out.
 */
export function setSites(refs: Ref[], items: ReclaimItem[], on: boolean): void {
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    delete item.siteId;
    const site = on ? siteOf(refs[i]!) : null;
    if (site === null) delete item.site;
    else item.site = site;
  }
}

interface Sent {
  results: ReclaimResult[];
  /** The server took `done` with this batch. */
  done: boolean;
}

/**
 * One batch (the last says `done`); null when the pass was cut short; a
 * whole-batch refusal becomes each item's. A server that refuses the items'
 * sites or `done` (EINVAL: an unknown key, from a version before it)
 * reclaims nothing of the batch, which goes again without them, sites first.
 * `owners`: those the items name, registered first (by default the refs'
 * own; a cluster failover reclaims by the owners on the new master).
 */
export async function send(
  client: LockClient, refs: Ref[], items: ReclaimItem[], done: boolean,
  owners: ReadonlySet<RemoteOwner> = new Set(refs.map((r) => (r.kind === 'dlm' ? r.handle.owner : r.owner))), sitesOn = true,
): Promise<Sent | null> {
  const req = client.conn.nextReq();
  const withSites = sitesOn && refs.some((r) => siteOf(r) !== null);
  try {
    const results = await client.conn.call('reclaim', () => {
      for (const o of owners) o.ensureRegistered();
      setSites(refs, items, withSites);
      const msg: ReclaimMessage = { req, items };
      if (done) msg.done = true;
      return msg;
    }, { req, early: true, onSessionLost: ABANDONED });
    return { results, done };
  } catch (err) {
    const code = (err as { code?: LockErrorCode }).code ?? 'EINVAL';
    if (code === 'ECANCELED') return null;
    if (withSites && code === 'EINVAL') return send(client, refs, items, done, owners, false);
    if (done && code === 'EINVAL') return send(client, refs, items, false, owners, false);
    return { results: items.map(() => ({ error: { code, message: String((err as Error).message) } })), done: false };
  }
}

/** A posix piece that is not held here any more (refused, or reclaimed elsewhere) leaves its owner's mirror. */
export function dropPiece(ref: Extract<Ref, { kind: 'posix' }>): void {
  ref.owner.posixApply(ref.domain, ref.resource, { type: 'unlock', start: ref.request.start, len: ref.request.len });
}

export function lostOf(ref: Ref, code: LockErrorCode): LostLock {
  if (ref.kind === 'posix') return { owner: ref.owner.name, domain: ref.domain, resource: ref.resource, kind: 'posix', request: ref.request, code };
  const h = ref.handle;
  return { owner: h.owner.name, domain: h.domain, resource: h.resource, kind: 'dlm', mode: h.mode, range: h.range, code };
}

/** Apply a finished pass: refused locks are lost first (while handle ids are still the old ones), then handles take their new ids. */
function settle(client: LockClient, refs: Ref[], results: ReclaimResult[], report: ReclaimReport): void {
  const kept: RemoteLock[] = [];
  const granted: { handle: RemoteLock; result: ReclaimResult }[] = [];
  for (let i = 0; i < refs.length; i++) {
    const ref = refs[i]!;
    const r = results[i] ?? { error: ABANDONED };
    if ('error' in r) {
      report.lost.push(lostOf(ref, r.error.code));
      if (ref.kind === 'dlm') ref.handle.lose('node-failed');
      else dropPiece(ref);
      continue;
    }
    report.reclaimed++;
    if (ref.kind === 'dlm') granted.push({ handle: ref.handle, result: r });
  }
  for (const { handle, result } of granted) {
    if ('lock' in result && handle.state !== 'lost' && handle.state !== 'released') {
      handle.reclaimed(result.lock);
      kept.push(handle);
    }
  }
  client.rekey(kept);
}

/** Replay everything `client` holds on the session of `epoch`; null if another restart cut it short. */
export async function replay(client: LockClient, epoch: number): Promise<ReclaimReport | null> {
  // Releases the dead server had were settled as done: let their continuations mark the handles first.
  await new Promise<void>((resolve) => setImmediate(resolve));
  const conn = client.conn;
  if (conn.epoch !== epoch) return null;
  const started = Date.now();
  const { refs, items } = collect(client);
  const slices = batches(refs, items);
  // Sent together; the server handles a connection's reclaims in order, so `done` on the last counts after all of them.
  const parts = await Promise.all(slices.map(([a, b], i) => send(client, refs.slice(a, b), items.slice(a, b), i === slices.length - 1)));
  if (conn.epoch !== epoch || parts.some((p) => p === null)) return null;
  const report: ReclaimReport = { epoch, reclaimed: 0, lost: [], durationMs: 0 };
  settle(client, refs, parts.flatMap((p) => p!.results), report);
  if (!parts.some((p) => p!.done)) {
    try {
      await conn.call('reclaimComplete', () => ({}), { early: true, onSessionLost: ABANDONED });
    } catch {
      if (conn.epoch !== epoch) return null;
    }
  }
  if (conn.epoch !== epoch) return null;
  report.durationMs = Date.now() - started;
  conn.reclaimDone(epoch);
  return report;
}
