/**
 * The dashboard's history: what the feed would have sent over the last
 * minutes, kept so a person can pause, scrub back to a deadlock or a hang,
 * and see the graph, the tree and the table as they were (server/README.md,
 * "History", rules H1–H4).
 *
 * The kept window is a ring of segments. A segment starts with a keyframe
 * (the whole snapshot and the session list, serialized once) and holds the
 * batches of lock events after it, each with the wait-for graph after it
 * when that changed (H6), as the feed builds them, serialized once when
 * they are taken. The state at
 * a moment is a keyframe plus the batches up to that moment, which the page
 * applies with the same Model code it uses live.
 *
 * Bounded in bytes: every stored string is counted (its length: the JSON is
 * ASCII-escaped only where it must be, and V8 keeps ASCII strings one byte
 * a character); the oldest segment goes first when the total passes
 * `historyBytesMax` or falls out of `historyWindowMs`.
 */

import { deflate, inflateSync } from 'node:zlib';
import type { LockEvents, LockManager } from '../src/index.js';
import { Tally, topOf } from './contention.js';
import { FORWARDED } from './feed.js';
import { serverLimits } from './limits.js';
import type { EdgeSnapshot, FeedBatch, FeedEventName, HistoryIndex, HistoryMarker, MarkerKind, SessionSummary, TopLists } from './protocol.js';

interface Entry {
  time: number;
  /** `{"time":…,"batch":…}` and/or `"sessions":…`, serialized when taken. */
  json: string;
}

interface Segment {
  start: number;
  /** `{"snapshot":…,"sessions":…}`; '' once packed. */
  keyframe: string;
  /** Once packed, their `json` is '' (it is in `packed`). */
  entries: Entry[];
  /** H7: a closed segment's keyframe and entries, one per line, deflated; null while it is the newest or being packed. */
  packed: Buffer | null;
  bytes: number;
  /** Waiting charged to resources and blockers while this segment was the newest. */
  tally: Tally;
}

export type HistoryLimits = Pick<typeof serverLimits, 'historyBytesMax' | 'historyWindowMs' | 'historyKeyframeEveryMs' | 'historySegmentBytesMax' | 'historyMarkersMax' | 'feedBatchMax' | 'feedIntervalMs' | 'contentionKeysMax'>;

/** What a packed segment's entry still costs: its time. */
const ENTRY_TIME_BYTES = 8;

export class History {
  private readonly segments: Segment[] = [];
  private readonly packing = new Set<Promise<void>>();
  private markers: HistoryMarker[] = [];
  private bytes = 0;
  private batch: FeedBatch = { events: [], overflow: false };
  private needKeyframe = true;
  private lastSessions = '';
  /** The graph last stored in the newest segment (H6); null: the next batch stores it (a keyframe was just taken). */
  private lastGraph: string | null = null;
  /** The wait-for edges at the last flush and when it was, charged to the tally at the next. */
  private edges: EdgeSnapshot[] = [];
  private lastFlush = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners: Array<{ event: FeedEventName; listener: (p: LockEvents[FeedEventName]) => void }>;

  constructor(
    private readonly lm: LockManager,
    private readonly sessions: () => SessionSummary[],
    private readonly limits: HistoryLimits = serverLimits,
    private readonly now: () => number = Date.now,
  ) {
    this.listeners = FORWARDED.map((event) => ({
      event,
      listener: (payload: LockEvents[FeedEventName]): void => {
        // Rule H2: past the bound the batch is marked, and the next flush starts a segment from a fresh snapshot.
        if (this.batch.events.length >= this.limits.feedBatchMax) this.batch.overflow = true;
        else this.batch.events.push({ event, payload } as FeedBatch['events'][number]);
        this.mark(event, payload);
      },
    }));
  }

  get enabled(): boolean {
    return this.limits.historyBytesMax > 0;
  }

  /** Start recording; returns the function that stops it. */
  start(): () => void {
    if (!this.enabled) return () => {};
    for (const { event, listener } of this.listeners) this.lm.on(event, listener);
    this.flush();
    this.timer = setInterval(() => this.flush(), this.limits.feedIntervalMs);
    this.timer.unref();
    return () => {
      for (const { event, listener } of this.listeners) this.lm.off(event, listener);
      if (this.timer !== null) clearInterval(this.timer);
      this.timer = null;
    };
  }

  /** A marker from outside the manager's events: a dump written, one day a failover. */
  marker(kind: MarkerKind, time: number, label: string): void {
    this.markers.push({ time, kind, label });
    if (this.markers.length > this.limits.historyMarkersMax) this.markers.splice(0, this.markers.length - this.limits.historyMarkersMax);
  }

  index(): HistoryIndex {
    // Rule H4: a marker is listed with the moment that shows it. One whose batch is not stored yet is stored now,
    // rather than listed without it: the page's guess (its time plus half a second) could land after the state it
    // marks had already changed again (a deadlock broken and everything released within the guess).
    if (this.markers.some((m) => m.at === undefined)) this.flush();
    const from = this.segments[0]?.start ?? null;
    return { from, to: this.now(), bytes: this.bytes, bytesMax: this.limits.historyBytesMax, windowMs: this.limits.historyWindowMs, markers: this.markers.filter((m) => from !== null && m.time >= from) };
  }

  /**
   * The state at `time` as JSON (a HistoryMoment): the newest keyframe not
   * after it and the entries after that up to it. Null when `time` is
   * before the kept window or nothing is kept.
   */
  momentJson(time: number): string | null {
    let seg: Segment | undefined;
    for (const s of this.segments) if (s.start <= time) seg = s;
    if (seg === undefined) return null;
    let keyframe = seg.keyframe;
    let jsons = seg.entries.map((e) => e.json);
    if (seg.packed !== null) {
      // JSON never holds a raw newline: one line for the keyframe, one per entry.
      const lines = inflateSync(seg.packed).toString().split('\n');
      keyframe = lines[0]!;
      jsons = lines.slice(1);
    }
    const entries = jsons.filter((_, i) => seg.entries[i]!.time <= time);
    return `{"time":${time},"keyframeTime":${seg.start},"state":${keyframe},"entries":[${entries.join(',')}]}`;
  }

  /** Settles once no closed segment is being packed (tests, benchmarks). */
  async packed(): Promise<void> {
    while (this.packing.size > 0) await Promise.all(this.packing);
  }

  /**
   * H7: a segment that is no longer the newest is deflated off the event
   * loop (zlib's thread pool); until that ends it stays as it is, and it
   * counts its packed size once done. One that was evicted meanwhile is
   * dropped with its packing.
   */
  private pack(seg: Segment): void {
    const raw = Buffer.from([seg.keyframe, ...seg.entries.map((e) => e.json)].join('\n'));
    const p = new Promise<void>((resolve) => {
      deflate(raw, { level: 6 }, (err, out) => {
        resolve();
        if (err !== null || !this.segments.includes(seg)) return;
        seg.packed = out;
        seg.keyframe = '';
        for (const e of seg.entries) e.json = '';
        this.bytes += out.length + seg.entries.length * ENTRY_TIME_BYTES - seg.bytes;
        seg.bytes = out.length + seg.entries.length * ENTRY_TIME_BYTES;
      });
    });
    this.packing.add(p);
    void p.then(() => this.packing.delete(p));
  }

  /** The resources waited on longest and the owners that made others wait longest, over the segments overlapping [from, to]. */
  top(from: number, to: number, n: number): TopLists {
    // The range as kept: what it says it covers is no wider than the window (a page asking "from 0" is told when it starts).
    from = Math.max(from, this.segments[0]?.start ?? from);
    to = Math.min(to, this.now());
    const tallies = this.segments.filter((s, i) => s.start <= to && (this.segments[i + 1]?.start ?? Infinity) >= from).map((s) => s.tally);
    return { from, to, ...topOf(tallies, n) };
  }

  /** Take the batch of events since the last flush (rule H1), and the sessions when they changed. */
  flush(): void {
    const now = this.now();
    this.segments[this.segments.length - 1]?.tally.charge(this.edges, Math.max(0, now - this.lastFlush));
    this.lastFlush = now;
    // Rule H4: a marker points at the first moment whose state includes what it marks.
    for (let i = this.markers.length - 1; i >= 0 && this.markers[i]!.at === undefined; i--) this.markers[i]!.at = now;
    const seg = this.segments[this.segments.length - 1];
    if (this.needKeyframe || seg === undefined || now - seg.start >= this.limits.historyKeyframeEveryMs || seg.bytes - seg.keyframe.length >= this.limits.historySegmentBytesMax) {
      this.keyframe(now);
      return;
    }
    const parts: string[] = [];
    if (this.batch.events.length > 0 || this.batch.overflow) {
      const out = this.batch;
      this.batch = { events: [], overflow: false };
      const graph = this.lm.waitForGraph();
      this.edges = graph.edges;
      // Rule H6: the graph is stored only when it changed since the last one stored in this segment.
      const graphJson = JSON.stringify(graph);
      const body = JSON.stringify(out);
      parts.push(`"batch":${graphJson === this.lastGraph ? body : `${body.slice(0, -1)},"graph":${graphJson}}`}`);
      this.lastGraph = graphJson;
      if (out.overflow) this.needKeyframe = true;
    }
    const sessions = JSON.stringify(this.sessions());
    if (sessions !== this.lastSessions) {
      parts.push(`"sessions":${sessions}`);
      this.lastSessions = sessions;
    }
    if (parts.length === 0) return;
    const json = `{"time":${now},${parts.join(',')}}`;
    seg.entries.push({ time: now, json });
    seg.bytes += json.length;
    this.bytes += json.length;
    this.evict(now);
  }

  private keyframe(now: number): void {
    // The snapshot already holds what the pending events did.
    this.batch = { events: [], overflow: false };
    this.needKeyframe = false;
    this.lastGraph = null;
    const sessions = JSON.stringify(this.sessions());
    this.lastSessions = sessions;
    const snapshot = this.lm.snapshot();
    this.edges = snapshot.edges;
    const keyframe = `{"snapshot":${JSON.stringify(snapshot)},"sessions":${sessions}}`;
    const closed = this.segments[this.segments.length - 1];
    this.segments.push({ start: now, keyframe, entries: [], packed: null, bytes: keyframe.length, tally: new Tally(this.limits.contentionKeysMax) });
    if (closed !== undefined) this.pack(closed);
    this.bytes += keyframe.length;
    this.evict(now);
  }

  /** Rule H3: oldest segments out first, until within the bytes and the window; a segment alone over the bound is not kept. */
  private evict(now: number): void {
    const over = (): boolean => this.bytes > this.limits.historyBytesMax;
    const stale = (): boolean => this.segments.length > 1 && this.segments[1]!.start < now - this.limits.historyWindowMs;
    while (this.segments.length > 0 && (over() || stale())) {
      const gone = this.segments.shift()!;
      this.bytes -= gone.bytes;
      if (this.segments.length === 0) this.needKeyframe = true;
    }
    const from = this.segments[0]?.start ?? now;
    if (this.markers.length > 0 && this.markers[0]!.time < from) this.markers = this.markers.filter((m) => m.time >= from);
  }

  private mark(event: FeedEventName, payload: unknown): void {
    const p = payload as Record<string, unknown>;
    const time = typeof p.time === 'number' ? p.time : this.now();
    if (event === 'deadlock') {
      const d = payload as { cycle: Array<{ owner: string }>; victim: string | null; kind: string };
      this.marker('deadlock', time, `${d.kind} deadlock: ${d.cycle.map((c) => c.owner).join(' → ')}; victim ${d.victim ?? 'none'}`);
    } else if (event === 'hang' || event === 'hang-persistent') {
      const h = payload as { owner: string; domain: string; resource: string; since: number };
      this.marker(event, this.now(), `${event === 'hang' ? 'hang' : 'persistent hang'}: ${h.owner} on ${h.domain}:${h.resource}`);
    } else if (event === 'grace') {
      const g = payload as { phase: string };
      this.marker('grace', this.now(), `grace ${g.phase}`);
    }
  }
}
