/** lockscope/dumps: hang-dump archives — the dumper, the collectors, and reading a dump back. */

export { HangDumper, type DumpSource, type DumpResult } from './dumper.js';
export type { HangDumperOptions } from './dumper-options.js';
export type { HangDumperEvents } from './dumper-events.js';
export { BUILTIN_COLLECTOR_NAMES } from './builtins.js';
export { locksCollector } from './locks.js';
export { waitForCollector } from './waitfor.js';
export { stacksCollector } from './stacks.js';
export { nodeReportCollector, redactReport } from './node-report.js';
export { osLocksCollector, parseProcLocks, osLocksText } from './os-locks.js';
export { clientReportsCollector } from './clients.js';
export { scanLockFiles, VERDICTS, type LockFileScan, type ScanOptions } from './lockfiles/scan.js';
export { cleanLockFiles, QUARANTINE_PREFIX, type CleanOptions, type CleanReport, type CleanOutcome, type CleanAction, type KeptReason } from './lockfiles/clean.js';
export { lockFilesCollector, lockFilesView, type LockFilesOptions } from './lockfiles/collector.js';
export { runLockfiles } from './lockfiles/cli.js';
export { buildSummary } from './summary.js';
export { redactValue, redactText, redactArgs, Redactor, REDACTED } from './redact.js';
export { readDump, type Dump } from './read-archive.js';
export { isDumpId } from './dump-index.js';
export { escapeText, safeJson } from './escape.js';
export { runInspect, runDump, type CliIO } from './cli.js';
export { DumpError, EXIT_STATUS, isDumpError, type DumpErrorCode } from './errors.js';
export { dumpLimits, lockFileLimits } from './limits.js';
export { DUMP_FORMAT, DUMP_FORMAT_VERSION } from './types.js';
export type { Collector, CollectContext, DumpFile, FileData, ClientReport, Manifest, ManifestFile, CollectorError } from './types.js';
export type { Classification, DumpRecord, DumpTrigger, LockFileEntry, LockFileLock, LockFileSummary, LockFilesView, Mechanism, ProcessInfo, Verdict } from './shapes.js';
