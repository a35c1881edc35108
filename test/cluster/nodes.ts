/**
 * Real `lockscope serve` nodes of a cluster, as child processes on free
 * ports, started against a real etcd (etcd.ts), killed with SIGKILL or
 * paused with SIGSTOP by the tests.
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect, type ConnectOptions, type LockClient } from '../../client/index.js';
import { CLI, freePort, untilListening, type LogLine } from '../recovery/support.js';
import { afterAll, beforeAll } from 'vitest';
import { until } from '../server/support.js';
import { Rendezvous, resourceKey } from '../../src/rendezvous.js';
import { EtcdCluster } from './etcd.js';

export const ADMIN = 'admin-token-for-cluster-tests';
export const CLIENT = 'client-token-for-cluster-tests';
export const DOMAINS = [{ name: 'lin', kind: 'dlm' }, { name: 'adv', kind: 'posix' }];

export interface NodeOptions {
  weight?: number;
  graceMs?: number;
  leaseTtl?: number;
  cluster?: string;
  /** More keys of the node's config file. */
  config?: Record<string, unknown>;
}

export class NodeProcess {
  child: ChildProcess | null = null;
  readonly lines: LogLine[] = [];
  readonly url: string;
  /** Where this node writes its hang-dumps (a directory of its own, under the temporary one of its config). */
  readonly dumps: string;

  private constructor(readonly name: string, readonly port: number, private readonly config: string, private readonly etcd: string, private readonly o: NodeOptions) {
    this.dumps = join(dirname(config), 'dumps');
    this.url = `http://127.0.0.1:${port}`;
  }

  static async create(name: string, etcd: string, o: NodeOptions = {}): Promise<NodeProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'lockscope-cluster-'));
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({
      domains: DOMAINS, leaseMs: 5_000,
      tokens: [{ token: ADMIN, role: 'admin', name: 'admin' }, { token: CLIENT, role: 'client', name: 'app' }],
      ...o.config,
    }));
    return new NodeProcess(name, await freePort(), config, etcd, o);
  }

  /** Arguments of `lockscope serve` for this node. */
  args(): string[] {
    return [
      CLI, 'serve', '--no-demo', '--port', String(this.port), '--config', this.config, '--dumps', this.dumps, '--etcd', this.etcd, '--node', this.name,
      '--lease-ttl', String(this.o.leaseTtl ?? 2), '--grace-ms', String(this.o.graceMs ?? 20_000),
      ...(this.o.weight === undefined ? [] : ['--weight', String(this.o.weight)]),
      ...(this.o.cluster === undefined ? [] : ['--cluster', this.o.cluster]),
    ];
  }

  /** Start it and wait until it listens and holds its first token block. */
  async start(): Promise<void> {
    this.lines.length = 0;
    const child = spawn(process.execPath, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await untilListening(child, this.lines, `node ${this.name}`);
  }

  async kill(): Promise<void> {
    const c = this.child;
    if (c === null || c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((resolve) => c.once('exit', resolve));
    c.kill('SIGCONT');
    c.kill('SIGKILL');
    await gone;
    this.child = null;
  }

  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  events(name: string): LogLine[] {
    return this.lines.filter((l) => l.event === name);
  }

  /** GET /api/cluster; a node that does not answer (killed, paused, starved) gives `{ unreachable }`. */
  async cluster(query = ''): Promise<any> {
    try {
      const res = await fetch(`${this.url}/api/cluster${query}`, { headers: { authorization: `Bearer ${ADMIN}` }, signal: AbortSignal.timeout(5000) });
      return await res.json();
    } catch (err) {
      return { unreachable: String(err) };
    }
  }

  client(name: string): Promise<LockClient> {
    return connect(this.url, { token: CLIENT, name });
  }
}

/** Runs `lockscope serve` to its exit; returns the status and what it printed. */
export function runServe(args: string[], timeoutMs: number): Promise<{ status: number | null; stdout: string; stderr: string; ms: number }> {
  return runCli(['serve', ...args], {}, timeoutMs);
}

/** Runs `lockscope <args>` to its exit. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<{ status: number | null; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** A lock holder in its own process (holder.mjs), attached to `node`, holding EX on `resources` of `lin`. */
export async function holderProcess(node: NodeProcess, name: string, resources: string[]): Promise<{ tokens: Record<string, string>; kill(): Promise<void> }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'holder.mjs'), node.url, CLIENT, name, 'lin', ...resources], { stdio: ['ignore', 'pipe', 'inherit'] });
  const gone = new Promise((resolve) => child.once('exit', resolve));
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.once('exit', (code) => reject(new Error(`holder ${name} exited with ${code} before holding its locks`)));
  });
  return {
    tokens: (JSON.parse(line) as { held: Record<string, string> }).held,
    kill: async () => {
      child.kill('SIGKILL');
      await gone;
    },
  };
}

/** Until every node answers with `size` members in its view, all under one generation, and no grace in force. */
export async function settledCluster(nodes: NodeProcess[], size: number, ms = 30_000): Promise<void> {
  await until(async () => {
    const s = await Promise.all(nodes.map((n) => n.cluster()));
    return s.every((x) => x.members?.filter((m: { inView: boolean }) => m.inView).length === size && x.generation === s[0].generation && !x.grace.inGrace);
  }, ms);
}

export interface ClusterFixture {
  /** The etcd the nodes use (set in beforeAll). */
  readonly etcd: EtcdCluster;
  readonly nodes: NodeProcess[];
  /** A client of the cluster given one node's URL or several, closed after the file's tests. */
  client(urls: string | string[], name: string, options?: ConnectOptions): Promise<LockClient>;
}

/**
 * The hooks every cluster test file needs: an etcd of `etcdMembers`, nodes
 * `names` started and settled in one view before the tests, and clients,
 * nodes and etcd stopped after them.
 */
export function clusterFixture(o: { names?: string[]; etcdMembers?: number; node?: NodeOptions; settleMs?: number } = {}): ClusterFixture {
  let etcd: EtcdCluster | null = null;
  const nodes: NodeProcess[] = [];
  const clients: LockClient[] = [];
  beforeAll(async () => {
    etcd = await EtcdCluster.start(o.etcdMembers ?? 1);
    for (const name of o.names ?? ['n1', 'n2', 'n3']) nodes.push(await NodeProcess.create(name, etcd.endpoints, o.node));
    await Promise.all(nodes.map((n) => n.start()));
    await settledCluster(nodes, nodes.length, o.settleMs);
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) await c.close().catch(() => {});
    for (const n of nodes) await n.kill();
    await etcd?.stop();
  });
  return {
    get etcd() {
      if (etcd === null) throw new Error('the etcd starts in beforeAll');
      return etcd;
    },
    nodes,
    async client(urls, name, options) {
      const c = await connect(urls, { token: CLIENT, name, ...options });
      clients.push(c);
      return c;
    },
  };
}

/** The first resource of `domain` whose name starts with `prefix` mastered on `node` among `members` (all of weight 1). */
export function mastered(members: string[], node: string, prefix: string, domain = 'lin'): string {
  const ring = new Rendezvous(members.map((name) => ({ name, weight: 1 })));
  for (let i = 0; i < 100_000; i++) {
    const r = `${prefix}${i}`;
    if (ring.master(resourceKey(domain, r)) === node) return r;
  }
  throw new Error(`no resource for ${node}`);
}
