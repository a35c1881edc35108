/**
 * Cluster hang-dumps: a dump taken on any node holds every live node's
 * state. The dumper (collectors/dumper.ts) runs this node's collectors and,
 * beside them, this part, which asks every other member for its own.
 *
 * K1. Each node collects its own state with its own collectors and redacts
 *     it by its own rules before it leaves the node; the dumping node
 *     redacts it again by its rules (the dumper's R1). A node's files go
 *     under `nodes/<node>/`, its wait-for edges (cluster-wide owner keys,
 *     waits.ts) as `nodes/<node>/waits.json`, so that `inspect` can join
 *     the nodes' graphs offline.
 * K2. Every node is asked with a deadline (`dumpLimits.clusterDeadlineMs`
 *     less a margin for writing); a node that does not answer in time is
 *     named in the manifest's `missingNodes`, and the dump is written
 *     without its part. The cluster's view, grace record and detector go in
 *     `cluster.json`.
 * K3. Automatic dumps are rate limited per cluster: a node that takes one
 *     writes the time to etcd (`dumped`), every node watches that key, and
 *     a node holds its own automatic dump back while the last one anywhere
 *     is younger than its rate limit. Two nodes whose triggers fall within
 *     one etcd round trip of each other can both dump (the dumper decides
 *     synchronously, inside the triggering event); a hang seen later on
 *     another node does not make a second dump.
 */

import type { Etcd3, Watcher } from 'etcd3';
import type { ClusterPart, CollectorError, DumpFile } from '../../collectors/types.js';
import { dumpLimits } from '../../collectors/limits.js';
import { etcdCall, settleWithin } from './etcd.js';
import { LockError } from '../../src/index.js';
import { callPeerBytes } from './peers.js';
import type { ClusterNode } from './node.js';
import type { PeerWaits } from './shapes.js';

/** What a node answers a cluster dump: its files, its collectors' errors and its edges. */
export interface NodeState {
  node: string;
  files: Array<{ path: string; data: Buffer }>;
  errors: CollectorError[];
  waits: PeerWaits;
}

/**
 * K1 on the wire: one line of JSON (node, errors, edges, each file's path
 * and length), then the files' bytes one after the other, so that a file is
 * neither escaped into JSON nor parsed out of it again.
 */
export function encodeState(s: NodeState): Buffer {
  const head = { node: s.node, errors: s.errors, waits: s.waits, files: s.files.map((f) => ({ path: f.path, bytes: f.data.length })) };
  return Buffer.concat([Buffer.from(`${JSON.stringify(head)}\n`), ...s.files.map((f) => f.data)]);
}

export function decodeState(buf: Buffer): NodeState {
  const end = buf.indexOf(10);
  if (end < 0) throw new LockError('EIO', 'a node\'s part of a dump has no header');
  const head = JSON.parse(buf.subarray(0, end).toString('utf8')) as Omit<NodeState, 'files'> & { files: Array<{ path: string; bytes: number }> };
  const files: NodeState['files'] = [];
  let at = end + 1;
  for (const f of head.files) {
    if (!Number.isSafeInteger(f.bytes) || f.bytes < 0 || at + f.bytes > buf.length) throw new LockError('EIO', `a node's part of a dump is cut short (${f.path})`);
    files.push({ path: f.path, data: buf.subarray(at, at + f.bytes) });
    at += f.bytes;
  }
  if (at !== buf.length) throw new LockError('EIO', 'a node\'s part of a dump has bytes after its files');
  return { node: head.node, errors: head.errors, waits: head.waits, files };
}

export interface DumpPartSource {
  node(): ClusterNode | null;
  secret(): string | null;
  /** This node's own state, as it would answer a peer. */
  state(): Promise<NodeState>;
  /** What `cluster.json` holds besides the answered and missing nodes. */
  cluster(): Promise<Record<string, unknown>>;
  log(event: string, fields: Record<string, unknown>): void;
}

/** Time kept for writing the archive after the last node answered (K2). */
const WRITE_MARGIN_MS = 500;

export class ClusterDumps implements ClusterPart {
  private last: number | null = null;
  private watcher: Watcher | null = null;
  private key: string | null = null;
  private etcd: Etcd3 | null = null;

  constructor(private readonly source: DumpPartSource) {}

  /** K3: watch the cluster's last automatic dump (once the node has joined). */
  async start(etcd: Etcd3, key: string): Promise<void> {
    this.etcd = etcd;
    this.key = key;
    const seen = (value: Buffer): void => {
      const time = (JSON.parse(value.toString()) as { time?: unknown }).time;
      if (typeof time === 'number' && (this.last === null || time > this.last)) this.last = time;
    };
    try {
      const res = await etcdCall('read the last cluster dump', () => etcd.get(key).exec());
      const kv = res.kvs[0];
      if (kv !== undefined) seen(kv.value);
      this.watcher = await etcd.watch().key(key).create();
      this.watcher.on('put', (kv) => {
        try {
          seen(kv.value);
        } catch {
          // A value this version cannot read limits nothing.
        }
      });
    } catch (err) {
      this.source.log('cluster-dump-watch-error', { error: (err as Error).message });
    }
  }

  async close(): Promise<void> {
    if (this.watcher !== null) await settleWithin(this.watcher.cancel());
    this.watcher = null;
  }

  lastAutomatic(): number | null {
    return this.last;
  }

  automaticTaken(wallMs: number): void {
    this.last = wallMs;
    const { etcd, key } = this;
    const node = this.source.node();
    if (etcd === null || key === null || node === null) return;
    etcdCall('record a cluster dump', () => etcd.put(key).value(JSON.stringify({ node: node.node, time: wallMs })).exec())
      .catch((err: Error) => this.source.log('cluster-dump-record-error', { error: err.message }));
  }

  /** K1, K2: every other member's part, this node's edges and the cluster's record. */
  async collect(signal: AbortSignal): Promise<{ files: DumpFile[]; answered: string[]; missing: string[] }> {
    const node = this.source.node();
    if (node === null) return { files: [], answered: [], missing: [] };
    const secret = this.source.secret();
    const me = node.node;
    const others = node.view.members.filter((m) => m.node !== me);
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(Math.max(1, dumpLimits.clusterDeadlineMs - WRITE_MARGIN_MS))]);
    const [mine, ...answers] = await Promise.allSettled([
      this.source.state(),
      ...others.map((m) => (secret === null ? Promise.reject(new Error('no peer secret'))
        : callPeerBytes(m.advertise, m.node, 'state', secret, {}, deadline).then(decodeState))),
    ]);
    const files: DumpFile[] = [];
    const answered: string[] = [];
    const missing: string[] = [];
    if (mine!.status === 'fulfilled') files.push(waitsFile(me, mine.value.waits));
    answers.forEach((a, i) => {
      const name = others[i]!.node;
      if (a.status === 'rejected' || a.value.node !== name) {
        missing.push(name);
        return;
      }
      answered.push(name);
      files.push(...nodeFiles(name, a.value));
    });
    if (missing.length > 0) this.source.log('cluster-dump-missing', { missing });
    files.push({ path: 'cluster.json', data: JSON.stringify({ ...(await this.source.cluster()), node: me, answered, missing }, null, 2) });
    return { files, answered, missing };
  }
}

function waitsFile(node: string, waits: PeerWaits): DumpFile {
  return { path: `nodes/${node}/waits.json`, data: JSON.stringify(waits) };
}

/** Files read as text (redacted as text, summarized): what the collectors write. */
const TEXT = /\.(json|txt|dot|csv)$/;

/** K1: one node's answer as files under `nodes/<node>/`. */
function nodeFiles(node: string, s: NodeState): DumpFile[] {
  const own = `nodes/${node}/`;
  const out: DumpFile[] = s.files.map((f) => ({
    // A node's own report and event-loop files are already under nodes/<node>/.
    path: f.path.startsWith(own) ? f.path : `${own}${f.path}`,
    data: TEXT.test(f.path) ? f.data.toString('utf8') : f.data,
  }));
  out.push(waitsFile(node, s.waits));
  if (s.errors.length > 0) out.push({ path: `nodes/${node}/errors.json`, data: JSON.stringify(s.errors, null, 2) });
  return out;
}
