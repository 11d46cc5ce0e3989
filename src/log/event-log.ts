/**
 * Structured log events, one JSON object per line, for journald and Kubernetes log
 * collectors: `time` (ISO 8601 UTC), `level`, the endpoint's `endpoint` name, the peer's
 * `target_id` and the `session_epoch` when known, and `msg`.
 *
 * A small writer of our own rather than pino: the CLI writes a few lines a minute,
 * synchronously to stderr next to its text log, and must have flushed them before it
 * exits; pino's worth is throughput through an asynchronous transport, which would add a
 * dependency tree to the package for neither.
 */

export const LOG_FORMATS = Object.freeze(['text', 'json'] as const);
export type LogFormat = (typeof LOG_FORMATS)[number];
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Context carried by an event; absent fields are left out of the line. */
export interface LogFields {
  endpoint?: string;
  target_id?: string;
  session_epoch?: number;
}

/** One event as a JSON line (with the trailing newline). Keys in a fixed order. */
export function formatEvent(level: LogLevel, msg: string, fields: LogFields = {}, time: Date = new Date()): string {
  const e: Record<string, unknown> = { time: time.toISOString(), level };
  if (fields.endpoint !== undefined) e.endpoint = fields.endpoint;
  if (fields.target_id !== undefined) e.target_id = fields.target_id;
  if (fields.session_epoch !== undefined) e.session_epoch = fields.session_epoch;
  e.msg = msg;
  return `${JSON.stringify(e)}\n`;
}

/** Writes events to a stream, each with the writer's base fields merged under its own. */
export class EventLog {
  constructor(private readonly stream: { write(s: string): unknown }, private readonly base: LogFields = {}) {}

  write(level: LogLevel, msg: string, fields: LogFields = {}): void {
    this.stream.write(formatEvent(level, msg, { ...this.base, ...fields }));
  }

  /** A writer with more base fields (e.g. one peer's target id). */
  child(fields: LogFields): EventLog {
    return new EventLog(this.stream, { ...this.base, ...fields });
  }
}
