/** The torture run's figures: gathered from the workers and the server's log, judged, and printed. */

import type { TortureMode, Violation, WorkerStats } from './shared.js';

export interface GraceRecord {
  /** From the start of grace to its end. */
  ms: number;
  ended: string;
  reclaims: number;
  /** Recorded clients that never finished reclaiming. */
  missing: number;
}

export interface TortureReport {
  clients: number;
  mode: TortureMode;
  durationMs: number;
  restartEveryMs: number;
  workDir: string;
  operations: number;
  opsPerSecond: number;
  restarts: number;
  errors: Record<string, number>;
  violations: number;
  violationSamples: Violation[];
  lostLocks: number;
  /** Reclaims the server logged as refused (should equal lostLocks). */
  reclaimsRefused: number;
  tokenRegressions: number;
  stuckWorkers: number[];
  grace: { count: number; medianMs: number; maxMs: number; ended: Record<string, number> };
  reclaimPasses: { count: number; locks: number; medianMs: number; maxMs: number };
  serverStartMedianMs: number;
  /** Writes refused by the fencing check (the region held a newer token): a fenced writer stopped, not a failure. */
  staleWritesRefused: number;
  /** `--cluster`: nodes, kills (SIGKILL, then started again), pauses (SIGSTOP past the TTL), times nodes fenced themselves. */
  cluster?: { nodes: number; kills: number; pauses: number; fenced: number };
  pass: boolean;
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export interface RunResult {
  options: { clients: number; mode: TortureMode; restartEveryMs: number };
  workDir: string;
  elapsedMs: number;
  restarts: number;
  workers: WorkerStats[];
  stuck: number[];
  server: { graces: GraceRecord[]; reclaimsRefused: number; startMs: number[] };
}

export function summarize(r: RunResult): TortureReport {
  const errors: Record<string, number> = {};
  for (const w of r.workers) for (const [code, n] of Object.entries(w.errors)) errors[code] = (errors[code] ?? 0) + n;
  const ended: Record<string, number> = {};
  for (const g of r.server.graces) ended[g.ended] = (ended[g.ended] ?? 0) + 1;
  const passes = r.workers.flatMap((w) => w.reclaims);
  const operations = r.workers.reduce((n, w) => n + w.ops, 0);
  const violations = r.workers.reduce((n, w) => n + w.violations.length, 0);
  const lostLocks = r.workers.reduce((n, w) => n + w.lost, 0);
  const tokenRegressions = r.workers.reduce((n, w) => n + w.tokenRegressions, 0);
  const graceMs = r.server.graces.map((g) => g.ms);
  return {
    clients: r.options.clients, mode: r.options.mode, durationMs: r.elapsedMs, restartEveryMs: r.options.restartEveryMs, workDir: r.workDir,
    operations, opsPerSecond: Math.round(operations / (r.elapsedMs / 1000)), restarts: r.restarts, errors,
    violations, violationSamples: r.workers.flatMap((w) => w.violations).slice(0, 10), lostLocks, reclaimsRefused: r.server.reclaimsRefused,
    tokenRegressions, stuckWorkers: r.stuck,
    grace: { count: graceMs.length, medianMs: median(graceMs), maxMs: Math.max(0, ...graceMs), ended },
    reclaimPasses: {
      count: passes.length, locks: passes.reduce((n, p) => n + p.reclaimed, 0), medianMs: median(passes.map((p) => p.ms)), maxMs: Math.max(0, ...passes.map((p) => p.ms)),
    },
    serverStartMedianMs: median(r.server.startMs),
    staleWritesRefused: r.workers.reduce((n, w) => n + (w.staleWritesRefused ?? 0), 0),
    pass: violations === 0 && lostLocks === 0 && tokenRegressions === 0 && r.stuck.length === 0 && r.workers.length === r.options.clients,
  };
}

export function formatReport(t: TortureReport): string {
  const kv = (o: Record<string, number>): string => (Object.keys(o).length === 0 ? 'none' : Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', '));
  const c = t.cluster;
  const lines = [
    c === undefined
      ? `lockscope torture: ${t.clients} clients (${t.mode}), ${(t.durationMs / 1000).toFixed(1)} s, server killed (SIGKILL) and restarted every ${(t.restartEveryMs / 1000).toFixed(1)} s`
      : `lockscope torture: ${t.clients} clients (${t.mode}), ${(t.durationMs / 1000).toFixed(1)} s, a cluster of ${c.nodes} nodes: ${c.kills} killed (SIGKILL) and restarted, ${c.pauses} paused past their lease`,
    ...(c === undefined ? [] : [`  failovers          ${c.kills + c.pauses} (nodes fenced themselves ${c.fenced} times)`]),
    `  operations         ${t.operations} (${t.opsPerSecond}/s)`,
    `  restarts           ${t.restarts} (server up again in ${t.serverStartMedianMs} ms, median)`,
    `  errors by code     ${kv(t.errors)}`,
    `  violations         ${t.violations}`,
    c === undefined
      ? `  lost locks         ${t.lostLocks} (reclaims refused by the server: ${t.reclaimsRefused})`
      : `  lost locks         ${t.lostLocks} (reclaim attempts refused by a node, most asked again later: ${t.reclaimsRefused})`,
    `  token regressions  ${t.tokenRegressions}`,
    `  stale writes       ${t.staleWritesRefused} refused by the fencing check`,
    `  ${c === undefined ? 'grace periods   ' : 'node recoveries '}   ${t.grace.count}: median ${t.grace.medianMs} ms, max ${t.grace.maxMs} ms; ended ${kv(t.grace.ended)}`,
    `  reclaim passes     ${t.reclaimPasses.count}: ${t.reclaimPasses.locks} locks, median ${t.reclaimPasses.medianMs} ms, max ${t.reclaimPasses.maxMs} ms`,
    ...(t.stuckWorkers.length > 0 ? [`  stuck workers      ${t.stuckWorkers.join(', ')}`] : []),
    ...t.violationSamples.map((v) => `  violation at byte ${v.at}: expected "${v.expected}", found "${v.found}"`),
    `  result             ${t.pass ? 'PASS' : 'FAIL'}`,
    `  files              ${t.workDir}`,
  ];
  return `${lines.join('\n')}\n`;
}
