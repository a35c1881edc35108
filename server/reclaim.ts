/**
 * The `reclaim` and `reclaimComplete` messages: a client back after a server
 * restart re-establishes what it held, in the grace period, then says it is
 * done (`done: true` on its last reclaim message, or a `reclaimComplete`).
 * Each item is granted at once or refused on its own (ENOGRACE: not a
 * recorded client, or grace is over; EINVAL: it conflicts with another
 * client's reclaim); a refusal is logged, since it means a lock was lost.
 */

import type { DlmLock, LockManager, Owner } from '../src/index.js';
import type { ReclaimedLock, ReclaimItem, ReclaimResult } from '../client/protocol.js';
import { LockError } from '../src/index.js';
import { toWireError } from './errors.js';
import { serverLimits as L } from './limits.js';
import type { Logger } from './log.js';
import type { Recovery } from './recovery.js';
import type { Session } from './sessions.js';
import type { ClusterBinding } from './cluster/binding.js';
import { array, base64, bool, int, num, obj, oneOf, str, union, type Schema } from './validate.js';

/**
 * The line that marks a reclaimed lock's request site: below the stack the
 * client sent with the reclaim (where the lock was first requested), or alone
 * when it sent none (a client without stacks, an older client).
 */
export const RECLAIM_SITE = '    at <reclaimed after a server restart>';

const id = int(1, Number.MAX_SAFE_INTEGER);
const range = obj({ start: num, end: num });
const posixRequest = obj({ type: oneOf(['read', 'write'] as const), start: num, len: num });
const dlmItem = obj(
  {
    kind: oneOf(['dlm'] as const), oid: id, domain: str(), resource: str(), mode: str(8), range, lvb: base64(L.lvbCharsMax), lvbSeq: int(0, Number.MAX_SAFE_INTEGER),
    // Where the lock was first requested, numbered on the connection like a lock request's (request-sites.ts).
    site: str(L.siteCharsMax), siteId: int(1, L.sitesPerConnectionMax),
  },
  ['range', 'lvb', 'lvbSeq', 'site', 'siteId'],
);
const posixItem = obj(
  {
    kind: oneOf(['posix'] as const), oid: id, domain: str(), resource: str(), request: posixRequest,
    // The site of the setlk that set the piece, numbered like a dlm item's.
    site: str(L.siteCharsMax), siteId: int(1, L.sitesPerConnectionMax),
  },
  ['site', 'siteId'],
);

export const reclaimMessage: Schema<{ req: number; items: ReclaimItem[]; done?: boolean }> = obj({
  req: id,
  items: array(union(dlmItem, posixItem) as Schema<ReclaimItem>, L.reclaimItemsMax),
  done: bool,
}, ['done']);

export interface ReclaimContext {
  lm: LockManager;
  recovery: Recovery | null;
  /** In a cluster: reclaims after a failover or a handover (cluster/binding.ts B6), instead of after a restart. */
  cluster: ClusterBinding | null;
  log: Logger;
  internalError(err: unknown): void;
  /** The lock becomes this session's (its handle, `lost` routing). */
  adopt(l: DlmLock): void;
}

/**
 * Every item in order; never throws (a refusal is that item's result).
 * `sites[i]`: item i's request site as the client sent it, or null.
 */
export async function reclaim(session: Session, items: ReclaimItem[], sites: (string | null)[], ctx: ReclaimContext): Promise<ReclaimResult[]> {
  // One string per site for all the locks that name it, marked as reclaimed.
  const marked = new Map<string, string>();
  const markedSite = (site: string | null): string => {
    if (site === null || site === '') return RECLAIM_SITE;
    let text = marked.get(site);
    if (text === undefined) marked.set(site, (text = `${site}\n${RECLAIM_SITE}`));
    return text;
  };
  const out: ReclaimResult[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    try {
      out.push(await reclaimOne(session, item, ctx, markedSite(sites[i] ?? null)));
    } catch (err) {
      const e = toWireError(err, ctx.internalError);
      ctx.log('warn', 'reclaim-refused', {
        session: session.id, client: session.who.clientId, domain: item.domain, resource: item.resource, code: e.code, error: e.message,
      });
      out.push({ error: e });
    }
  }
  return out;
}

async function reclaimOne(session: Session, item: ReclaimItem, ctx: ReclaimContext, site: string): Promise<ReclaimResult> {
  const owner: Owner = session.owner(item.oid);
  if (ctx.cluster !== null) {
    // B6, B5: a client this node waits for, recorded here before the core grants it anything.
    ctx.cluster.checkReclaimer(session.who.clientId, session.verifier, item.domain, item.resource);
    await ctx.cluster.recordClient(session.who.clientId, session.verifier);
  } else if (ctx.recovery === null || !ctx.recovery.mayReclaim(ctx.lm, session)) {
    // The core admits any client's reclaim in grace; only clients the record knows from before the restart may.
    throw new LockError('ENOGRACE', 'no grace period lets this client reclaim', { domain: item.domain, resource: item.resource });
  }
  if (item.kind === 'posix') {
    const r = await owner.setlkAt(site, item.domain, item.resource, item.request, { reclaim: true });
    if (ctx.cluster !== null) ctx.cluster.stats.reclaims++;
    return { token: String(r!.token) };
  }
  const options: { reclaim: true; range?: { start: number; end: number }; lvb?: Uint8Array; lvbSeq?: number } = { reclaim: true };
  if (item.range !== undefined) options.range = item.range;
  if (item.lvb !== undefined) options.lvb = new Uint8Array(Buffer.from(item.lvb, 'base64'));
  if (item.lvbSeq !== undefined) options.lvbSeq = item.lvbSeq;
  const l = await owner.lockAt(site, item.domain, item.resource, item.mode, options);
  ctx.adopt(l);
  if (ctx.cluster !== null) ctx.cluster.stats.reclaims++;
  const lvb = l.lvb;
  const lock: ReclaimedLock = { id: l.id, token: String(l.token) };
  // Only what differs from "no value block, not valid, sequence 0" (a domain without value blocks): a reply for
  // 100 locks is half as long.
  if (lvb !== null) lock.lvb = Buffer.from(lvb).toString('base64');
  if (l.lvbValid) lock.lvbValid = true;
  if (l.lvbSeq !== 0) lock.lvbSeq = l.lvbSeq;
  return { lock };
}

/**
 * The client reclaimed everything it will: grace lifts once every recorded
 * client has said so. Only the recorded client itself counts (its secret),
 * so no one else can end the grace it is owed. In a cluster the client names
 * the view it reclaimed under; EGRACE asks it to say so again later.
 */
export function reclaimComplete(session: Session, lm: LockManager, recovery: Recovery | null, cluster: ClusterBinding | null = null, generation?: string): void {
  if (cluster !== null) cluster.reclaimDone(session.who.clientId, session.verifier, generation);
  else recovery?.reclaimComplete(lm, session);
}
