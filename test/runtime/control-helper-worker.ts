// Worker side of the control tests (compiled to build/test/runtime/control-helper-worker.js).
import { parentPort, workerData } from 'node:worker_threads';
import { ControlBlock, type PollMode } from '../../src/ipc/control-block.js';
import { IdlePolicy } from '../../src/workers/idle-policy.js';
import { SpscRing, type RingData } from '../../src/ipc/spsc-ring.js';

export type ControlJob =
  | { role: 'loop'; ctl: SharedArrayBuffer; mode?: PollMode; sleepTimeoutMs?: number; requests?: SharedArrayBuffer; responses?: SharedArrayBuffer }
  | { role: 'fail'; ctl: SharedArrayBuffer; delayMs: number };

const job = workerData as ControlJob;
const ctl = ControlBlock.attach(job.ctl);

if (job.role === 'loop') {
  // The shape of an endpoint worker: a synchronous poll loop that only reads control words,
  // idling with the workers' own IdlePolicy and sleeping on the control doorbell.
  const idle = new IdlePolicy(() => job.mode ?? ctl.pollMode);
  const sleepMs = job.sleepTimeoutMs ?? 1;
  const req = job.requests ? SpscRing.attach(job.requests) : undefined;
  const res = job.responses ? SpscRing.attach(job.responses) : undefined;
  let handled = 0;
  let pending = 0;
  // Echo each request word + 1 to the response ring.
  const echo = (d: RingData, off: number): void => {
    res!.tryPush(d[off] + 1);
    handled++;
  };
  const flush = (): void => {
    ctl.addIterations(pending);
    pending = 0;
  };
  ctl.setState('ready');
  while (!ctl.shouldStop()) {
    const seen = ctl.doorbellSeen(); // before the poll, so a ring after it is never lost
    const n = req ? req.drain(echo, 32) : 0;
    if (++pending >= 256) flush();
    if (n > 0) idle.activity();
    else if (idle.shouldBlock()) {
      flush();
      ctl.sleep(seen, sleepMs);
    }
  }
  ctl.setState('stopping');
  flush();
  ctl.setState('stopped');
  parentPort!.postMessage({ handled });
} else if (job.role === 'fail') {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, job.delayMs);
  ctl.setState('failed', 'MXL_ERR_NO_FABRIC');
}
