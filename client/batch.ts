/**
 * One connection's outgoing batch: requests sent in one turn leave together
 * as one `m` message, up to MESSAGE_ITEMS_MAX items and MESSAGE_BYTES_MAX
 * bytes (protocol.ts); and the request sites numbered on the current
 * connection (the first request from a site carries its text and a
 * number, later ones the number alone; the server keeps the text per
 * connection, so a new connection numbers again).
 */

import { MESSAGE_BYTES_MAX, MESSAGE_ITEMS_MAX, SITES_PER_CONNECTION_MAX, type ClientItem } from './protocol.js';
import type { Transport } from './transport.js';

/** batchBytes of a batch with one item, not measured yet. */
const UNSIZED = -1;

export class Batcher {
  /** Requests of this turn, sent as one `m` message at its end (or when a bound is reached). */
  private batch: ClientItem[] = [];
  /** UTF-8 bytes of the batch's messages; UNSIZED while it holds one item not measured yet. */
  private batchBytes = 0;
  /** The connection the batch was built for (its site numbers are that connection's): the transport's generation. */
  private batchGeneration = 0;
  private flushScheduled = false;
  /** Request sites sent on this connection, by text. */
  private sites = new Map<string, number>();
  private readonly flushNow = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  constructor(private readonly link: Transport) {}

  /** A new connection: no numbered sites on the server; a batch built for the old one is stale (its calls go again). */
  newConnection(): void {
    this.sites = new Map();
    this.batch = [];
    this.batchBytes = 0;
  }

  /** The message's own site, and a reclaim's one per item. */
  numberSites(message: unknown): void {
    this.numberSite(message as { site?: string; siteId?: number });
    const items = (message as { items?: unknown }).items;
    if (Array.isArray(items)) for (const item of items) this.numberSite(item as { site?: string; siteId?: number });
  }

  private numberSite(m: { site?: string; siteId?: number }): void {
    if (typeof m.site !== 'string') return;
    const known = this.sites.get(m.site);
    if (known !== undefined) {
      delete m.site;
      m.siteId = known;
    } else if (this.sites.size < SITES_PER_CONNECTION_MAX) {
      m.siteId = this.sites.size + 1;
      this.sites.set(m.site, m.siteId);
    }
  }

  /**
   * Add to this turn's batch; it leaves when the turn ends or a bound is
   * reached. Items are sized only once a second one joins: most turns send
   * one, and sizing means encoding the message once more.
   */
  enqueue(item: ClientItem): void {
    if (this.batch.length > 0) {
      if (this.batchBytes === UNSIZED) this.batchBytes = itemBytes(this.batch[0]!);
      const bytes = itemBytes(item);
      if (this.batch.length >= MESSAGE_ITEMS_MAX || this.batchBytes + bytes > MESSAGE_BYTES_MAX) {
        this.flush();
      } else {
        this.batch.push(item);
        this.batchBytes += bytes;
        return; // the flush is scheduled already
      }
    }
    this.batchGeneration = this.link.generation;
    this.batch.push(item);
    this.batchBytes = UNSIZED;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushNow);
    }
  }

  /** Send this turn's batch now (also before any message sent outside it, to keep the order). */
  flush(): void {
    if (this.batch.length === 0) return;
    const items = this.batch;
    this.batch = [];
    this.batchBytes = 0;
    // Not connected, or connected anew: the calls go again on the next session (onSession); no stale copy may go.
    if (this.link.connected && this.link.generation === this.batchGeneration) this.link.batch(items);
  }
}

/** The UTF-8 size of an item's message as sent. */
function itemBytes(item: ClientItem): number {
  return Buffer.byteLength(JSON.stringify(item[2]));
}
