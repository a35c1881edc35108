/**
 * The hang-dumps in the server's log: where dumps go (once, at startup),
 * and every dump written, failed, skipped or removed, with its id, path and
 * trigger, so an operator finds the archive a hang produced without
 * looking for it. Skips are caused by outsiders (any client can make its
 * waits hang): one line per rate-limit window, with how many were not logged.
 */

import type { HangDumper, HangDumperEvents } from '../collectors/index.js';
import type { Logger } from './log.js';

export function logDumps(dumper: HangDumper, log: Logger): () => void {
  log('info', 'dumps', { dir: dumper.dir, rateLimitMs: dumper.rateLimitMs, retention: dumper.retention });
  let skipLogged = false;
  let skipsUnlogged = 0;
  const onWritten: Listener<'dump-written'> = (e) => {
    log('info', 'dump-written', {
      id: e.id, path: e.path, trigger: e.trigger, hangId: e.record.hang?.id ?? null, bytes: e.bytes, files: e.files, tookMs: e.tookMs,
      collectorErrors: e.errors.length, skippedBefore: skipsUnlogged,
    });
    skipLogged = false;
    skipsUnlogged = 0;
  };
  const onFailed: Listener<'dump-failed'> = (e) => {
    const code = (e.error as NodeJS.ErrnoException).code;
    log('error', 'dump-failed', { id: e.id, path: e.path, trigger: e.trigger, ...(code === undefined ? {} : { code }), error: e.error.message });
  };
  const onSkipped: Listener<'dump-skipped'> = (e) => {
    if (skipLogged) {
      skipsUnlogged++;
      return;
    }
    skipLogged = true;
    log('info', 'dump-skipped', { trigger: e.trigger, reason: e.reason, hangId: e.hangId, nextAllowedInMs: e.nextAllowedInMs });
  };
  const onRemoved: Listener<'dump-removed'> = (e) => log('info', 'dump-removed', { id: e.id, reason: e.reason });
  dumper.on('dump-written', onWritten);
  dumper.on('dump-failed', onFailed);
  dumper.on('dump-skipped', onSkipped);
  dumper.on('dump-removed', onRemoved);
  return () => {
    dumper.off('dump-written', onWritten);
    dumper.off('dump-failed', onFailed);
    dumper.off('dump-skipped', onSkipped);
    dumper.off('dump-removed', onRemoved);
  };
}

type Listener<K extends keyof HangDumperEvents> = (e: HangDumperEvents[K]) => void;
