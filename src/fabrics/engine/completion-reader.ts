/**
 * The one place both sides read their completion queue: a non-blocking drain, a blocking
 * fi_cq_sread where the provider makes progress on its own, and for manual-progress
 * providers (shm, efa) a poll with growing pauses instead of sleeping in the CQ.
 */
import type { NativeCompletionQueue } from '../../native/fabric.js';

/** u64 words per completion record: [op_context, flags, data (or errno), len (or provider errno)]. */
export const REC_WORDS = 4;
/** Records read per call. */
export const BATCH = 64;

let pauseWord: Int32Array | undefined;
/** Sleeps about `us` microseconds without spinning. */
export function pause(us: number): void {
  pauseWord ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(pauseWord, 0, 0, us / 1000);
}

/**
 * Idle pauses for polling manual-progress providers, where nothing can wake a sleeper:
 * 50 µs after an arrival, doubling while nothing comes, up to 1 ms while the endpoint is
 * active (an arrival in the last 100 ms: grain latency stays within ~1 ms) and up to 4 ms
 * once it is idle (~250 wake-ups a second). The ladder persists across waits; restarting
 * it at every short wait made an idle shm target wake ~1000 times a second
 * (docs/runtime.md).
 */
export class PauseLadder {
  static readonly MIN_US = 50;
  static readonly ACTIVE_MAX_US = 1000;
  static readonly IDLE_MAX_US = 4000;
  static readonly ACTIVE_FOR_MS = 100;
  private us = PauseLadder.MIN_US;
  private lastMs = 0;

  /** Something arrived. */
  activity(): void {
    this.lastMs = performance.now();
    this.us = PauseLadder.MIN_US;
  }

  /** Sleeps one step and moves up the ladder. */
  pause(): void {
    const active = performance.now() - this.lastMs < PauseLadder.ACTIVE_FOR_MS;
    const max = active ? PauseLadder.ACTIVE_MAX_US : PauseLadder.IDLE_MAX_US;
    const step = Math.min(this.us, max);
    pause(step);
    this.us = Math.min(max, step * 2);
  }
}

export class CompletionReader {
  /** The records of the last read; REC_WORDS words each. */
  readonly recs = new BigUint64Array(REC_WORDS * BATCH);
  private readonly ladder = new PauseLadder();

  /** `waitable`: fi_cq_sread wakes reliably (automatic progress; see OpenedFabric.cqWaitable). */
  constructor(private readonly cq: NativeCompletionQueue, private readonly waitable: boolean) {}

  /**
   * Reads up to `max` (<= BATCH) records into `recs`; with timeoutMs > 0 waits that long for
   * the first one. Returns the count (0 on timeout; a negative libfabric status on failure).
   */
  read(max: number, timeoutMs = 0): number {
    const want = Math.min(max, BATCH);
    if (timeoutMs <= 0) return this.cq.drain(this.recs, want);
    if (this.waitable) return this.cq.sread(this.recs, want, timeoutMs);
    const end = performance.now() + timeoutMs;
    for (;;) {
      const n = this.cq.drain(this.recs, want);
      if (n !== 0) {
        this.ladder.activity();
        return n;
      }
      if (performance.now() >= end) return 0;
      this.ladder.pause();
    }
  }

  context(i: number): bigint { return this.recs[i * REC_WORDS]; }
  flags(i: number): bigint { return this.recs[i * REC_WORDS + 1]; }
  /** Immediate data, or the fi errno of an error record. */
  data(i: number): bigint { return this.recs[i * REC_WORDS + 2]; }
  len(i: number): bigint { return this.recs[i * REC_WORDS + 3]; }
}
