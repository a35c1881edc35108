/**
 * `GET /api/lockfiles` (role `read`): the scan of the lock directory this
 * server was configured with (`lockFiles: { dir }`), for the dashboard's lock
 * file panel, which asks every few seconds: the kernel tells no one when a
 * file is locked, so there is no event to push. Requests that arrive while a
 * scan runs share it, so any number of open dashboards cost one scan at a
 * time. The kernel does not say since when a lock is held, so each listed
 * file carries when this server first saw its current holders hold it. A scan that fails (the directory is gone, /proc is missing) is an
 * answer about the machine, not an API failure: `{ error: { code, message } }`.
 */

import express from 'express';
import { isDumpError, lockFileLimits } from '../collectors/index.js';
import { lockFilesView, type LockFilesOptions } from '../collectors/lockfiles/collector.js';
import { allow } from './allow.js';
import type { Auth } from './auth.js';
import type { LockFilesView } from '../collectors/shapes.js';
import type { LockFileRow, LockFilesAnswer } from './protocol.js';

export function lockFilesRouter(options: LockFilesOptions | null, auth: Auth): express.Router {
  const r = express.Router();
  let running: Promise<LockFilesAnswer> | null = null;
  // "file key|pid|mechanism|start" → wall ms of the first scan that saw it; only holds seen in the latest scan
  // are kept, so it is bounded by the listed files' locks.
  let seen = new Map<string, number>();
  const scan = async (): Promise<LockFilesAnswer> => {
    if (options === null) return { configured: false };
    try {
      const view = await lockFilesView(options, lockFileLimits.apiEntriesMax);
      const now = Date.now();
      const next = new Map<string, number>();
      const files = view.files.map((f): LockFileRow => {
        let since: number | null = null;
        for (const l of f.locks) {
          if (l.waiting) continue;
          for (const h of l.holders) {
            const id = `${f.key}|${h.pid}|${l.mechanism}|${l.start}`;
            const first = seen.get(id) ?? now;
            next.set(id, first);
            since = since === null ? first : Math.min(since, first);
          }
        }
        return { ...f, heldSeenSince: since };
      });
      seen = next;
      return { configured: true, ...view, files };
    } catch (err) {
      if (!isDumpError(err)) throw err;
      return { configured: true, dir: options.dir, error: { code: err.code, message: err.message } };
    }
  };
  r.get('/api/lockfiles', allow(auth, 'read'), async (_req, res) => {
    running ??= scan().finally(() => (running = null));
    res.json(await running);
  });
  return r;
}
