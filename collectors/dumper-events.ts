/** The typed event map of a HangDumper. Payloads are plain data, ready for the dashboard and logs. */

import type { CollectorError } from './types.js';
import type { Classification, DumpRecord, DumpTrigger } from './shapes.js';

export interface HangDumperEvents {
  /** A dump began: the snapshot is taken, the archive is being written to `path`. */
  'dump-started': { id: string; trigger: DumpTrigger; path: string; time: number; hangId: number | null };
  /** The archive is complete and in the index. `errors` are collectors that failed (the dump is still good). */
  'dump-written': { id: string; path: string; trigger: DumpTrigger; bytes: number; files: number; errors: CollectorError[]; tookMs: number; record: DumpRecord };
  /** A hang's dump became transient (the wait ended, `waitedMs` in all) or persistent. */
  'dump-classified': { id: string; classification: Classification; hangId: number; waitedMs?: number; outcome?: string };
  /** An automatic dump was not taken: the previous one is less than `rateLimitMs` old. */
  'dump-skipped': { trigger: DumpTrigger; reason: 'rate-limited'; hangId: number | null; nextAllowedInMs: number };
  /** Writing a dump failed (the disk, the directory); nothing was listed. */
  'dump-failed': { id: string; trigger: DumpTrigger; path: string; error: Error };
  /** An archive was deleted to keep the directory within its retention bounds. */
  'dump-removed': { id: string; reason: 'retention' };
}
