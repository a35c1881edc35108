/**
 * HangDumper: writes a hang-dump archive when a wait passes its soft
 * timeout (at most one automatic dump per `rateLimitMs`), optionally on a
 * deadlock, on SIGUSR2 when asked, and on demand (`dump()`, never rate
 * limited). It records each dump in index.json beside the archives, marks
 * a hang's dump transient or persistent as the hang develops, and keeps
 * the directory within its retention bounds, oldest first.
 *
 * The snapshot is taken synchronously inside the event that triggers the
 * dump, so the archive shows the state at the moment of the hang, not a
 * later one.
 */

import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { realClock, type Clock, type DeadlockRecord, type Hang, type LockEvents, type Snapshot } from '../src/index.js';
import { assert } from '../src/assert.js';
import { invalid } from '../src/errors.js';
import { TypedEmitter } from '../src/events.js';
import { writeArchive, type PlannedFile } from './archive.js';
import { ARCHIVE_SUFFIX, DumpIndex, isDumpId } from './dump-index.js';
import type { HangDumperEvents } from './dumper-events.js';
import { checkDumperOptions, type HangDumperOptions } from './dumper-options.js';
import { startEventLoopMonitor, type EventLoopMonitor } from './eventloop.js';
import { builtinCollectors } from './builtins.js';
import { isoTime, pathSegment } from './format.js';
import { Redactor, redactText, secretValues } from './redact.js';
import { expired, type Retention } from './retention.js';
import { badPath, runCollectors } from './run.js';
import { clusterCycles, waitingElsewhere } from './inspect-cluster.js';
import { snapshotOf } from './inspect.js';
import { buildSummary, type ClusterSummary } from './summary.js';
import { DUMP_FORMAT, DUMP_FORMAT_VERSION, type ClientReport, type ClusterPart, type Collector, type CollectorError, type Manifest } from './types.js';
import { dumpLimits } from './limits.js';
import type { Classification, DumpRecord, DumpTrigger } from './shapes.js';

type SourceEvents = Pick<LockEvents, 'hang' | 'hang-persistent' | 'hang-resolved' | 'deadlock'>;

/** What the dumper needs of a lock manager: its name, its state, four events (and its clock, if any). */
export interface DumpSource {
  readonly node: string;
  readonly clock?: Clock;
  snapshot(): Snapshot;
  on<K extends keyof SourceEvents>(event: K, listener: (payload: SourceEvents[K]) => void): unknown;
  off<K extends keyof SourceEvents>(event: K, listener: (payload: SourceEvents[K]) => void): unknown;
}

export interface DumpResult {
  id: string;
  path: string;
}

interface Started {
  id: string;
  trigger: DumpTrigger;
  snapshot: Snapshot;
  hang: Hang | null;
  deadlock: DeadlockRecord | null;
  startedAt: number;
}

export class HangDumper extends TypedEmitter<HangDumperEvents> {
  readonly dir: string;
  readonly rateLimitMs: number;
  readonly retention: Retention;
  private readonly clock: Clock;
  private readonly collectors: Collector[];
  private readonly clientReports: (() => Promise<ClientReport[]>) | null;
  private readonly cwd: string;
  private readonly secrets: readonly string[];
  private readonly index: DumpIndex;
  private readonly loaded: Promise<DumpRecord[]>;
  private readonly monitor: EventLoopMonitor;
  private readonly detach: Array<() => void> = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Index updates after a dump (classification), so idle() can wait for them too. */
  private readonly chores = new Set<Promise<unknown>>();
  /** Dumps this dumper took for each hang id (hang ids are per manager, so only ours). */
  private readonly byHang = new Map<number, string[]>();
  private lastAutomatic: number | null = null;
  private readonly cluster: ClusterPart | null;
  private seq = 0;
  private closed = false;

  constructor(private readonly source: DumpSource, options: HangDumperOptions) {
    super();
    const o = checkDumperOptions(options);
    this.dir = resolve(o.dir);
    this.rateLimitMs = o.rateLimitMs;
    this.retention = o.retention;
    this.clock = o.clock ?? source.clock ?? realClock;
    this.clientReports = o.clientReports;
    this.cwd = o.cwd;
    this.secrets = o.secrets;
    this.cluster = o.cluster;
    this.index = new DumpIndex(this.dir);
    this.loaded = this.index.load();
    this.monitor = startEventLoopMonitor(() => this.clock.wallNow());
    this.collectors = [...builtinCollectors(this.monitor.collector).filter((c) => !o.exclude.includes(c.name)), ...o.collectors];
    this.listen('hang', (h) => this.automatic('soft-timeout', h, null));
    this.listen('hang-persistent', (h) => this.chore(this.classify(h, 'persistent')));
    this.listen('hang-resolved', (h) => this.chore(this.classify(h, h.classification === 'persistent' ? 'persistent' : 'transient')));
    if (o.onDeadlock) this.listen('deadlock', (d) => this.automatic('deadlock', null, d));
    if (o.signal !== false) {
      const sig = o.signal;
      const onSignal = (): void => void this.settle(this.start('signal', null, null));
      process.on(sig, onSignal);
      this.detach.push(() => process.off(sig, onSignal));
    }
  }

  /** Take a dump now. Never rate limited. */
  dump(trigger: 'manual' | 'signal' = 'manual'): Promise<DumpResult> {
    if (trigger !== 'manual' && trigger !== 'signal') return Promise.reject(invalid('trigger', "'manual' or 'signal'", trigger));
    if (this.closed) return Promise.reject(invalid('dumper', 'open (close() was called)'));
    return this.start(trigger, null, null);
  }

  /**
   * The id of the dump this dumper took for a hang (the latest, if several),
   * or null: none was taken (rate limited) or the hang is not ours. Known as
   * soon as the `hang` event's dumper listener ran, before the archive is written.
   */
  dumpOfHang(hangId: number): string | null {
    return this.byHang.get(hangId)?.at(-1) ?? null;
  }

  /** Every dump in the directory, oldest first, with its classification. */
  async list(): Promise<DumpRecord[]> {
    return (await this.loaded).map((r) => ({ ...r }));
  }

  /** Resolves when no dump is being written (a graceful shutdown waits for this). */
  async idle(): Promise<void> {
    while (this.inFlight.size + this.chores.size > 0) await Promise.allSettled([...this.inFlight, ...this.chores]);
  }

  private chore(p: Promise<unknown>): void {
    const tracked = p.catch(() => {}).finally(() => this.chores.delete(tracked));
    this.chores.add(tracked);
  }

  /** Detach from the manager and the signal, stop the event-loop monitor, and wait for dumps in progress. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const off of this.detach.splice(0)) off();
    this.monitor.stop();
    await this.idle();
  }

  private listen<K extends keyof SourceEvents>(event: K, listener: (payload: SourceEvents[K]) => void): void {
    this.source.on(event, listener);
    this.detach.push(() => this.source.off(event, listener));
  }

  private automatic(trigger: 'soft-timeout' | 'deadlock', hang: Hang | null, deadlock: DeadlockRecord | null): void {
    const now = this.clock.now();
    if (this.lastAutomatic !== null && now - this.lastAutomatic < this.rateLimitMs) {
      this.emit('dump-skipped', { trigger, reason: 'rate-limited', hangId: hang?.id ?? null, nextAllowedInMs: this.lastAutomatic + this.rateLimitMs - now });
      return;
    }
    // In a cluster the limit is the cluster's: one hang seen on several nodes makes one automatic dump, which holds every node.
    const wall = this.clock.wallNow();
    const shared = this.cluster?.lastAutomatic() ?? null;
    if (shared !== null && wall - shared < this.rateLimitMs) {
      this.emit('dump-skipped', { trigger, reason: 'rate-limited', hangId: hang?.id ?? null, nextAllowedInMs: shared + this.rateLimitMs - wall });
      return;
    }
    this.lastAutomatic = now;
    this.cluster?.automaticTaken(wall);
    void this.settle(this.start(trigger, hang, deadlock));
  }

  /**
   * This node's files for a cluster dump taken on another node: the same
   * collectors on a snapshot taken now, redacted by this node's rules (R1),
   * each file's content whole, as bytes.
   */
  async nodeFiles(): Promise<{ files: Array<{ path: string; data: Buffer }>; errors: CollectorError[] }> {
    const snapshot = this.source.snapshot();
    const { redact, ...r } = this.redacted({ id: '', trigger: 'manual', snapshot, hang: null, deadlock: null, startedAt: 0 });
    const { planned, errors } = await runCollectors(this.collectors, { snapshot: r.snapshot, hang: null, cwd: r.cwd, clientReports: this.clientReports, redact });
    const files: Array<{ path: string; data: Buffer }> = [];
    for (const p of planned) {
      const data = p.file.data;
      if (data instanceof Uint8Array || typeof data === 'string') files.push({ path: p.file.path, data: Buffer.from(data) });
      else {
        const parts: Buffer[] = [];
        for await (const chunk of data as AsyncIterable<string>) parts.push(Buffer.from(chunk));
        files.push({ path: p.file.path, data: Buffer.concat(parts) });
      }
    }
    return { files, errors };
  }

  /** The other nodes' part of a dump, within its deadline (a cluster node's). */
  private async clusterPart(errors: CollectorError[], redact: Redactor): Promise<{ planned: PlannedFile[]; answered: string[]; missing: string[] }> {
    const part = this.cluster;
    if (part === null) return { planned: [], answered: [], missing: [] };
    const ac = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), dumpLimits.clusterDeadlineMs);
    });
    try {
      const work = part.collect(ac.signal);
      const result = await Promise.race([work, late]);
      if (result === 'late') {
        ac.abort();
        work.catch(() => {});
        errors.push({ collector: 'cluster', kind: 'deadline', message: `the other nodes did not answer within ${dumpLimits.clusterDeadlineMs} ms` });
        return { planned: [], answered: [], missing: [] };
      }
      // R1 here too: the other nodes redacted by their rules; this node's secrets go as well.
      const planned: PlannedFile[] = [];
      const taken = new Set<string>();
      for (const file of result.files) {
        const bad = badPath(file, taken);
        if (bad !== null) {
          errors.push({ collector: 'cluster', kind: 'error', message: `a node's part has ${bad}` });
          continue;
        }
        taken.add(file.path);
        planned.push({ collector: 'cluster', maxBytes: dumpLimits.clusterNodeBytesMax, file: typeof file.data === 'string' ? { path: file.path, data: redactFile(redact, file.path, file.data) } : file });
      }
      return { planned, answered: result.answered, missing: result.missing };
    } catch (err) {
      errors.push({ collector: 'cluster', kind: 'error', message: err instanceof Error ? err.message : String(err) });
      return { planned: [], answered: [], missing: [] };
    } finally {
      clearTimeout(timer);
    }
  }

  /** An automatic dump has no caller to reject to: its failure becomes an event. */
  private async settle(p: Promise<DumpResult>): Promise<void> {
    await p.catch(() => {});
  }

  /** The synchronous part (snapshot, id, event), then the writing. */
  private start(trigger: DumpTrigger, hang: Hang | null, deadlock: DeadlockRecord | null): Promise<DumpResult> {
    const snapshot = this.source.snapshot();
    // The node name is the embedder's, but the id is a file name and goes into logs: redacted all the same (R1).
    const id = `${pathSegment(redactText(snapshot.node, this.secrets))}-${isoTime(snapshot.time).replace(/[-:]/g, '').replace(/\.\d+/, '')}-${++this.seq}${randomBytes(3).toString('hex')}`;
    assert(isDumpId(id), `dump id ${id} is a safe file name (rule I1)`);
    const started: Started = { id, trigger, snapshot, hang, deadlock, startedAt: performance.now() };
    if (hang !== null) this.byHang.set(hang.id, [...(this.byHang.get(hang.id) ?? []), id]);
    const path = join(this.dir, `${id}${ARCHIVE_SUFFIX}`);
    this.emit('dump-started', { id, trigger, path, time: snapshot.time, hangId: hang?.id ?? null });
    const work = this.write(started, path).catch((err: unknown) => {
      const error = err instanceof Error ? err : new Error(String(err));
      this.emit('dump-failed', { id, trigger, path, error });
      throw error;
    });
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work)).catch(() => {});
    return work;
  }

  /** Rule R1: one Redactor per dump, and nothing of the manager's state reaches a writer unredacted. */
  private redacted(s: Started): { redact: Redactor; snapshot: Snapshot; hang: Hang | null; deadlock: DeadlockRecord | null; cwd: string } {
    const secrets = [...new Set([...this.secrets.filter((x) => x.length > 0), ...secretValues(process.env)])].sort((a, b) => b.length - a.length);
    const redact = new Redactor(secrets);
    return { redact, snapshot: redact.snapshot(s.snapshot), hang: redact.data(s.hang), deadlock: redact.data(s.deadlock), cwd: redact.text(this.cwd) };
  }

  private async write(started: Started, path: string): Promise<DumpResult> {
    // Owner only (R5): a dump holds the program's names, stacks and reports.
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const { redact, ...r } = this.redacted(started);
    const s = { ...started, ...r };
    const clusterErrors: CollectorError[] = [];
    const [{ planned, errors }, other] = await Promise.all([
      runCollectors(this.collectors, { snapshot: s.snapshot, hang: s.hang, cwd: s.cwd, clientReports: this.clientReports, redact }),
      this.clusterPart(clusterErrors, redact),
    ]);
    errors.push(...clusterErrors);
    const files: PlannedFile[] = [];
    try {
      const cluster = this.cluster === null ? null : { answered: other.answered, missing: other.missing, ...clusterReading(s.snapshot, other.planned, errors) };
      const text = buildSummary({ id: s.id, trigger: s.trigger, snapshot: s.snapshot, hang: s.hang, deadlock: s.deadlock, cwd: s.cwd, cluster });
      files.push({ collector: 'summary', maxBytes: Number.MAX_SAFE_INTEGER, file: { path: 'summary.txt', data: text } });
    } catch (err) {
      errors.push({ collector: 'summary', kind: 'error', message: err instanceof Error ? err.message : String(err) });
    }
    files.push(...planned, ...other.planned);
    const finish = (written: Manifest['files'], errs: Manifest['errors']): Manifest => ({
      format: DUMP_FORMAT, formatVersion: DUMP_FORMAT_VERSION, id: s.id, trigger: s.trigger, node: s.snapshot.node, nodes: [s.snapshot.node, ...other.answered],
      ...(this.cluster === null ? {} : { missingNodes: other.missing }),
      time: s.snapshot.time, hang: s.hang, deadlock: s.deadlock, classification: s.hang === null ? null : s.hang.classification,
      files: written, errors: errs.map((e) => ({ ...e, message: redact.text(e.message), ...(e.path === undefined ? {} : { path: redact.text(e.path) }) })), cwd: s.cwd, tookMs: Math.round(performance.now() - s.startedAt), generator: { name: 'lockscope', node: s.snapshot.node, pid: process.pid },
    });
    const { bytes, manifest } = await writeArchive(path, files, finish, errors, new Date(s.snapshot.time));
    const record: DumpRecord = {
      id: s.id, file: `${s.id}${ARCHIVE_SUFFIX}`, trigger: s.trigger, node: s.snapshot.node, time: s.snapshot.time, bytes,
      hang: s.hang === null ? null : { id: s.hang.id, owner: s.hang.owner, domain: s.hang.domain, resource: s.hang.resource, wanted: s.hang.wanted },
      classification: manifest.classification,
    };
    const records = await this.loaded;
    records.push(record);
    await this.prune(records, s.id);
    await this.index.save(records);
    this.emit('dump-written', { id: s.id, path, trigger: s.trigger, bytes, files: manifest.files.length, errors: manifest.errors, tookMs: manifest.tookMs, record: { ...record } });
    return { id: s.id, path };
  }

  private async prune(records: DumpRecord[], keep: string): Promise<void> {
    for (const r of expired(records, this.retention)) {
      if (r.id === keep) continue;
      await rm(join(this.dir, r.file), { force: true });
      records.splice(records.indexOf(r), 1);
      this.emit('dump-removed', { id: r.id, reason: 'retention' });
    }
  }

  private async classify(hang: Hang, classification: Classification): Promise<void> {
    const ids = this.byHang.get(hang.id);
    if (ids === undefined) return;
    // A dump still being written is classified once it is in the index.
    await Promise.allSettled([...this.inFlight]);
    const records = await this.loaded;
    for (const id of ids) {
      const r = records.find((x) => x.id === id);
      if (r === undefined) continue;
      r.classification = classification;
      if (hang.waitedMs !== undefined) r.waitedMs = hang.waitedMs;
      if (hang.outcome !== undefined) r.outcome = hang.outcome;
      await this.index.save(records).catch(() => {});
      this.emit('dump-classified', { id, classification, hangId: hang.id, ...(r.waitedMs === undefined ? {} : { waitedMs: r.waitedMs }), ...(r.outcome === undefined ? {} : { outcome: r.outcome }) });
    }
    if (hang.outcome !== undefined) this.byHang.delete(hang.id);
  }
}

/**
 * R1 for a file another node sent: that node redacted it by every rule
 * before it left (server/cluster/dumps.ts, K1); this node adds its own
 * secret values. JSON gets only those (literal values keep it JSON: a text
 * pass by the name rules turned `"tokenMark": 12` into invalid JSON, and a
 * walk of it as data took seconds for 30,000 locks); other text gets every
 * rule.
 */
function redactFile(redact: Redactor, path: string, data: string): string {
  return path.endsWith('.json') ? redact.secretsOnly(data) : redact.text(data);
}

/**
 * What the summary of a cluster dump says beyond this node's state: the
 * cycles across nodes and this node's owners that wait on other nodes, read
 * from the parts the other nodes sent (as `inspect` reads them later).
 */
function clusterReading(own: Snapshot, planned: readonly PlannedFile[], errors: CollectorError[]): Pick<ClusterSummary, 'across' | 'elsewhere'> {
  try {
    return readCluster(own, planned);
  } catch (err) {
    // A node's part this node cannot read: the summary says what this node knows, the files are still written.
    errors.push({ collector: 'cluster', kind: 'error', message: `the other nodes' parts could not be read for the summary: ${err instanceof Error ? err.message : String(err)}` });
    return {};
  }
}

function readCluster(own: Snapshot, planned: readonly PlannedFile[]): Pick<ClusterSummary, 'across' | 'elsewhere'> {
  const files = new Map<string, string>();
  for (const p of planned) if (typeof p.file.data === 'string') files.set(p.file.path, p.file.data);
  const snapshots = new Map<string, Snapshot>([[own.node, own]]);
  const snapshot = (node: string): Snapshot | undefined => {
    if (!snapshots.has(node) && files.has(`nodes/${node}/waitfor.json`)) snapshots.set(node, snapshotOf({ files }, `nodes/${node}/`));
    return snapshots.get(node);
  };
  return { across: clusterCycles(files, snapshot), elsewhere: waitingElsewhere(files, own.node) };
}
