/**
 * Installed first thing when the CLI module loads, before any command is chosen:
 *   - SIGINT/SIGTERM that arrive while a command is still starting are remembered (not
 *     fatal), so `target`/`initiator` stopped in their first moments still clean up and exit
 *     0, and `demo` reports an interruption; commands take them with takeEarlySignal();
 *   - a closed stdout/stderr (EPIPE: `mxl-fabrics target | head`, a log reader gone) does
 *     not kill the process before it has released its flow: output is dropped instead.
 */
let early: NodeJS.Signals | undefined;
let claimed = false;

const onEarlySignal = (signal: NodeJS.Signals) => {
  if (claimed) return;
  early ??= signal;
};

/** A signal received before a command claimed the signals, if any. */
export function takeEarlySignal(): NodeJS.Signals | undefined {
  return early;
}

/** Called by the command that handles signals itself: early ones stop being recorded here. */
export function claimSignals(): NodeJS.Signals | undefined {
  claimed = true;
  process.off('SIGINT', onEarlySignal);
  process.off('SIGTERM', onEarlySignal);
  return early;
}

/** Output streams whose reader went away: true once a write failed with EPIPE. */
export const brokenOutput = { stdout: false, stderr: false };

/** Where bin/mxl-fabrics.js keeps what it caught before this module loaded. */
const BIN_KEY = Symbol.for('mxl-fabrics.earlySignals');
type BinSignals = { signals: NodeJS.Signals[]; off: () => void };

export function installProcessGuards(): void {
  process.on('SIGINT', onEarlySignal);
  process.on('SIGTERM', onEarlySignal);
  const bin = (process as unknown as Record<symbol, BinSignals | undefined>)[BIN_KEY];
  if (bin) {
    bin.off(); // ours are installed: the bin's catch-all can go
    if (bin.signals.length > 0) early ??= bin.signals[0];
  }
  for (const [name, stream] of [['stdout', process.stdout], ['stderr', process.stderr]] as const) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') {
        brokenOutput[name] = true;
        return;
      }
      throw e;
    });
  }
}

installProcessGuards();
