/**
 * A driver for random dlm operation sequences: generates the operations
 * (fast-check arbitraries) and plays them against a LockManager on a
 * FakeClock, keeping every request it made and every handle it was granted.
 * Ops name handles and requests by a number taken modulo what exists at the
 * time, so every generated sequence is playable and shrinks well.
 */

import fc from 'fast-check';
import { FakeClock, LockManager, type LockHandle, type Owner, type Snapshot, type WaitingEvent } from '../../src/index.js';
import { flush, resources, Tracked, type Mode } from './support.js';

export const DOMAIN = 'd';
export const RESOURCES = ['r0', 'r1', 'r2'] as const;

export interface WorldShape {
  ranges: boolean;
  owners: number;
  resources: number;
  /** Include conversions, alt modes, expedite, quecvt and conversion-deadlock policies. */
  rich: boolean;
  convDeadlock?: 'error' | 'demote' | 'notify';
  /** Deadlock detection in the domain (default on, with victim 'requester'); off where a property is about grant order alone. */
  detect?: boolean;
}

export type DlmOp =
  | {
      kind: 'lock'; owner: number; res: number; mode: Mode; range: { start: number; end: number } | null;
      noQueue: boolean; timeoutMs: number | null; alt: 'PR' | 'CW' | null; expedite: boolean; abortable: boolean;
    }
  | { kind: 'convert'; pick: number; mode: Mode; noQueue: boolean; timeoutMs: number | null; quecvt: boolean; convDeadlock: 'error' | 'demote' | 'notify' | null }
  | { kind: 'release'; pick: number }
  | { kind: 'releaseAll'; owner: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'abort'; pick: number };

const timeoutArb = fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(0, 5, 20) });
/** Biased towards the restrictive modes, so queues form. */
const modeArb = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom<Mode[]>('NL', 'CR') },
  { weight: 2, arbitrary: fc.constantFrom<Mode[]>('CW', 'PW') },
  { weight: 3, arbitrary: fc.constantFrom<Mode[]>('PR', 'EX') },
);
const rareBool = fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) });

export function dlmOps(shape: WorldShape, maxLength = 30): fc.Arbitrary<DlmOp[]> {
  const rangeArb = shape.ranges
    ? fc.oneof(
        { weight: 1, arbitrary: fc.constant(null) },
        { weight: 5, arbitrary: fc.tuple(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 1, max: 6 })).map(([start, len]) => ({ start, end: start + len })) },
      )
    : fc.constant(null);
  const lock = fc.record({
    kind: fc.constant('lock' as const),
    owner: fc.nat(shape.owners - 1),
    res: fc.nat(shape.resources - 1),
    mode: modeArb,
    range: rangeArb,
    noQueue: rareBool,
    timeoutMs: timeoutArb,
    alt: shape.rich ? fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom('PR' as const, 'CW' as const) }) : fc.constant(null),
    expedite: shape.rich ? rareBool : fc.constant(false),
    abortable: rareBool,
  });
  const convert = fc.record({
    kind: fc.constant('convert' as const),
    pick: fc.nat(20),
    mode: modeArb,
    noQueue: rareBool,
    timeoutMs: timeoutArb,
    quecvt: rareBool,
    convDeadlock: fc.constantFrom(null, ...(shape.convDeadlock === undefined ? (['error', 'demote', 'notify'] as const) : [shape.convDeadlock])),
  });
  const others = [
    { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), pick: fc.nat(20) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('releaseAll' as const), owner: fc.nat(shape.owners - 1) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.constantFrom(1, 5, 10, 30) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick: fc.nat(20) }) },
  ];
  const ops: fc.Arbitrary<DlmOp> = shape.rich
    ? fc.oneof({ weight: 5, arbitrary: lock }, { weight: 3, arbitrary: convert }, ...others)
    : fc.oneof({ weight: 5, arbitrary: lock }, ...others);
  return fc.array(ops, { minLength: 1, maxLength, size: 'max' });
}

export interface Request {
  seq: number;
  kind: 'lock' | 'convert';
  owner: number;
  resource: string;
  mode: Mode;
  /** Lock id: from the waiting event or the handle (lock), the converted handle's id (convert). */
  lockId: number | null;
  /** A `waiting` event was emitted for it. */
  queued: boolean;
  tracked: Tracked<LockHandle>;
  controller: AbortController | null;
}

export class DlmWorld {
  readonly clock = new FakeClock();
  readonly lm: LockManager;
  readonly owners: Owner[];
  readonly handles: LockHandle[] = [];
  readonly requests: Request[] = [];
  /** Alternative mode each lock id falls back to (set at lock time; conversions reuse it). */
  readonly altById = new Map<number, Mode>();
  /** Lock id being converted while convert() runs, so a listener can tie the `waiting` event to it. */
  converting: number | null = null;
  private readonly ownerOf = new Map<number, number>();
  private lastWaiting: WaitingEvent | null = null;

  constructor(readonly shape: WorldShape) {
    const domain = {
      name: DOMAIN, kind: 'dlm' as const, ranges: shape.ranges, deadlock: shape.detect ?? true,
      ...(shape.convDeadlock ? { convDeadlock: shape.convDeadlock } : {}),
    };
    this.lm = new LockManager({ node: 'prop', clock: this.clock, stacks: 'off', domains: [domain] });
    this.owners = Array.from({ length: shape.owners }, (_, i) => this.lm.owner(`o${i}`));
    this.lm.on('waiting', (e) => {
      this.lastWaiting = e;
    });
  }

  /** Handles whose lock is held (granted or converting), in the order they were granted. */
  live(): LockHandle[] {
    return this.handles.filter((h) => h.state === 'granted' || h.state === 'converting');
  }

  pending(): Request[] {
    return this.requests.filter((r) => r.tracked.pending);
  }

  snapshot(): Snapshot {
    return this.lm.snapshot();
  }

  resourcesNow(): ReturnType<typeof resources> {
    return resources(this.lm.snapshot(), DOMAIN);
  }

  /**
   * Release what is held, plain granted locks first, so every queued request
   * gets its turn; a converting lock only when nothing else is held (that
   * cancels its conversion, as an owner answering a blocking notification would).
   */
  async drain(): Promise<void> {
    for (let round = 0; round < 200; round++) {
      await flush();
      const live = this.live();
      if (live.length === 0) return;
      const granted = live.filter((h) => h.state === 'granted');
      for (const h of granted.length > 0 ? granted : live.slice(0, 1)) h.release();
    }
  }

  /** Play one op (synchronously), then let promise reactions run. Returns the request it made, if any. */
  async play(op: DlmOp): Promise<Request | null> {
    const req = this.apply(op);
    await flush();
    return req;
  }

  apply(op: DlmOp): Request | null {
    switch (op.kind) {
      case 'lock': return this.lock(op);
      case 'convert': return this.convert(op);
      case 'release': {
        const live = this.live();
        if (live.length > 0) live[op.pick % live.length]!.release();
        return null;
      }
      case 'releaseAll':
        this.owners[op.owner]!.releaseAll();
        return null;
      case 'advance':
        this.clock.advance(op.ms);
        return null;
      case 'abort': {
        const abortable = this.pending().filter((r) => r.controller !== null);
        if (abortable.length > 0) abortable[op.pick % abortable.length]!.controller!.abort();
        return null;
      }
    }
  }

  private lock(op: Extract<DlmOp, { kind: 'lock' }>): Request {
    const controller = op.abortable ? new AbortController() : null;
    const mode = op.expedite ? 'NL' : op.mode;
    const options = {
      ...(op.range !== null ? { range: op.range } : {}),
      ...(op.noQueue ? { noQueue: true } : {}),
      ...(op.timeoutMs !== null ? { timeoutMs: op.timeoutMs } : {}),
      ...(op.alt !== null ? { alt: op.alt } : {}),
      ...(op.expedite ? { expedite: true } : {}),
      ...(controller !== null ? { signal: controller.signal } : {}),
    };
    const resource = RESOURCES[op.res]!;
    this.lastWaiting = null;
    const promise = this.owners[op.owner]!.lock(DOMAIN, resource, mode, options);
    const waited = this.lastWaiting as WaitingEvent | null;
    if (waited !== null && op.alt !== null) this.altById.set(waited.id, op.alt);
    return this.record('lock', op.owner, resource, mode, waited?.id ?? null, waited !== null, promise, controller, op.alt);
  }

  private convert(op: Extract<DlmOp, { kind: 'convert' }>): Request | null {
    const granted = this.handles.filter((h) => h.state === 'granted');
    if (granted.length === 0) return null;
    const h = granted[op.pick % granted.length]!;
    const options = {
      ...(op.noQueue ? { noQueue: true } : {}),
      ...(op.timeoutMs !== null ? { timeoutMs: op.timeoutMs } : {}),
      ...(op.quecvt ? { quecvt: true } : {}),
      ...(op.convDeadlock !== null ? { convDeadlock: op.convDeadlock } : {}),
    };
    this.lastWaiting = null;
    this.converting = h.id;
    const promise = h.convert(op.mode, options);
    this.converting = null;
    const waited = this.lastWaiting as WaitingEvent | null;
    return this.record('convert', this.ownerOf.get(h.id)!, h.resource, op.mode, h.id, waited !== null, promise, null);
  }

  private record(
    kind: Request['kind'], owner: number, resource: string, mode: Mode, lockId: number | null, queued: boolean,
    promise: Promise<LockHandle>, controller: AbortController | null, alt: Mode | null = null,
  ): Request {
    const req: Request = { seq: this.requests.length, kind, owner, resource, mode, lockId, queued, tracked: null!, controller };
    req.tracked = new Tracked(promise, (h) => {
      if (kind === 'lock') {
        req.lockId = h.id;
        this.ownerOf.set(h.id, owner);
        if (alt !== null) this.altById.set(h.id, alt);
        this.handles.push(h);
      }
    });
    this.requests.push(req);
    return req;
  }
}
