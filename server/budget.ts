/**
 * The server's budgets (server/README.md, "Budgets"): what every client
 * together, each principal and each session may make the server keep. The
 * core counts locks and waits (its `locksMax`, `waitsMax` and the quotas in
 * src/quota.ts); this module counts what only the server stores — owners
 * and their metadata, request-site texts — and makes each session's quota
 * inside its principal's.
 *
 * Budget rules (cited from the code as B1…B4):
 *   B1. A request is checked against every budget it would use before
 *       anything is stored for it; a refused one stores nothing.
 *   B2. Locks and waits: a session's quota (`locksPerSessionMax`) inside its
 *       principal's (`locksPerPrincipalMax`), inside the manager's
 *       `locksMax`/`waitsMax` — ENOLCK naming the first one reached.
 *   B3. Owners and their metadata (`ownersMax`, `ownersPerPrincipalMax`,
 *       `metaBytesMax`): charged when the owner is registered, given back
 *       when it is dropped or its session ends.
 *   B4. Request sites are diagnostics: a site over `siteBytesPerSessionMax`
 *       or `siteBytesMax` is not refused but kept as a short placeholder, so
 *       no lock ever fails for the sake of its stack, and the client's site
 *       numbering stays valid. Sites are charged to the session (locks keep
 *       referring to them after the connection that sent them is gone) and
 *       a text already kept by the session is not charged again.
 */

import { LockError, Quota } from '../src/index.js';
import type { Principal } from './auth.js';
import { defaultBudgets, type Budgets } from './limits.js';

/** What one principal uses, across its sessions. */
interface PrincipalUse {
  quota: Quota;
  owners: number;
}

/** What one session uses; given back when it ends. */
export interface SessionUse {
  quota: Quota;
  principal: PrincipalUse;
  owners: number;
  metaBytes: number;
  /** Site texts the session keeps, by text (one string per site however often it is sent). */
  sites: Map<string, string>;
  siteBytes: number;
  released: boolean;
}

/** V8 keeps a string in one or two bytes per character; the budget counts two, plus the Map entry. */
const SITE_OVERHEAD_BYTES = 64;
export function siteBytes(text: string): number {
  return text.length * 2 + SITE_OVERHEAD_BYTES;
}

/**
 * Heap bytes each budgeted item costs, measured (`node --expose-gc
 * bench/security.js measure`, server/README.md "Budgets"), rounded up.
 * Owner metadata is kept parsed, which costs up to ~3× its JSON.
 */
const BYTES_PER = { lock: 500, wait: 800, owner: 300, metaByte: 3, siteByte: 1 } as const;

/** What the budgets allow the server to keep at most, in heap bytes: compared with V8's heap limit at start. */
export function budgetBytes(b: Readonly<Budgets>): number {
  return b.locksMax * BYTES_PER.lock + b.waitsMax * BYTES_PER.wait + b.ownersMax * BYTES_PER.owner
    + b.metaBytesMax * BYTES_PER.metaByte + b.siteBytesMax * BYTES_PER.siteByte;
}

export const SITE_NOT_KEPT = '    at <site not kept: the server\'s site budget is spent>';

export class Budget {
  readonly limits: Readonly<Budgets>;
  owners = 0;
  metaBytes = 0;
  siteBytes = 0;
  /** By `role:name`; bounded by the configured tokens (tokensMax) plus the open-mode principal. */
  private readonly principals = new Map<string, PrincipalUse>();
  private readonly sessions = new WeakMap<object, SessionUse>();

  constructor(limits: Partial<Budgets> = {}) {
    this.limits = Object.freeze({ ...defaultBudgets, ...limits });
  }

  /** The session's use, made on first need (its quota inside its principal's). */
  session(session: object, principal: Principal): SessionUse {
    let use = this.sessions.get(session);
    if (use !== undefined) return use;
    const key = `${principal.role}:${principal.name}`;
    let p = this.principals.get(key);
    if (p === undefined) {
      const b = this.limits;
      p = { quota: new Quota('locksPerPrincipalMax', b.locksPerPrincipalMax, null, b.searchEdgesPerPrincipalPerSecond), owners: 0 };
      this.principals.set(key, p);
    }
    use = { quota: new Quota('locksPerSessionMax', this.limits.locksPerSessionMax, p.quota), principal: p, owners: 0, metaBytes: 0, sites: new Map(), siteBytes: 0, released: false };
    this.sessions.set(session, use);
    return use;
  }

  /** B3: an owner with `bytes` of name and metadata, charged or refused ENOLCK before it is made. */
  addOwner(use: SessionUse, bytes: number): void {
    const b = this.limits;
    if (this.owners >= b.ownersMax) throw full('ownersMax', b.ownersMax);
    if (use.principal.owners >= b.ownersPerPrincipalMax) throw full('ownersPerPrincipalMax', b.ownersPerPrincipalMax);
    if (this.metaBytes + bytes > b.metaBytesMax) throw full('metaBytesMax', b.metaBytesMax);
    this.owners++;
    use.principal.owners++;
    use.owners++;
    this.metaBytes += bytes;
    use.metaBytes += bytes;
  }

  dropOwner(use: SessionUse, bytes: number): void {
    if (use.released) return;
    this.owners--;
    use.principal.owners--;
    use.owners--;
    this.metaBytes -= bytes;
    use.metaBytes -= bytes;
  }

  /** B4: the string to keep for a site text: the session's own copy, the text (charged), or the placeholder. */
  keepSite(use: SessionUse, text: string): string {
    const kept = use.sites.get(text);
    if (kept !== undefined) return kept;
    const bytes = siteBytes(text);
    if (use.released || use.siteBytes + bytes > this.limits.siteBytesPerSessionMax || this.siteBytes + bytes > this.limits.siteBytesMax) return SITE_NOT_KEPT;
    use.sites.set(text, text);
    use.siteBytes += bytes;
    this.siteBytes += bytes;
    return text;
  }

  /** The session ended or expired: its owners, metadata and sites are given back (its locks are the core's to count). */
  release(session: object): void {
    const use = this.sessions.get(session);
    if (use === undefined || use.released) return;
    use.released = true;
    this.owners -= use.owners;
    use.principal.owners -= use.owners;
    this.metaBytes -= use.metaBytes;
    this.siteBytes -= use.siteBytes;
    use.sites.clear();
    use.owners = use.metaBytes = use.siteBytes = 0;
  }
}

function full(limit: string, max: number): LockError {
  return new LockError('ENOLCK', `limit ${limit} (${max}) reached`, { limit });
}

/** What an owner's registration is charged (B3): its name and metadata as JSON, in UTF-8 bytes. */
export function ownerBytes(name: string, meta: unknown): number {
  return Buffer.byteLength(name) + Buffer.byteLength(JSON.stringify(meta ?? null));
}
