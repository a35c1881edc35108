/**
 * Every bound of the hang-dump code, in one place (as src/limits.ts is for
 * the core). A dump
 * is taken when something is already wrong, so each part of it has a
 * deadline and a size cap: a slow or huge collector must never stop the rest.
 */

export const dumpLimits = Object.freeze({
  /** Uncompressed bytes of all files of one archive together; files past it are left out (and listed as errors). */
  dumpBytesMax: 1024 * 1024 * 1024,
  /** Archives kept in a dump directory by default (retention by count). */
  dumpsKeptMax: 50,
  /** Bytes of archives kept in a dump directory by default (retention by size). */
  dumpsBytesKeptMax: 2 * 1024 * 1024 * 1024,
  /** Default minimum time between two automatic dumps (OneFS: 10 minutes). */
  rateLimitMs: 600_000,
  /** Deadline of one collector, unless it sets its own. */
  collectorDeadlineMs: 5_000,
  /** Deadline of the process report (getReport walks every libuv handle). */
  reportDeadlineMs: 5_000,
  /** Deadline of the OS lock scan (it reads /proc/<pid>/fd of every lock holder). */
  osLocksDeadlineMs: 3_000,
  /** Deadline for the remote clients' reports. */
  clientReportsDeadlineMs: 5_000,
  /** Deadline for the other nodes' parts of a cluster dump (a node that misses it is named missing). */
  clusterDeadlineMs: 5_000,
  /** Longest cycle across nodes `inspect` reports from a cluster dump (as the cluster's detector: server/cluster/limits.ts cycleStepsMax). */
  clusterCycleStepsMax: 64,
  /** Uncompressed bytes of one other node's part of a cluster dump. */
  clusterNodeBytesMax: 512 * 1024 * 1024,
  /** Size caps per collector (uncompressed bytes of all its files). */
  locksBytesMax: 512 * 1024 * 1024,
  waitforBytesMax: 256 * 1024 * 1024,
  stacksBytesMax: 256 * 1024 * 1024,
  reportBytesMax: 16 * 1024 * 1024,
  eventLoopBytesMax: 64 * 1024,
  osLocksBytesMax: 8 * 1024 * 1024,
  clientReportsBytesMax: 64 * 1024 * 1024,
  /** Clients whose reports one dump includes. */
  clientsMax: 1_000,
  /** /proc/locks lines read, and file descriptors looked at per process, by the OS lock scan. */
  osLockLinesMax: 10_000,
  fdsPerProcessMax: 4_096,
  /**
   * Of a lock holder's command line: bytes read, arguments shown, characters
   * per argument. The program and its first arguments identify a process; a
   * browser's 37 KB of flags identify nothing more and may hold secrets.
   */
  osLockCmdlineBytesMax: 4_096,
  osLockArgsMax: 6,
  osLockArgCharsMax: 80,
  /** gzip level of archives: 1 compresses dumps' repetitive JSON almost as well as 6 at a quarter of the time. */
  gzipLevel: 1,
  /** Summary: lines of the who-waits-for-whom tree, longest waits listed, cycles and deadlocks shown, stack frames per site. */
  summaryTreeLinesMax: 300,
  summaryWaitsMax: 20,
  summaryRootsMax: 20,
  summaryCyclesMax: 20,
  summaryStackLinesMax: 8,
  /** Cached grants the summary lists (every one is in locks/<domain>.json). */
  summaryCachedMax: 50,
  /** Dumps remembered in index.json (it is pruned together with the archives, this is the backstop). */
  indexRecordsMax: 10_000,
  /** Bytes of one archive entry `inspect` reads into memory, and entries it accepts. */
  inspectEntryBytesMax: 1024 * 1024 * 1024,
  inspectEntriesMax: 100_000,
});

export type DumpLimits = typeof dumpLimits;

/**
 * Bounds of the lock-file scan and clean (collectors/lockfiles/README.md).
 * The scan runs inside a server (dumps, dashboard), so it gives the event
 * loop back every `syncStepsMax` system calls and stops at these sizes.
 */
export const lockFileLimits = Object.freeze({
  /** Files one scan looks at (all directories together); the rest are counted as `truncated`. */
  filesMax: 1_000_000,
  /** Entries of one scan kept in memory by the library call (the CLI streams and keeps none). */
  entriesKeptMax: 200_000,
  /** Directories one recursive scan enters (an explicit stack, no recursion). */
  dirsMax: 10_000,
  /** /proc/locks lines read (a machine with more file locks than this is reported as truncated). */
  procLockLinesMax: 1_000_000,
  /** Descriptors looked at in all of /proc/<pid>/fd together, per walk. */
  fdsMax: 2_000_000,
  /** Synchronous system calls between two turns of the event loop (about 1-3 ms of work). */
  syncStepsMax: 512,
  /** Characters of a process's command line kept. */
  commandCharsMax: 200,
  /** A person's table shows at most this many rows (the JSON lines have every file). */
  tableRowsMax: 5_000,
  /** Characters of CLI output gathered before one write to stdout. */
  outputChunkChars: 64 * 1024,
  /** Progress on stderr every this many files. */
  progressEveryFiles: 10_000,
  /** Files `clean` quarantines between two /proc walks (each walk costs a few ms on a busy machine). */
  cleanBatchMax: 256,
  /** Files listed in a dump's os/lockfiles.json, and its deadline and size cap. */
  collectorEntriesMax: 20_000,
  collectorDeadlineMs: 4_000,
  collectorBytesMax: 16 * 1024 * 1024,
  /** Files one GET /api/lockfiles answer lists (held and open first), for the dashboard. */
  apiEntriesMax: 2_000,
  /** Default threshold between `young` and `stale` when none is given to a scan. */
  staleAfterMsDefault: 3_600_000,
});

export type LockFileLimits = typeof lockFileLimits;
