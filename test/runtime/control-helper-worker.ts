// Worker side of the control tests (compiled to build/test/runtime/control-helper-worker.js).
import { parentPort, workerData } from 'node:worker_threads';
import { ControlBlock, type PollMode } from '../../src/runtime/control-block.js';
import { HybridWaiter } from '../../src/runtime/control-waiter.js';
import { SpscRing, type RingData } from '../../src/runtime/spsc-ring.js';

export type ControlJob =
  | { role: 'loop'; ctl: SharedArrayBuffer; mode?: PollMode; sleepTimeoutMs?: number; requests?: SharedArrayBuffer; responses?: SharedArrayBuffer }
  | { role: 'fail'; ctl: SharedArrayBuffer; delayMs: number }
  | { role: 'adaptive'; ctl: SharedArrayBuffer };

const job = workerData as ControlJob;
const ctl = ControlBlock.attach(job.ctl);

if (job.role === 'loop') {
  // The shape of an endpoint worker: a synchronous poll loop that only reads control words.
  const waiter = new HybridWaiter(ctl, { mode: job.mode, sleepTimeoutMs: job.sleepTimeoutMs ?? 1 });
  const req = job.requests ? SpscRing.attach(job.requests) : undefined;
  const res = job.responses ? SpscRing.attach(job.responses) : undefined;
  let handled = 0;
  // Echo each request word + 1 to the response ring.
  const echo = (d: RingData, off: number): void => {
    res!.tryPush(d[off] + 1);
    handled++;
  };
  ctl.setState('ready');
  while (!ctl.shouldStop()) {
    const n = req ? req.drain(echo, 32) : 0;
    if (n > 0) waiter.activity();
    else waiter.idle();
  }
  ctl.setState('stopping');
  waiter.flush();
  ctl.setState('stopped');
  parentPort!.postMessage({ handled });
} else if (job.role === 'fail') {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, job.delayMs);
  ctl.setState('failed', 'MXL_ERR_NO_FABRIC');
} else if (job.role === 'adaptive') {
  let t = 0;
  const w = new HybridWaiter(ctl, { mode: 'hybrid', now: () => t, initialSpinUs: 50, minSpinUs: 10, maxSpinUs: 400, sleepTimeoutMs: 1 });
  const windows: number[] = [];
  const sleeps: number[] = [];
  // Spins that find work after 20 µs: the window doubles up to its bound.
  for (let k = 0; k < 5; k++) {
    w.idle(); t += 0.01; w.idle(); t += 0.01; w.activity();
    windows.push(w.spinWindowUs);
  }
  // Spins that run out (1 ms without work): the window halves down to its bound, and
  // each exhausted window ends in one sleep.
  for (let k = 0; k < 6; k++) {
    w.activity(); w.idle(); t += 1; w.idle();
    windows.push(w.spinWindowUs);
    sleeps.push(ctl.stats().sleeps);
  }
  // After a sleep that timed out, idle passes sleep again without spinning first.
  const before = ctl.stats().sleeps;
  w.idle(); w.idle(); w.idle();
  const after = ctl.stats().sleeps;
  parentPort!.postMessage({ windows, sleeps, extraSleeps: after - before });
}
