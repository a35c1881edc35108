/**
 * Request sites on one connection (README.md, "Request sites"): a request
 * carries the client's own stack, as text with its number (`siteId`) the
 * first time and as the number alone after, and the server's locks share
 * the session's one kept copy of each text. A site is kept, and charged to
 * the session's site budget (budget.ts, B4), before its message is judged,
 * so its number stands for later requests even when the request that
 * brought it was refused.
 *
 * Precondition: a message's sites are kept only once its sender's role may
 * lock (B1: a viewer's refused request keeps nothing); dispatch.ts checks
 * the role first.
 */

import { LockError } from '../src/index.js';
import type { Budget, SessionUse } from './budget.js';
import { serverLimits } from './limits.js';

/** Where requests without a relayed stack say they came from. */
const NO_SITE = '    at <remote client>';

/** Messages that carry a request site (a reclaim, one per item). */
export const SITED: ReadonlySet<string> = new Set(['lock', 'convert', 'setlk', 'reclaim', 'hold']);

/** The sites one connection numbered. */
export class RequestSites {
  /** siteId → the session's kept text: a program asks from a few places, over and over. */
  private readonly sites = new Map<number, string>();

  constructor(private readonly budget: Budget, private readonly use: SessionUse) {}

  /** The message's own site, and a reclaim's one per item. */
  keep(raw: unknown): void {
    this.keepOne(raw);
    const items = (raw as { items?: unknown } | null)?.items;
    if (Array.isArray(items)) for (const item of items.slice(0, serverLimits.reclaimItemsMax)) this.keepOne(item);
  }

  /** A well-formed site is replaced by the session's kept copy (or B4's placeholder), which its number then stands for. */
  private keepOne(raw: unknown): void {
    if (raw === null || typeof raw !== 'object') return;
    const m = raw as { site?: unknown; siteId?: unknown };
    if (typeof m.site !== 'string' || m.site.length > serverLimits.siteCharsMax) return;
    m.site = this.budget.keepSite(this.use, m.site);
    const id = m.siteId;
    if (!Number.isSafeInteger(id) || (id as number) < 1 || (id as number) > serverLimits.sitesPerConnectionMax) return;
    this.sites.set(id as number, m.site as string);
  }

  /** The request's site: its text, or the text its number stands for on this connection. */
  of(msg: { site?: string; siteId?: number }): string {
    if (msg.site !== undefined) return msg.site;
    if (msg.siteId === undefined) return NO_SITE;
    const text = this.sites.get(msg.siteId);
    if (text === undefined) throw new LockError('EINVAL', `siteId ${msg.siteId} was never sent with its text on this connection`);
    return text;
  }
}
