/**
 * Control words shared between the coordinator (main thread) and one endpoint worker.
 *
 * The worker spins in a synchronous poll loop and never runs its event loop, so
 * 'message' events never fire there: everything the coordinator needs to say while it
 * runs (stop, poll mode, "new requests in the ring") is a word in this SAB, and everything
 * it needs to see (state, progress counters) is a word written by the worker.
 *
 * Layout (Int32 words, byte offsets; docs/runtime-rings.md):
 *   line 0      0 magic 0x43_4C_58_4D ("MXLC")   4 version (1)
 *   line 1 (64, written by the coordinator)
 *              64 stop request (0/1)   68 doorbell sequence (bumped per ring)   72 poll mode
 *   line 2 (128, written by the worker)
 *             128 state   132 sleeping flag (worker is in Atomics.wait on the doorbell)
 *             136 iterations   140 sleeps   144 wakeups (sleep ended by a ring)
 *             148 error status (mxlStatus, when state is failed)
 *             152 native-wait flag (worker is in a native wait a ring must end through the addon)
 *             156 waker id (the worker's native Waker, 0: none)
 */

import { FabricsError, MxlStatus, statusName, type MxlStatusCode } from '../errors.js';
import { SeqDoorbell, assertMayBlock, waitAsyncRef, type WaitResult } from './doorbell.js';

export const CONTROL_MAGIC = 0x434c584d; // "MXLC" as little-endian bytes
export const CONTROL_VERSION = 1;
export const CONTROL_BYTES = 192;

export const ControlWord = {
  MAGIC: 0,
  VERSION: 1,
  STOP: 16,
  DOORBELL: 17,
  POLL_MODE: 18,
  STATE: 32,
  SLEEPING: 33,
  ITERATIONS: 34,
  SLEEPS: 35,
  WAKEUPS: 36,
  ERROR_STATUS: 37,
  NATIVE_WAIT: 38,
  WAKER_ID: 39,
} as const;

export const WORKER_STATES = ['starting', 'ready', 'stopping', 'stopped', 'failed'] as const;
export type WorkerState = (typeof WORKER_STATES)[number];
export const POLL_MODES = ['busy', 'hybrid', 'blocking'] as const;
export type PollMode = (typeof POLL_MODES)[number];

export const WorkerStateCode: Record<WorkerState, number> = { starting: 0, ready: 1, stopping: 2, stopped: 3, failed: 4 };
export const PollModeCode: Record<PollMode, number> = { busy: 0, hybrid: 1, blocking: 2 };

export interface ControlStats {
  state: WorkerState;
  pollMode: PollMode;
  stopRequested: boolean;
  iterations: number;
  sleeps: number;
  wakeups: number;
}

function invalid(message: string, field: string): FabricsError {
  return new FabricsError('MXL_ERR_INVALID_ARG', message, { field, op: 'ControlBlock' });
}

export class ControlBlock {
  readonly sab: SharedArrayBuffer;
  readonly words: Int32Array;
  /** "New requests": the coordinator rings, the worker's waiter sleeps on it. */
  readonly doorbell: SeqDoorbell;

  static create(opts: { pollMode?: PollMode } = {}): ControlBlock {
    const mode = PollModeCode[opts.pollMode ?? 'hybrid'];
    if (mode === undefined) throw invalid(`unknown poll mode ${String(opts.pollMode)}`, 'pollMode');
    const sab = new SharedArrayBuffer(CONTROL_BYTES);
    const w = new Int32Array(sab);
    w[ControlWord.VERSION] = CONTROL_VERSION;
    w[ControlWord.POLL_MODE] = mode;
    Atomics.store(w, ControlWord.MAGIC, CONTROL_MAGIC | 0);
    return new ControlBlock(sab);
  }

  static attach(sab: SharedArrayBuffer): ControlBlock {
    return new ControlBlock(sab);
  }

  private constructor(sab: SharedArrayBuffer) {
    if (!(sab instanceof SharedArrayBuffer)) throw invalid('ControlBlock.attach needs a SharedArrayBuffer', 'sab');
    if (sab.byteLength !== CONTROL_BYTES) throw invalid(`control block must be ${CONTROL_BYTES} bytes (got ${sab.byteLength})`, 'sab');
    const w = new Int32Array(sab);
    if (Atomics.load(w, ControlWord.MAGIC) !== (CONTROL_MAGIC | 0)) throw invalid('not a ControlBlock buffer (bad magic)', 'magic');
    if (w[ControlWord.VERSION] !== CONTROL_VERSION) throw invalid(`unsupported control block version ${w[ControlWord.VERSION]}`, 'version');
    this.sab = sab;
    this.words = w;
    this.doorbell = new SeqDoorbell(w, ControlWord.DOORBELL, ControlWord.SLEEPING);
  }

  // ------------------------------------------------------------ coordinator side

  /** Asks the worker to stop and wakes it if it sleeps. */
  requestStop(): void {
    Atomics.store(this.words, ControlWord.STOP, 1);
    this.ring();
  }

  /** Tells a sleeping worker there is new work (e.g. after pushing to its request ring). */
  ring(): void {
    this.doorbell.ring();
    this.wakeNative();
  }

  /**
   * How a ring ends a worker's native wait (fi_cq_sread, a flow's futex): set by the
   * coordinator to the addon's wake(). Without it such a wait ends at its own timeout.
   */
  nativeWake?: (wakerId: number) => void;

  /** A worker inside a native wait that published a waker: wake it through the addon. */
  private wakeNative(): void {
    if (!this.nativeWake || Atomics.load(this.words, ControlWord.NATIVE_WAIT) === 0) return;
    const id = Atomics.load(this.words, ControlWord.WAKER_ID);
    if (id !== 0) this.nativeWake(id);
  }

  get pollMode(): PollMode {
    return POLL_MODES[Atomics.load(this.words, ControlWord.POLL_MODE)] ?? 'hybrid';
  }

  /** Changes the poll mode of a running worker; it takes effect on its next idle pass. */
  set pollMode(mode: PollMode) {
    const code = PollModeCode[mode];
    if (code === undefined) throw invalid(`unknown poll mode ${String(mode)}`, 'pollMode');
    Atomics.store(this.words, ControlWord.POLL_MODE, code);
    this.ring(); // a worker asleep in blocking mode should re-read it now
  }

  /**
   * Resolves when the worker reaches `state`. Rejects with MXL_ERR_TIMEOUT after
   * `timeoutMs`, or MXL_ERR_INVALID_STATE if the worker ends (stopped/failed) in another
   * state, since it can then never get there. Keeps the event loop alive while pending.
   */
  async waitForState(state: WorkerState, timeoutMs: number): Promise<void> {
    const target = WorkerStateCode[state];
    if (target === undefined) throw invalid(`unknown worker state ${String(state)}`, 'state');
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const cur = Atomics.load(this.words, ControlWord.STATE);
      if (cur === target) return;
      if (cur === WorkerStateCode.failed || cur === WorkerStateCode.stopped) {
        const status = this.errorStatus;
        throw new FabricsError('MXL_ERR_INVALID_STATE', `worker is ${WORKER_STATES[cur]}${status ? ` (${status})` : ''} while waiting for ${state}`, { op: 'waitForState' });
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new FabricsError('MXL_ERR_TIMEOUT', `worker did not reach ${state} within ${timeoutMs} ms (state ${WORKER_STATES[cur] ?? cur})`, { op: 'waitForState' });
      await waitAsyncRef(this.words, ControlWord.STATE, cur, left);
    }
  }

  // ------------------------------------------------------------ worker side

  /** Worker: polls cheaply (one load); check it every loop iteration. */
  shouldStop(): boolean {
    return Atomics.load(this.words, ControlWord.STOP) !== 0;
  }

  /** Worker: a stop was asked, or the doorbell rang after `seen` (a doorbellSeen()). */
  rungSince(seen: number): boolean {
    return this.shouldStop() || this.doorbellSeen() !== seen;
  }

  /**
   * Worker: the id of its native Waker (waker.id), so that a ring during a native wait (see
   * nativeWait) ends that wait through the addon; 0 withdraws it.
   */
  publishWaker(id: number): void {
    Atomics.store(this.words, ControlWord.WAKER_ID, id);
  }

  /**
   * Worker: runs `wait`, a native call that may block (fi_cq_sread, a futex wait, the native
   * follow loop), with the native-wait flag set: a ring meanwhile also wakes the published
   * Waker. `wait` must look at the doorbell after the flag is set and before it blocks, or a
   * ring just before may go unseen until the wait's own timeout.
   */
  nativeWait<T>(wait: () => T): T {
    Atomics.store(this.words, ControlWord.NATIVE_WAIT, 1);
    try {
      return wait();
    } finally {
      Atomics.store(this.words, ControlWord.NATIVE_WAIT, 0);
    }
  }

  /** Worker: publishes a state change and wakes any waitForState. */
  setState(state: WorkerState, error?: MxlStatusCode): void {
    const code = WorkerStateCode[state];
    if (code === undefined) throw invalid(`unknown worker state ${String(state)}`, 'state');
    if (error !== undefined) Atomics.store(this.words, ControlWord.ERROR_STATUS, MxlStatus[error]);
    Atomics.store(this.words, ControlWord.STATE, code);
    Atomics.notify(this.words, ControlWord.STATE);
  }

  get state(): WorkerState {
    return WORKER_STATES[Atomics.load(this.words, ControlWord.STATE)];
  }

  /** mxlStatus name the worker reported with 'failed' (undefined when none). */
  get errorStatus(): MxlStatusCode | undefined {
    const s = Atomics.load(this.words, ControlWord.ERROR_STATUS);
    return s === 0 ? undefined : statusName(s);
  }

  /** Worker: adds to the iteration counter (batch it: one atomic add per N iterations). */
  addIterations(n: number): void {
    Atomics.add(this.words, ControlWord.ITERATIONS, n);
  }

  /**
   * Worker: sleeps on the doorbell until rung after `seen` (a {@link doorbellSeen} taken
   * before the poll that found nothing), or `timeoutMs`. Counts sleeps and wakeups.
   */
  sleep(seen: number, timeoutMs: number): WaitResult {
    assertMayBlock('ControlBlock.sleep');
    Atomics.add(this.words, ControlWord.SLEEPS, 1);
    const r = this.doorbell.sleep(seen, timeoutMs);
    if (r !== 'timed-out') Atomics.add(this.words, ControlWord.WAKEUPS, 1);
    return r;
  }

  /** Worker: doorbell sequence to pass to {@link sleep}; take it before polling. */
  doorbellSeen(): number {
    return this.doorbell.snapshot();
  }

  stats(): ControlStats {
    const w = this.words;
    return {
      state: this.state,
      pollMode: this.pollMode,
      stopRequested: this.shouldStop(),
      iterations: Atomics.load(w, ControlWord.ITERATIONS) >>> 0,
      sleeps: Atomics.load(w, ControlWord.SLEEPS) >>> 0,
      wakeups: Atomics.load(w, ControlWord.WAKEUPS) >>> 0,
    };
  }
}
