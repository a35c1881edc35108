/**
 * The Prometheus and Grafana kit in ops/: a real server's /metrics passes
 * `promtool check metrics` (no lint, default Node metrics included), the
 * alert rules pass `promtool check rules` and their unit tests
 * (`promtool test rules`), and every metric the rules and the Grafana
 * dashboard read is one the server really exposes. promtool comes from
 * Debian's `prometheus` package (/usr/bin/promtool).
 */

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { LockServer } from '../../server/index.js';
import { api, startServer, TOKENS } from './support.js';
import { EtcdCluster, etcdAvailable } from '../cluster/etcd.js';
import { ADMIN, NodeProcess, settledCluster } from '../cluster/nodes.js';

const ROOT = join(import.meta.dirname, '..', '..');
const RULES = join(ROOT, 'ops', 'prometheus', 'lockscope-alerts.yml');
const RULE_TESTS = join(ROOT, 'ops', 'prometheus', 'lockscope-alerts.test.yml');
const DASHBOARD = join(ROOT, 'ops', 'grafana', 'lockscope-dashboard.json');

let server: LockServer;
beforeEach(async () => {
  server = await startServer({ domains: [{ name: 'lin', kind: 'dlm', softTimeoutMs: 50, persistentAfterMs: 50 }, { name: 'adv', kind: 'posix' }] });
});
afterEach(async () => {
  await server.close();
});

function promtool(args: string[], input?: string): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8', timeout: 60_000 });
  if (r.error !== undefined) throw new Error(`promtool could not run (install Debian's prometheus package): ${r.error.message}`);
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** /metrics after some of everything: grants after a wait, a deadlock, a hang still blocked, a posix lock. */
async function busyMetrics(): Promise<string> {
  const lm = server.manager;
  const [a, b] = [lm.owner('a'), lm.owner('b')];
  await (await a.lock('lin', 'held-then-released', 'PR')).release();
  const la = await a.lock('lin', 'x', 'EX');
  await b.lock('lin', 'y', 'EX');
  const wa = a.lock('lin', 'y', 'EX').catch(() => {});
  await b.lock('lin', 'x', 'EX').catch(() => {});
  const stuck = lm.owner('c').lock('lin', 'x', 'PR').catch(() => {});
  await a.setlk('adv', 'f', { type: 'write', start: 0, len: 10 });
  let persistent = 0;
  await new Promise<void>((resolve) => lm.on('hang-persistent', () => { if (++persistent === 2) resolve(); }));
  const r = await api(server, '/metrics', TOKENS.viewer);
  expect(r.status).toBe(200);
  b.releaseAll();
  await wa;
  la.release();
  await stuck;
  a.releaseAll();
  return r.body as string;
}

/** A real cluster node's /metrics (one node on a real etcd): the names the cluster's alerts read. */
async function clusterMetrics(): Promise<string> {
  const etcd = await EtcdCluster.start(1);
  const node = await NodeProcess.create('n1', etcd.endpoints);
  try {
    await node.start();
    await settledCluster([node], 1);
    return await (await fetch(`${node.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
  } finally {
    await node.kill();
    await etcd.stop();
  }
}

/** Sample names in an exposition text. */
function exposed(text: string): Set<string> {
  return new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)![0]));
}

it('a real server\'s /metrics passes promtool check metrics, with the hang and grace gauges the alerts read', async () => {
  const text = await busyMetrics();
  const r = promtool(['check', 'metrics'], text);
  expect(r.out).toBe('');
  expect(r.status).toBe(0);
  const names = exposed(text);
  // a (the deadlock's survivor, still waiting for b's y) and c (behind a's x): both past the soft timeout and persistent.
  expect(text).toMatch(/^lockscope_hangs\{domain="lin",classification="persistent"\} 2$/m);
  expect(text).toMatch(/^lockscope_hangs\{domain="lin",classification="hanging"\} 0$/m);
  expect(text).toMatch(/^lockscope_grace_active 0$/m);
  // The counts prom-client called `…_total` remain, by type.
  expect(names.has('lockscope_nodejs_active_handles')).toBe(true);
  expect([...names].filter((n) => n.startsWith('lockscope_nodejs_active_') && n.endsWith('_total'))).toEqual([]);
});

it('the alert rules pass promtool check rules and their unit tests', () => {
  const check = promtool(['check', 'rules', RULES]);
  expect(check.out).toContain('SUCCESS');
  expect(check.status).toBe(0);
  const test = promtool(['test', 'rules', RULE_TESTS]);
  expect(test.out).toContain('SUCCESS');
  expect(test.status).toBe(0);
});

it('every metric the alert rules and the Grafana dashboard read is one the server exposes', async () => {
  const names = exposed(await busyMetrics());
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    __inputs: { name: string }[]; panels: Array<{ id: number; gridPos: { x: number; y: number; w: number; h: number }; datasource: { uid: string }; targets: Array<{ expr?: string }> }>;
    templating: { list: Array<{ definition: string }> };
  };
  const exprs = [
    ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr ?? '')),
    ...dashboard.templating.list.map((v) => v.definition),
    ...[...readFileSync(RULES, 'utf8').matchAll(/expr:\s*(\|[\s\S]*?(?=\n\s+for:|\n\s+labels:)|.*)/g)].map((m) => m[1]!),
  ];
  const used = new Set(exprs.flatMap((e) => [...e.matchAll(/\blockscope_[a-z0-9_]+/g)].map((m) => m[0])));
  expect(used.size).toBeGreaterThan(10);
  // The cluster's metrics come from a cluster node (etcd is installed where CI runs; without it they are not checked).
  const cluster = [...used].filter((n) => n.startsWith('lockscope_cluster_'));
  expect(cluster.length).toBeGreaterThan(0);
  if (etcdAvailable()) for (const n of exposed(await clusterMetrics())) names.add(n);
  else for (const n of cluster) names.add(n);
  expect([...used].filter((n) => !names.has(n))).toEqual([]);

  // Importable: panel ids unique, every data source one of the import's inputs, panels inside 24 columns and not on top of each other.
  const inputs = new Set(dashboard.__inputs.map((i) => `\${${i.name}}`));
  expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
  for (const p of dashboard.panels) {
    expect(inputs.has(p.datasource.uid)).toBe(true);
    expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
  }
  const cells = new Set<string>();
  for (const p of dashboard.panels) {
    for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
      for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
        expect(cells.has(`${x},${y}`), `panel ${p.id} overlaps another at ${x},${y}`).toBe(false);
        cells.add(`${x},${y}`);
      }
    }
  }
}, 30_000);
