/**
 * Grace period after a restart or takeover (NFSv4's rules, RFC 8881
 * §8.4.2.1; src/README.md, "Grace period and reclaim"). While grace is in force only reclaims are
 * granted: every other request fails with EGRACE (in-process owners too; the
 * remote client retries by itself). Grace ends at its deadline, is extended a
 * second at a time while reclaims still arrive (never past `maxMs` from its
 * start), is lifted early once every expected client has said it finished
 * reclaiming, and can be lifted by an operator.
 *
 * States: idle → in grace → idle (ended | lifted). A reclaim outside grace, or
 * from a client that already said it is done, fails with ENOGRACE.
 */

import { invalid } from './errors.js';
import type { Limits } from './limits.js';
import type { EngineHost } from './host.js';
import { checkDuration, checkName, checkOptions } from './validate.js';
import type { TimerEntry } from './timers.js';
import type { GraceState } from './shapes.js';

export interface GraceOptions {
  /** How long grace lasts if nobody lifts it (knfsd: 90 s). */
  durationMs: number;
  /** Hard ceiling from the start, extensions included (2 × lease). */
  maxMs: number;
  /** Clients known (from the durable record) to have held locks. */
  clients: readonly string[];
  /** Each reclaim pushes the deadline to at least now + this. Default 1000 ms. */
  extendMs?: number;
}

const GRACE_KEYS = new Set(['durationMs', 'maxMs', 'clients', 'extendMs']);

export function parseGraceOptions(options: unknown, limits: Limits): GraceOptions {
  const o = checkOptions(options, 'options', GRACE_KEYS);
  const durationMs = checkDuration(o?.durationMs, 'options.durationMs', limits.timeoutMsMax);
  const maxMs = checkDuration(o?.maxMs, 'options.maxMs', limits.timeoutMsMax);
  if (durationMs === undefined || maxMs === undefined) throw invalid('options', 'an object with durationMs, maxMs and clients');
  if (!Array.isArray(o!.clients)) throw invalid('options.clients', 'an array of client names', o!.clients);
  const clients = o!.clients.map((c, i) => checkName(c, `options.clients[${i}]`, limits.nameBytesMax));
  const extendMs = checkDuration(o!.extendMs, 'options.extendMs', limits.timeoutMsMax);
  return { durationMs, maxMs, clients, ...(extendMs === undefined ? {} : { extendMs }) };
}

export class Grace implements TimerEntry {
  deadline = 0;
  heapIndex = -1;
  readonly keepAlive = false;
  active = false;
  private startedAt = 0;
  private maxAt = 0;
  private extendMs = 1000;
  private expected = new Set<string>();
  private readonly completed = new Set<string>();
  /** Expected clients not in `completed` yet: grace lifts at 0 (a count, not a scan per completion of a thousand clients). */
  private missingCount = 0;
  private reclaims = 0;
  private ended: GraceState['ended'] = null;

  constructor(private readonly m: EngineHost) {}

  start(o: GraceOptions): void {
    const now = this.m.clock.now();
    this.active = true;
    this.startedAt = now;
    this.maxAt = now + Math.max(o.maxMs, o.durationMs);
    this.extendMs = o.extendMs ?? 1000;
    this.expected = new Set(o.clients);
    this.completed.clear();
    this.missingCount = this.expected.size;
    this.reclaims = 0;
    this.ended = null;
    this.m.timers.add(this, now + o.durationMs);
    this.m.emit('grace', { phase: 'start', state: this.state() });
    if (this.expected.size === 0) this.end('all-reclaimed');
  }

  /** Is a reclaim from `client` allowed now? Null if so, else why not. */
  refuseReclaim(client: string | null): string | null {
    if (!this.active) return 'no grace period is in force';
    if (client === null) return 'only a client known from before the restart can reclaim';
    if (!this.expected.has(client)) return `client ${client} held no locks before the restart`;
    if (this.completed.has(client)) return `client ${client} already said it finished reclaiming`;
    return null;
  }

  /** A reclaim was granted: count it and keep grace open a little longer. */
  reclaimed(): void {
    this.reclaims++;
    const now = this.m.clock.now();
    const want = Math.min(this.maxAt, now + this.extendMs);
    if (want > this.deadline) {
      this.m.timers.add(this, want);
      this.m.emit('grace', { phase: 'extend', state: this.state() });
    }
  }

  /** `client` finished reclaiming (NFS RECLAIM_COMPLETE). Lifts grace when everyone has. */
  complete(client: string): void {
    if (!this.active || this.completed.has(client)) return;
    this.completed.add(client);
    if (this.expected.has(client)) this.missingCount--;
    if (this.missingCount === 0) this.end('all-reclaimed');
  }

  /** Operator: end grace now. */
  lift(): void {
    if (this.active) this.end('lifted');
  }

  fire(): void {
    if (this.active) this.end('deadline');
  }

  private end(how: NonNullable<GraceState['ended']>): void {
    this.active = false;
    this.ended = how;
    this.m.timers.remove(this);
    this.deadline = this.m.clock.now();
    const missing = [...this.expected].filter((c) => !this.completed.has(c));
    this.m.emit('grace', { phase: 'end', state: this.state(), missing });
  }

  state(): GraceState {
    const wall = (t: number) => this.m.toWall(t);
    return {
      active: this.active,
      startedAt: this.ended === null && !this.active ? null : wall(this.startedAt),
      deadline: this.ended === null && !this.active ? null : wall(this.deadline),
      expected: [...this.expected],
      completed: [...this.completed],
      reclaims: this.reclaims,
      ended: this.ended,
    };
  }
}
