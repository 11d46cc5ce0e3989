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
let sleeper: ((ms: number) => boolean) | undefined;

/**
 * How this thread's idle pauses sleep. By default on a private word, which nothing wakes; a
 * runtime worker sets a sleeper its coordinator can end early (a sleep on its control
 * block's doorbell), returning false when it was ended early. Undefined restores the default.
 */
export function setIdleSleeper(fn?: (ms: number) => boolean): void {
  sleeper = fn;
}

/** Sleeps about `us` microseconds without spinning. False: a sleeper ended it early. */
export function pause(us: number): boolean {
  if (sleeper) return sleeper(us / 1000);
  pauseWord ??= new Int32Array(new SharedArrayBuffer(4));
  Atomics.wait(pauseWord, 0, 0, us / 1000);
  return true;
}

/**
 * The arrival period a target expects (its flow's grain rate, or audio windows), shared by
 * the ladders of its queues; 0 while unknown.
 */
export interface Rhythm { periodMs: number }

/**
 * Idle pauses for polling manual-progress providers, where nothing can wake a sleeper:
 * 50 µs after an arrival, doubling while nothing comes, up to 1 ms while the endpoint is
 * active (an arrival in the last 100 ms: grain latency stays within ~1 ms) and up to 4 ms
 * once it is idle (~250 wake-ups a second). The ladder persists across waits; restarting
 * it at every short wait made an idle shm target wake ~1000 times a second
 * (docs/runtime.md).
 *
 * With a rhythm (a target whose flow has a rate), arrivals that come at that rate, alone or
 * in bursts (the slice ranges of one grain), are expected: from LEAD_MS before the next
 * burst is due to WINDOW_MS after, the ladder stays at its shortest step. On shm a large
 * write takes two looks by the target, one that copies it (process_vm_readv) and a later
 * one that reports its completion, so the pause between looks is latency. Never longer
 * than the plain ladder: a target that slept towards a predicted arrival delayed the copy
 * and with it the arrivals it predicted from (docs/runtime.md, "Polling a paced flow").
 */
export class PauseLadder {
  static readonly MIN_US = 50;
  static readonly ACTIVE_MAX_US = 1000;
  static readonly IDLE_MAX_US = 4000;
  static readonly ACTIVE_FOR_MS = 100;
  /**
   * The shortest step starts this long before the next burst is due (the last burst's
   * start plus the gap; a large shm write starts about its copy time before it completes) ...
   */
  static readonly LEAD_MS = 2;
  /** ... and goes on this long after it, then the ladder climbs as usual. */
  static readonly WINDOW_MS = 1;
  /** Gaps between bursts remembered to judge the rhythm (the shortest is the one used). */
  static readonly GAPS = 4;
  /**
   * Gaps between bursts shorter than this share of the period mean the flow is not paced
   * (an unpaced run): the plain ladder then.
   */
  static readonly PACED_SHARE = 0.75;
  private us = PauseLadder.MIN_US;
  private lastMs = 0;
  /** Start of the current burst of arrivals (the slice ranges of one grain come together). */
  private burstMs = 0;
  /** Gaps between burst starts. */
  private readonly gaps = new Float64Array(PauseLadder.GAPS);
  private gapCount = 0;

  constructor(private readonly rhythm?: Rhythm) {}

  /** Something arrived (found by a look that started at `now`). */
  activity(now = performance.now()): void {
    const period = this.rhythm?.periodMs ?? 0;
    // An arrival within the first (1 - PACED_SHARE) of a period after a burst began is part
    // of that burst; any later one starts the next.
    if (period > 0 && (this.burstMs === 0 || now - this.burstMs >= period * (1 - PauseLadder.PACED_SHARE))) {
      if (this.burstMs > 0) this.gaps[this.gapCount++ % PauseLadder.GAPS] = now - this.burstMs;
      this.burstMs = now;
    }
    this.lastMs = now;
    this.us = PauseLadder.MIN_US;
  }

  /** Sleeps one step (at most capUs) and moves up the ladder. False: the sleep was ended early. */
  pause(capUs = Infinity): boolean {
    return pause(Math.min(this.step(performance.now()), capUs));
  }

  /** The next pause at `now` in µs; moves up the ladder. */
  step(now: number): number {
    const active = now - this.lastMs < PauseLadder.ACTIVE_FOR_MS;
    const gap = active ? this.pacedGap() : 0;
    const since = now - this.burstMs;
    if (gap > 0 && since >= gap - PauseLadder.LEAD_MS && since < gap + PauseLadder.WINDOW_MS) {
      this.us = PauseLadder.MIN_US; // due: look often, and climb from the bottom afterwards
      return PauseLadder.MIN_US;
    }
    const max = active ? PauseLadder.ACTIVE_MAX_US : PauseLadder.IDLE_MAX_US;
    const step = Math.min(this.us, max);
    this.us = Math.min(max, step * 2);
    return step;
  }

  /** The expected gap to the next arrival when arrivals come at the rhythm's rate, else 0. */
  private pacedGap(): number {
    const period = this.rhythm?.periodMs ?? 0;
    if (!(period > 0) || this.gapCount < PauseLadder.GAPS) return 0;
    let g = Infinity;
    for (const x of this.gaps) g = Math.min(g, x);
    return g >= period * PauseLadder.PACED_SHARE ? Math.min(g, period) : 0;
  }
}

export class CompletionReader {
  /** The records of the last read; REC_WORDS words each. */
  readonly recs = new BigUint64Array(REC_WORDS * BATCH);
  private readonly ladder: PauseLadder;

  /**
   * `waitable`: fi_cq_sread wakes reliably (automatic progress; see OpenedFabric.cqWaitable).
   * `rhythm`: the arrival period a target expects (see PauseLadder).
   */
  constructor(private readonly cq: NativeCompletionQueue, private readonly waitable: boolean, rhythm?: Rhythm) {
    this.ladder = new PauseLadder(rhythm);
  }

  /**
   * Reads up to `max` (<= BATCH) records into `recs`; with timeoutMs > 0 waits that long for
   * the first one. Returns the count (0 on timeout; a negative libfabric status on failure).
   */
  read(max: number, timeoutMs = 0): number {
    const want = Math.min(max, BATCH);
    if (this.waitable) return timeoutMs <= 0 ? this.cq.drain(this.recs, want) : this.cq.sread(this.recs, want, timeoutMs);
    const end = performance.now() + timeoutMs;
    for (;;) {
      // An arrival counts from the start of the look that found it.
      const at = performance.now();
      const n = this.cq.drain(this.recs, want);
      if (n !== 0) {
        if (n > 0) this.ladder.activity(at); // every arrival, also those a non-blocking poll found
        return n;
      }
      const left = end - performance.now();
      if (left <= 0 || !this.ladder.pause(left * 1000)) return 0;
    }
  }

  context(i: number): bigint { return this.recs[i * REC_WORDS]; }
  flags(i: number): bigint { return this.recs[i * REC_WORDS + 1]; }
  /** Immediate data, or the fi errno of an error record. */
  data(i: number): bigint { return this.recs[i * REC_WORDS + 2]; }
  len(i: number): bigint { return this.recs[i * REC_WORDS + 3]; }
}
