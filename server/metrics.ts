/**
 * Prometheus metrics, one registry per server instance (two servers in one
 * process must not share counters). Names take the `lockscope_` prefix and
 * base units (seconds); labels are bounded sets only — domain (configured),
 * mode, kind, state — never a resource or owner name, which would make a
 * series per lock.
 */

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GrantedEvent, LockManager } from '../src/index.js';
import type { Budget } from './budget.js';
import type { ClusterBinding } from './cluster/binding.js';
import { clusterMetrics } from './cluster/metrics.js';
import type { SessionTable } from './sessions.js';
import type { StorageHealth } from './state.js';

const WAIT_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];
const HOLD_BUCKETS = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 60, 300, 3600];

export class ServerMetrics {
  readonly registry = new Registry();
  readonly expired: Counter;
  /** Incremented by the hang-dump work (issue 4). */
  readonly dumps: Counter;

  constructor(
    lm: LockManager,
    sessions: () => SessionTable,
    budget: Budget,
    /** Whether the state directory takes writes (state.ts); null without one. Also read by /healthz. */
    readonly storage: () => StorageHealth | null = () => null,
    cluster: ClusterBinding | null = null,
  ) {
    // Registered in the order /metrics lists them (prom-client keeps that order).
    const registers = [this.registry];
    if (cluster !== null) clusterMetrics(cluster, registers);
    processMetrics(this.registry);
    lockGauges(lm, registers);
    const timing = timingMetrics(registers);
    this.dumps = new Counter({ name: 'lockscope_dumps_total', help: 'Hang-dumps taken, by trigger', labelNames: ['trigger'], registers });
    new Gauge({
      name: 'lockscope_sessions', help: 'Client sessions, by state', labelNames: ['state'], registers,
      collect() {
        const t = sessions();
        for (const state of ['live', 'disconnected'] as const) this.set({ state }, t.count(state));
      },
    });
    this.storageMetrics(registers);
    this.expired = new Counter({ name: 'lockscope_sessions_expired_total', help: 'Sessions whose lease passed', registers });
    hangAndGraceGauges(lm, registers);
    budgetGauges(lm, budget, registers);
    observeEvents(lm, timing, this.dumps, registers);
  }

  /** The state directory's condition, only on a server that has one (a 0 alerts: grants of new clients are refused). */
  private storageMetrics(registers: Registry[]): void {
    if (this.storage() === null) return;
    const storage = this.storage;
    new Gauge({
      name: 'lockscope_state_writable', help: '1 while the state directory takes writes, 0 while they fail (full, read-only)', registers,
      collect() {
        this.set(storage()?.writable === false ? 0 : 1);
      },
    });
    let counted = 0;
    new Counter({
      name: 'lockscope_state_write_failures_total', help: 'Writes of the state directory that failed', registers,
      collect() {
        const failures = storage()?.failures ?? 0;
        this.inc(failures - counted);
        counted = failures;
      },
    });
  }

  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** What the server's budgets (budget.ts) allow and what is used now, by budget name: an operator sees one filling up. */
function budgetGauges(lm: LockManager, budget: Budget, registers: Registry[]): void {
  const used = (): Record<string, number> => ({
    locksMax: lm.lockTotal, waitsMax: lm.pendingWaits, ownersMax: budget.owners, metaBytesMax: budget.metaBytes, siteBytesMax: budget.siteBytes,
  });
  new Gauge({
    name: 'lockscope_budget_used', help: 'What a server-wide budget counts now, by budget (its name in server/limits.ts)', labelNames: ['budget'], registers,
    collect() {
      for (const [name, v] of Object.entries(used())) this.set({ budget: name }, v);
    },
  });
  new Gauge({
    name: 'lockscope_budget_max', help: 'A server-wide budget, by budget', labelNames: ['budget'], registers,
    collect() {
      const l = budget.limits;
      const max: Record<string, number> = { locksMax: lm.limits.locksMax, waitsMax: lm.limits.waitsMax, ownersMax: l.ownersMax, metaBytesMax: l.metaBytesMax, siteBytesMax: l.siteBytesMax };
      for (const [name, v] of Object.entries(max)) this.set({ budget: name }, v);
    },
  });
  new Gauge({
    name: 'lockscope_deadlock_searches_throttled', help: 'Deadlock searches left to the full pass because their principal had spent its search budget', registers,
    collect() {
      this.set(lm.detection.stats.throttled);
    },
  });
}

/** Node's process metrics under our prefix, without the three gauges prom-client misnames. */
function processMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, prefix: 'lockscope_' });
  // prom-client names three gauges `…_total`, which Prometheus keeps for counters (`promtool check metrics`
  // flags them). The same counts stay, by type, in lockscope_nodejs_active_{handles,requests,resources}: sum those.
  for (const name of ['handles', 'requests', 'resources']) registry.removeSingleMetric(`lockscope_nodejs_active_${name}_total`);
}

/** Locks held and requests pending, by domain. */
function lockGauges(lm: LockManager, registers: Registry[]): void {
  // Read at scrape time from the core's counters (lm.stats()), not from a snapshot: a scrape must stay
  // cheap with a million locks held.
  new Gauge({
    name: 'lockscope_locks_held', help: 'Granted locks (dlm locks and posix pieces), by domain', labelNames: ['domain'], registers,
    collect() {
      for (const [domain, s] of Object.entries(lm.stats())) this.set({ domain }, s.held);
    },
  });
  new Gauge({
    name: 'lockscope_waiters', help: 'Pending requests (waits and conversions), by domain', labelNames: ['domain'], registers,
    collect() {
      for (const [domain, s] of Object.entries(lm.stats())) this.set({ domain }, s.waiting);
    },
  });
}

/** What the manager's events are counted and timed into (observeEvents). */
interface Timing {
  wait: Histogram;
  hold: Histogram;
  deadlocks: Counter;
  softTimeouts: Counter;
}

function timingMetrics(registers: Registry[]): Timing {
  const wait = new Histogram({
    name: 'lockscope_acquire_wait_seconds', help: 'Time from request to grant, by domain and mode',
    labelNames: ['domain', 'mode'], buckets: WAIT_BUCKETS, registers,
  });
  const hold = new Histogram({
    name: 'lockscope_hold_seconds', help: 'Time a dlm lock was held, by domain and mode',
    labelNames: ['domain', 'mode'], buckets: HOLD_BUCKETS, registers,
  });
  const deadlocks = new Counter({ name: 'lockscope_deadlocks_total', help: 'Deadlocks found, by kind', labelNames: ['kind'], registers });
  const softTimeouts = new Counter({ name: 'lockscope_soft_timeouts_total', help: 'Waits that passed their domain soft timeout, by domain', labelNames: ['domain'], registers });
  return { wait, hold, deadlocks, softTimeouts };
}

/** Hangs in progress and whether a grace period is in force, read at scrape time. */
function hangAndGraceGauges(lm: LockManager, registers: Registry[]): void {
  // Hangs in progress, counted by the manager at scrape time without copying a hang (hangCounts; bounded: one entry per hung wait).
  new Gauge({
    name: 'lockscope_hangs', help: 'Waits past their domain soft timeout right now, by domain and classification (hanging, persistent)',
    labelNames: ['domain', 'classification'], registers,
    collect() {
      for (const [domain, n] of lm.hangCounts()) {
        this.set({ domain, classification: 'hanging' }, n.hanging);
        this.set({ domain, classification: 'persistent' }, n.persistent);
      }
    },
  });
  new Gauge({
    name: 'lockscope_grace_active', help: '1 while a grace period after a restart is in force (only reclaims are granted), else 0', registers,
    collect() {
      this.set(lm.inGrace ? 1 : 0);
    },
  });
}

/** The manager's events into the histograms and counters, and the series that start at zero. */
function observeEvents(lm: LockManager, t: Timing, dumps: Counter, registers: Registry[]): void {
  // A reclaim is no acquisition (the lock was held all along), and grace grants nothing else: while grace is on
  // nobody listens to `granted`, so the core does not even build the event for each of 100,000 reclaims.
  // They are counted by the grace state instead (lockscope_grace_reclaims).
  const granted = (e: GrantedEvent): void => t.wait.observe({ domain: e.domain, mode: e.mode }, e.waitedMs / 1000);
  lm.on('granted', granted);
  lm.on('grace', (e) => {
    if (e.phase === 'start') lm.off('granted', granted);
    else if (e.phase === 'end') lm.on('granted', granted);
  });
  new Gauge({
    name: 'lockscope_grace_reclaims', help: 'Locks reclaimed in the current or latest grace period', registers,
    collect() {
      this.set(lm.graceState().reclaims);
    },
  });
  lm.on('converted', (e) => t.wait.observe({ domain: e.domain, mode: e.mode }, e.waitedMs / 1000));
  // Hold times are a dlm notion: a posix unlock trims ranges and has no single hold to time.
  lm.on('released', (e) => {
    if (e.mode !== 'unlock') t.hold.observe({ domain: e.domain, mode: e.mode }, e.heldMs / 1000);
  });
  lm.on('deadlock', (e) => t.deadlocks.inc({ kind: e.kind }));
  // Series that start at zero, so a dashboard sees 0 rather than no data.
  for (const d of lm.domainNames()) t.softTimeouts.inc({ domain: d }, 0);
  for (const kind of ['cycle', 'conversion']) t.deadlocks.inc({ kind }, 0);
  dumps.inc({ trigger: 'manual' }, 0);
  lm.on('hang', (e) => t.softTimeouts.inc({ domain: e.domain }));
}
