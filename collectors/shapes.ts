/**
 * The collectors' shapes that leave this layer, without behaviour: a
 * hang-dump as the dump index and the dashboard list it, and a lock-file
 * directory's scan as a dump and `GET /api/lockfiles` hold it. No runtime
 * code and no imports, so the dashboard's build reads this file alone of the
 * collectors (through server/protocol.ts). The archive's own shapes (the
 * manifest, collectors' ports) stay in types.ts.
 */

// ---------------------------------------------------------------------------
// Hang-dumps as index.json and the dashboard list them (dump-index.ts keeps them)

export type DumpTrigger = 'soft-timeout' | 'deadlock' | 'manual' | 'signal';
export type Classification = 'pending' | 'transient' | 'persistent';

/** One dump as index.json remembers it. */
export interface DumpRecord {
  id: string;
  /** File name inside the dump directory. */
  file: string;
  /** `unknown` when the index was rebuilt from the archive names. */
  trigger: DumpTrigger | 'unknown';
  node: string;
  time: number;
  bytes: number;
  hang: { id: number; owner: string; domain: string; resource: string; wanted: string } | null;
  classification: Classification | null;
  /** For a resolved hang: how long the wait took in all, and how it ended. */
  waitedMs?: number;
  outcome?: string;
}

// ---------------------------------------------------------------------------
// A scan of a lock-file directory (lockfiles/scan.ts), as os/lockfiles.json and GET /api/lockfiles hold it

export type Mechanism = 'POSIX' | 'FLOCK' | 'OFD';

/** Who a process is, for a person reading the scan. */
export interface ProcessInfo {
  pid: number;
  command: string;
  user: string;
}

export type Verdict = 'held' | 'open' | 'stale' | 'young';

/** One lock on a file, with the processes that hold it. */
export interface LockFileLock {
  mechanism: Mechanism;
  access: 'READ' | 'WRITE';
  /** First and last byte (inclusive); `end` null: to the end of the file. */
  start: number;
  end: number | null;
  /** A request waiting for a conflicting lock, not a lock held. */
  waiting: boolean;
  holders: ProcessInfo[];
}

export interface LockFileEntry {
  /** Relative to the scanned directory, `/`-separated. */
  path: string;
  /** "major:minor:inode", as /proc/locks names the file. */
  key: string;
  bytes: number;
  /** Last modification (a lock file is written when created, rarely after). */
  mtimeMs: number;
  ageMs: number;
  verdict: Verdict;
  locks: LockFileLock[];
  /** Processes with the file open that hold no lock on it. */
  openers: ProcessInfo[];
}

export interface LockFileSummary {
  dir: string;
  /** Wall-clock ms when the scan started. */
  time: number;
  staleAfterMs: number;
  recursive: boolean;
  files: number;
  held: number;
  open: number;
  stale: number;
  young: number;
  /** Entries that disappeared between being listed and being looked at (skipped). */
  vanished: number;
  /** Entries that are not lock files: symbolic links (never followed), directories not entered, devices, sockets. */
  symlinks: number;
  directories: number;
  other: number;
  /** Subdirectories that could not be read, or are on another filesystem (a recursive scan stays on one). */
  dirsSkipped: number;
  processes: number;
  /** Processes whose open files could not be read: a file they have open looks unused (README.md, rule S3). */
  unreadableProcesses: number;
  /** A bound of lockFileLimits was reached: files or processes were left out. */
  truncated: boolean;
  tookMs: number;
}

/** What os/lockfiles.json and GET /api/lockfiles hold. */
export interface LockFilesView {
  summary: LockFileSummary;
  /** Held, then open, then stale, then young; at most `max`. */
  files: LockFileEntry[];
  /** Files counted in the summary but not listed. */
  omitted: number;
}

// ---------------------------------------------------------------------------
// A cluster dump's nodes/<node>/waits.json (server/cluster/dumps.ts writes it, cluster-graph.ts reads it)

/**
 * One node's wait-for edges with cluster-wide owner names, as a cluster
 * node answers its peers and as `nodes/<node>/waits.json` holds them.
 */
export interface NodeWaits {
  node: string;
  /** The view the node acts on: a check under another generation holds nothing. */
  generation: string;
  /** [local owner id, cluster-wide key, name, priority, locks held here, ms since it was created] */
  owners: Array<[number, string, string, number, number, number]>;
  /** [edge key, waiting owner's local id, blocking owner's local id, ms the wait has lasted] */
  edges: Array<[string, number, number, number]>;
}
