/** Exit codes of the mxl-fabrics CLI (documented in docs/cli.md). */
export const ExitCode = {
  OK: 0,
  /** The job ran and failed (a grain lost or corrupted, a peer refused, ...). */
  FAILURE: 1,
  /** Bad flags or arguments. */
  USAGE: 2,
  /** The native addon or libfabric is missing. */
  SETUP: 3,
  /** Interrupted by SIGINT/SIGTERM before finishing its job (demo only). */
  INTERRUPTED: 130,
} as const;

/** A usage mistake: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}
