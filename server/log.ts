/**
 * Structured logs: one JSON object per line, `time`, `level`, `event`, then
 * the event's fields. Tokens never appear in a log line; principals are
 * logged by name.
 */

export type LogLevel = 'info' | 'warn' | 'error';
export type LogSink = (line: string) => void;

export interface Logger {
  (level: LogLevel, event: string, fields?: Record<string, unknown>): void;
}

export function makeLogger(sink: LogSink | null): Logger {
  if (sink === null) return () => {};
  return (level, event, fields = {}) => {
    let line: string;
    try {
      line = JSON.stringify({ time: new Date().toISOString(), level, event, ...fields });
    } catch {
      line = JSON.stringify({ time: new Date().toISOString(), level, event, unserializable: true });
    }
    sink(line);
  };
}

export function errorFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) return { error: err.message, stack: err.stack };
  return { error: String(err) };
}
