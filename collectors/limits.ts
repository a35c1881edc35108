/**
 * Every bound of the hang-dump code, in one place (STYLE.md item 5). A dump
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
  /** Dumps remembered in index.json (it is pruned together with the archives, this is the backstop). */
  indexRecordsMax: 10_000,
  /** Bytes of one archive entry `inspect` reads into memory, and entries it accepts. */
  inspectEntryBytesMax: 1024 * 1024 * 1024,
  inspectEntriesMax: 100_000,
});

export type DumpLimits = typeof dumpLimits;
