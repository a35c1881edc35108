/**
 * Structured logs: one JSON object per line, `time`, `level`, `event`, then
 * the event's fields. Tokens never appear in a log line; principals are
 * logged by name.
 *
 * Every line is rate limited by its event kind (L1): at most
 * `logLinesPerKindMax` lines of one kind per `logWindowMs`; the rest are
 * counted, and the window's end (or `flush()`, at server close) writes one
 * `log-suppressed { kind, suppressed, windowMs }` line for them. Most kinds can be
 * caused by anyone who can connect (a refused connection, a bad batch, a
 * refused reclaim: one line each, and a client flooding them filled a shared
 * disk at ~2 GB a minute), and a limit on every kind needs no list of which
 * ones those are. Kinds an operator must always see (listening, closing,
 * state-unwritable) come a few at a time and never reach it.
 */

import { serverLimits } from './limits.js';

export type LogLevel = 'info' | 'warn' | 'error';
export type LogSink = (line: string) => void;

export interface Logger {
  (level: LogLevel, event: string, fields?: Record<string, unknown>): void;
  /** Write the `log-suppressed` lines of the current windows now (server close). */
  flush?(): void;
}

export interface LogRateOptions {
  linesPerKindMax: number;
  windowMs: number;
  now(): number;
}

/** One kind's window: lines written, lines counted instead, when it began. */
interface KindWindow {
  start: number;
  written: number;
  suppressed: number;
  level: LogLevel;
}

/** Kinds tracked at once: event names are the server's own constants, this only bounds a bug. */
const KINDS_MAX = 1000;

export function makeLogger(sink: LogSink | null, rate: Partial<LogRateOptions> = {}): Logger {
  if (sink === null) return () => {};
  const max = rate.linesPerKindMax ?? serverLimits.logLinesPerKindMax;
  const windowMs = rate.windowMs ?? serverLimits.logWindowMs;
  const now = rate.now ?? Date.now;
  const windows = new Map<string, KindWindow>();
  let timer: NodeJS.Timeout | null = null;

  const write = (level: LogLevel, event: string, fields: Record<string, unknown>): void => {
    let line: string;
    try {
      line = JSON.stringify({ time: new Date().toISOString(), level, event, ...fields });
    } catch {
      line = JSON.stringify({ time: new Date().toISOString(), level, event, unserializable: true });
    }
    sink(line);
  };
  const summarize = (kind: string, w: KindWindow): void => {
    if (w.suppressed > 0) write(w.level, 'log-suppressed', { kind, suppressed: w.suppressed, windowMs });
    w.suppressed = 0;
  };
  /** Windows that ended: their summaries written, their entries gone. */
  const sweep = (all: boolean): void => {
    const t = now();
    for (const [kind, w] of windows) {
      if (!all && t - w.start < windowMs) continue;
      summarize(kind, w);
      windows.delete(kind);
    }
  };
  const arm = (): void => {
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      sweep(false);
      if ([...windows.values()].some((w) => w.suppressed > 0)) arm();
    }, windowMs);
    // Summaries wait for the window; they never keep a process alive.
    timer.unref();
  };

  const log: Logger = (level, event, fields = {}) => {
    const t = now();
    let w = windows.get(event);
    if (w !== undefined && t - w.start >= windowMs) {
      summarize(event, w);
      w = undefined;
    }
    if (w === undefined) {
      if (windows.size >= KINDS_MAX) sweep(true);
      w = { start: t, written: 0, suppressed: 0, level };
      windows.set(event, w);
    }
    if (w.written < max) {
      w.written++;
      write(level, event, fields);
      return;
    }
    w.suppressed++;
    // The summary takes the most severe level it stands for.
    if (level === 'error' || (level === 'warn' && w.level === 'info')) w.level = level;
    arm();
  };
  log.flush = () => sweep(true);
  return log;
}

export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) return { error: err.message, stack: err.stack };
  return { error: String(err) };
}
