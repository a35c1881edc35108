/**
 * What one remote owner holds in posix domains, as the server confirmed it:
 * per resource, the same piece list the core keeps (ranges.ts, so splitting
 * and merging agree with the server's). Nothing reads it while the server is
 * up; after a restart it is what the owner reclaims, piece by piece, each
 * with the request site of the setlk that set it (where pieces merge, the
 * newer one's, as on the server).
 */

import type { PosixRequest } from '../src/api.js';
import { applyRange, type PieceList } from '../src/ranges.js';

export interface MirroredResource {
  domain: string;
  resource: string;
  pieces: PieceList;
}

/** A piece's `stack` in the mirror: the site text the client captured, not a V8 holder. */
interface SiteHolder {
  site: string;
}

export class PosixMirror {
  private readonly byResource = new Map<string, MirroredResource>();
  /** Stands in for the fencing token in the pieces: the newer grant's site wins a merge. */
  private seq = 0;

  get empty(): boolean {
    return this.byResource.size === 0;
  }

  /** A setlk the server granted (or an unlock it did); `site`: where it was requested, if captured. */
  apply(domain: string, resource: string, r: PosixRequest, site: string | null = null): void {
    const key = `${domain}\u0000${resource}`;
    const entry = this.byResource.get(key);
    const end = r.len === 0 ? Infinity : r.start + r.len;
    const write = r.type === 'unlock' ? null : r.type === 'write';
    if (entry === undefined && write === null) return;
    const holder: SiteHolder | null = site === null ? null : { site };
    const pieces = applyRange(entry?.pieces ?? [], r.start, end, write, ++this.seq, holder).pieces;
    if (pieces.length === 0) this.byResource.delete(key);
    else if (entry === undefined) this.byResource.set(key, { domain, resource, pieces });
    else entry.pieces = pieces;
  }

  clear(): void {
    this.byResource.clear();
  }

  /** Every held piece as the setlk request that re-establishes it, with its site (null: none captured). */
  requests(): { domain: string; resource: string; request: PosixRequest; site: string | null }[] {
    const out: { domain: string; resource: string; request: PosixRequest; site: string | null }[] = [];
    for (const { domain, resource, pieces } of this.byResource.values()) {
      for (const p of pieces) {
        const request: PosixRequest = { type: p.write ? 'write' : 'read', start: p.start, len: p.end === Infinity ? 0 : p.end - p.start };
        out.push({ domain, resource, request, site: (p.stack as SiteHolder | null)?.site ?? null });
      }
    }
    return out;
  }
}
