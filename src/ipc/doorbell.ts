/**
 * Doorbell primitives over an Int32Array in a SharedArrayBuffer.
 *
 * Waking a sleeping thread costs ~50–100 µs on our VMs (docs/limits.md §4) and even a
 * notify with no waiter takes a V8-global mutex, so producers must notify only when a
 * consumer has said it is (about to be) asleep. Two protocols, both free of lost wake-ups
 * because JS Atomics are sequentially consistent:
 *
 * 1. **Flag doorbell** (used by SpscRing, one word). The consumer stores ARMED, re-checks
 *    for work, then `Atomics.wait(word, ARMED)`. The producer, after publishing, loads the
 *    word (a plain load: cheap when nobody sleeps) and only if ARMED does
 *    `compareExchange(ARMED → IDLE)` + notify. Either the producer sees ARMED, or its
 *    publish precedes the consumer's re-check. If the CAS wins before the consumer reaches
 *    `wait`, the wait returns 'not-equal' at once. Exactly one notify per sleep.
 *
 * 2. **Sequence doorbell** (used by ControlBlock, a counter + a sleeping flag). The waiter
 *    remembers the counter *before* it polls for work and sleeps on "counter still equals
 *    what I saw". Any ring after that snapshot makes the wait return 'not-equal', so the
 *    waiter needs no re-check callback. Ringers notify only while the flag is set.
 */

import { isMainThread } from 'node:worker_threads';
import { FabricsError } from '../errors.js';

export const DOORBELL_IDLE = 0;
export const DOORBELL_ARMED = 1;

export type WaitResult = 'ok' | 'not-equal' | 'timed-out';

/** Consumer: announce that it is about to sleep. Re-check for work after this. */
export function armDoorbell(words: Int32Array, index: number): void {
  Atomics.store(words, index, DOORBELL_ARMED);
}

/** Consumer: back to awake (after finding work on the re-check, or after waking). */
export function disarmDoorbell(words: Int32Array, index: number): void {
  Atomics.store(words, index, DOORBELL_IDLE);
}

/**
 * Producer: wake the consumer if, and only if, it is armed. Returns true when it notified.
 * `counterIndex` (optional) is incremented *before* the notify, so a woken consumer that
 * reads it sees its own wake-up counted.
 */
export function ringDoorbell(words: Int32Array, index: number, counterIndex = -1): boolean {
  if (Atomics.load(words, index) !== DOORBELL_ARMED) return false;
  if (Atomics.compareExchange(words, index, DOORBELL_ARMED, DOORBELL_IDLE) !== DOORBELL_ARMED) return false;
  if (counterIndex >= 0) Atomics.add(words, counterIndex, 1);
  // Wake *all* waiters, not 1: a consumer's earlier waitAsync that our timer already
  // settled can still sit in V8's FIFO wait list until V8's own timeout task runs, and
  // notify(1) would wake that stale waiter instead of the live one.
  Atomics.notify(words, index);
  return true;
}

/** Throws unless called off the main thread: Atomics.wait would freeze the event loop. */
export function assertMayBlock(what: string): void {
  if (isMainThread) {
    throw new FabricsError('MXL_ERR_INVALID_STATE', `${what} blocks the thread and is for worker threads only; use the async variant on the main thread`, { op: what });
  }
}

/** Throws MXL_ERR_INVALID_ARG unless timeoutMs >= 0 (Infinity allowed). */
export function checkTimeout(timeoutMs: number, op: string): void {
  if (!(timeoutMs >= 0)) throw new FabricsError('MXL_ERR_INVALID_ARG', `${op}: timeoutMs must be >= 0 (got ${timeoutMs})`, { field: 'timeoutMs' });
}

/**
 * `Atomics.waitAsync` that keeps the event loop alive while it is pending.
 *
 * A pending waitAsync holds no ref on the loop (nodejs/node#61941, not fixed in 20.x): with
 * nothing else ref'd the process would exit with code 13 mid-await. We hold a ref'd timer
 * for the duration, and the same timer resolves 'timed-out', so the result never depends
 * on V8's own (unref'd) timeout task. The timer is cleared on resolution, so nothing is left
 * holding the process afterwards. V8 gets the same finite timeout so its waiter is reclaimed.
 */
export function waitAsyncRef(words: Int32Array, index: number, expected: number, timeoutMs: number): Promise<WaitResult> {
  checkTimeout(timeoutMs, 'waitAsync');
  // setTimeout clamps delays above 2^31-1 ms to 1 ms, so treat those as infinite.
  const finite = timeoutMs < 2 ** 31;
  const r = Atomics.waitAsync(words, index, expected, finite ? timeoutMs : Infinity);
  if (!r.async) return Promise.resolve(r.value);
  return new Promise<WaitResult>((resolve) => {
    let done = false;
    const timer = finite ? setTimeout(() => finish('timed-out'), timeoutMs) : setInterval(() => {}, 2 ** 30);
    function finish(v: WaitResult): void {
      if (done) return;
      done = true;
      clearTimeout(timer); // also clears an interval
      resolve(v);
    }
    r.value.then(finish, () => finish('timed-out'));
  });
}

/**
 * Sequence doorbell: `seqIndex` is a counter bumped by every ring, `sleepIndex` a flag the
 * waiter sets while it sleeps on the counter.
 */
export class SeqDoorbell {
  constructor(readonly words: Int32Array, readonly seqIndex: number, readonly sleepIndex: number) {}

  /** Waiter: take before polling for work; pass to {@link sleep} if the poll found none. */
  snapshot(): number {
    return Atomics.load(this.words, this.seqIndex);
  }

  /** Ringer: bump the counter; notify only if the waiter is asleep (or about to be). */
  ring(): void {
    Atomics.add(this.words, this.seqIndex, 1);
    if (Atomics.load(this.words, this.sleepIndex) !== 0) Atomics.notify(this.words, this.seqIndex);
  }

  /** Waiter (worker threads only): sleep until rung after `seen`, or timeout. */
  sleep(seen: number, timeoutMs: number): WaitResult {
    assertMayBlock('SeqDoorbell.sleep');
    Atomics.store(this.words, this.sleepIndex, 1);
    const r = Atomics.wait(this.words, this.seqIndex, seen, timeoutMs);
    Atomics.store(this.words, this.sleepIndex, 0);
    return r;
  }
}
