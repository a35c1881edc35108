/**
 * The shapes shared by collectors, the archive writer, the dumper and
 * `inspect`. The manifest is the archive's table of contents and is what a
 * reader checks first; `formatVersion` changes when a reader would misread it.
 */

import type { DeadlockRecord, Hang, Snapshot } from '../src/index.js';
import type { Redactor } from './redact.js';
import type { Classification, DumpTrigger } from './shapes.js';

export const DUMP_FORMAT = 'lockscope-hang-dump';
export const DUMP_FORMAT_VERSION = 1;

/** A file's content: small ones whole, big ones as chunks so they are never held whole. */
export type FileData = string | Uint8Array | Iterable<string> | AsyncIterable<string>;

export interface DumpFile {
  /** Path inside the archive, `/`-separated, relative. */
  path: string;
  data: FileData;
}

/** A remote client's own diagnostic report, collected by the server over its socket. */
export interface ClientReport {
  client: string;
  report: unknown;
}

/**
 * What a collector may read. Narrow on purpose: no collector gets the
 * manager. The snapshot and the hang are redacted already (rule R1); anything
 * else a collector writes goes through `redact` first.
 */
export interface CollectContext {
  snapshot: Snapshot;
  /** The wait that triggered the dump, if a hang did. */
  hang: Hang | null;
  /** This dump's redaction: its text(), value() and args() (collectors/redact.ts). */
  redact: Redactor;
  /** Where paths in stacks are shown relative to. */
  cwd: string;
  /** Aborted when the collector's deadline passes: stop early. */
  signal: AbortSignal;
  clientReports: (() => Promise<ClientReport[]>) | null;
}

export interface Collector {
  name: string;
  deadlineMs: number;
  /** Uncompressed bytes of all its files together. */
  maxBytes: number;
  collect(ctx: CollectContext): Promise<DumpFile[]>;
}

/**
 * The rest of a cluster (the server fills this in for a cluster node): the
 * other nodes' files for a dump, under `nodes/<node>/`, and the cluster's
 * shared rate limit of automatic dumps.
 */
export interface ClusterPart {
  /** The other live nodes' files (and `cluster.json`), and which nodes answered or did not within the deadline. */
  collect(signal: AbortSignal): Promise<{ files: DumpFile[]; answered: string[]; missing: string[] }>;
  /** Wall-clock ms of the cluster's last automatic dump on any node, or null. */
  lastAutomatic(): number | null;
  /** This node takes an automatic dump now (wall-clock ms): the other nodes hold theirs back. */
  automaticTaken(wallMs: number): void;
}

export interface ManifestFile {
  path: string;
  size: number;
  sha256: string;
  collector: string;
}

export interface CollectorError {
  collector: string;
  /** `deadline`, `size`, `error`. */
  kind: 'deadline' | 'size' | 'error';
  message: string;
  path?: string;
}

export interface Manifest {
  format: typeof DUMP_FORMAT;
  formatVersion: number;
  id: string;
  trigger: DumpTrigger;
  node: string;
  /** The nodes whose state the dump holds: this one, and in a cluster each other node that answered in time. */
  nodes: string[];
  /** In a cluster: the live nodes that did not answer in time (their part is missing). */
  missingNodes?: string[];
  /** Wall-clock ms of the snapshot. */
  time: number;
  /** The wait that triggered it (soft-timeout). */
  hang: Hang | null;
  /** The deadlock that triggered it (deadlock). */
  deadlock: DeadlockRecord | null;
  /** At write time; later changes are in index.json beside the archive. */
  classification: Classification | null;
  files: ManifestFile[];
  errors: CollectorError[];
  /** The process's working directory: stack paths in the summary are relative to it. */
  cwd: string;
  /** How long collecting and writing took, ms. */
  tookMs: number;
  generator: { name: 'lockscope'; node: string; pid: number };
}
