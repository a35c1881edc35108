/**
 * What one remote owner holds in posix domains, as the server confirmed it:
 * per resource, the same piece list the core keeps (ranges.ts, so splitting
 * and merging agree with the server's). Nothing reads it while the server is
 * up; after a restart it is what the owner reclaims, piece by piece.
 */

import type { PosixRequest } from '../api.js';
import { applyRange, type PieceList } from '../ranges.js';

export interface MirroredResource {
  domain: string;
  resource: string;
  pieces: PieceList;
}

export class PosixMirror {
  private readonly byResource = new Map<string, MirroredResource>();

  get empty(): boolean {
    return this.byResource.size === 0;
  }

  /** A setlk the server granted (or an unlock it did). */
  apply(domain: string, resource: string, r: PosixRequest): void {
    const key = `${domain}\u0000${resource}`;
    const entry = this.byResource.get(key);
    const end = r.len === 0 ? Infinity : r.start + r.len;
    const write = r.type === 'unlock' ? null : r.type === 'write';
    if (entry === undefined && write === null) return;
    const pieces = applyRange(entry?.pieces ?? [], r.start, end, write, 0).pieces;
    if (pieces.length === 0) this.byResource.delete(key);
    else if (entry === undefined) this.byResource.set(key, { domain, resource, pieces });
    else entry.pieces = pieces;
  }

  clear(): void {
    this.byResource.clear();
  }

  /** Every held piece as the setlk request that re-establishes it. */
  requests(): { domain: string; resource: string; request: PosixRequest }[] {
    const out: { domain: string; resource: string; request: PosixRequest }[] = [];
    for (const { domain, resource, pieces } of this.byResource.values()) {
      for (const p of pieces) {
        out.push({ domain, resource, request: { type: p.write ? 'write' : 'read', start: p.start, len: p.end === Infinity ? 0 : p.end - p.start } });
      }
    }
    return out;
  }
}
