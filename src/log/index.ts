/** Structured (JSON lines) logging for the CLI and applications. */
export * from './event-log.js';
