/**
 * Idle strategy for an endpoint worker's poll loop:
 *
 *   while (!ctl.shouldStop()) {
 *     const n = poll();                // e.g. addon.drainCq(max) → records into a ring
 *     if (n > 0) waiter.activity(); else waiter.idle();
 *   }
 *
 * - busy: never sleeps (lowest latency, one core per worker; for real RDMA hosts).
 * - hybrid: after activity, keep spinning for an adaptive window, then sleep on the
 *   control doorbell with a short timeout. The window doubles when a spin found work
 *   (traffic is bursty, waking costs ~50–100 µs here) and halves when it did not (do not
 *   burn a core on an idle flow). Default for CI and 2-vCPU machines.
 * - blocking: sleep on every idle pass.
 *
 * Sleeps end on a doorbell ring (new requests, stop, mode change) or on the timeout, which
 * bounds latency for work nothing can ring for (fabric completions arriving in a CQ).
 * The doorbell sequence is snapshotted at each activity()/idle() call, i.e. before the
 * next poll, so a ring between that poll and the sleep is never lost.
 */

import { FabricsError } from '../errors.js';
import { assertMayBlock } from './doorbell.js';
import { ControlBlock, ControlWord, POLL_MODES, type PollMode } from './control-block.js';

export interface HybridWaiterOptions {
  /** Fixed mode. When omitted the waiter follows the control block's poll-mode word. */
  mode?: PollMode;
  /** First spin window after activity, µs (default 50). */
  initialSpinUs?: number;
  /** Bounds of the adaptive window, µs (defaults 5 and 2000). */
  minSpinUs?: number;
  maxSpinUs?: number;
  /**
   * Longest single sleep, ms (default 5): the latency bound for work nobody rings for.
   * Not shorter by default: with 1 ms, a loaded 2-vCPU machine often catches the worker
   * between a timeout and its next sleep, and notified wakes went from ~20 µs to ms at p90
   * (docs/runtime-rings.md §5).
   */
  sleepTimeoutMs?: number;
  /** Clock in ms (default performance.now); injectable for tests. */
  now?: () => number;
  /** Flush the iteration counter to the control block every this many passes (default 256). */
  flushEvery?: number;
}

export class HybridWaiter {
  private readonly fixedMode: number;
  private readonly minUs: number;
  private readonly maxUs: number;
  private readonly sleepMs: number;
  private readonly now: () => number;
  private readonly flushEvery: number;
  private windowUs: number;
  private spinning = false;
  private spinStart = 0;
  private lastSleepTimedOut = false;
  private seen: number;
  private pending = 0;

  constructor(readonly ctl: ControlBlock, opts: HybridWaiterOptions = {}) {
    assertMayBlock('HybridWaiter');
    this.fixedMode = opts.mode === undefined ? -1 : POLL_MODES.indexOf(opts.mode);
    if (opts.mode !== undefined && this.fixedMode < 0) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', `unknown poll mode ${String(opts.mode)}`, { field: 'mode' });
    }
    this.minUs = opts.minSpinUs ?? 5;
    this.maxUs = opts.maxSpinUs ?? 2000;
    this.windowUs = Math.min(this.maxUs, Math.max(this.minUs, opts.initialSpinUs ?? 50));
    this.sleepMs = opts.sleepTimeoutMs ?? 5;
    this.now = opts.now ?? (() => performance.now());
    this.flushEvery = opts.flushEvery ?? 256;
    this.seen = ctl.doorbellSeen();
  }

  /** Current spin window in µs (hybrid mode). */
  get spinWindowUs(): number {
    return this.windowUs;
  }

  get mode(): PollMode {
    return POLL_MODES[this.fixedMode >= 0 ? this.fixedMode : POLL_MODES.indexOf(this.ctl.pollMode)];
  }

  /** Call after a poll that found work. */
  activity(): void {
    if (this.spinning) {
      // A spin episode caught work before its window ran out: spinning pays, widen.
      this.windowUs = Math.min(this.maxUs, this.windowUs * 2);
      this.spinning = false;
    }
    this.lastSleepTimedOut = false;
    this.count();
    this.seen = this.ctl.doorbellSeen();
  }

  /** Call after a poll that found nothing; may spin (return at once) or sleep. */
  idle(): void {
    this.count();
    const mode = this.fixedMode >= 0 ? this.fixedMode : Atomics.load(this.ctl.words, ControlWord.POLL_MODE);
    if (mode === 0) {
      // busy
    } else if (mode === 2) {
      this.sleep();
    } else if (this.lastSleepTimedOut) {
      // Still idle after a sleep that nobody ended: go straight back to sleep rather than
      // spinning a window per timeout.
      this.sleep();
    } else {
      const t = this.now();
      if (!this.spinning) {
        this.spinning = true;
        this.spinStart = t;
      } else if ((t - this.spinStart) * 1000 >= this.windowUs) {
        // The whole window passed without work: shrink it and sleep.
        this.windowUs = Math.max(this.minUs, this.windowUs / 2);
        this.spinning = false;
        this.sleep();
      }
    }
    this.seen = this.ctl.doorbellSeen();
  }

  /** Pushes the locally counted iterations to the control block. */
  flush(): void {
    if (this.pending > 0) {
      this.ctl.addIterations(this.pending);
      this.pending = 0;
    }
  }

  private count(): void {
    if (++this.pending >= this.flushEvery) this.flush();
  }

  private sleep(): void {
    this.flush();
    if (this.ctl.shouldStop()) return;
    const r = this.ctl.sleep(this.seen, this.sleepMs);
    this.lastSleepTimedOut = r === 'timed-out';
  }
}
