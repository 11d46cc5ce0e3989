// Worker side of the ring tests (compiled to build/test/runtime/ring-helper-worker.js).
import { parentPort, workerData } from 'node:worker_threads';
import { SpscRing } from '../../src/ipc/spsc-ring.js';

export interface ProduceJob {
  role: 'produce';
  ring: SharedArrayBuffer;
  count: number;
  /** Records per burst, and a pause (ms) between bursts so some records get through. */
  burst: number;
  pauseMs: number;
}
export interface ConsumeJob {
  role: 'consume';
  ring: SharedArrayBuffer;
  /** Int32 [0]: set to 1 by the producer after its last publish. */
  done: SharedArrayBuffer;
  /** Sleep this long (ms) after each drain of `batch` records: a slow consumer. */
  batch: number;
  pauseMs: number;
}
export interface WakeJob {
  role: 'wake-after';
  ring: SharedArrayBuffer;
  delayMs: number;
}
/** Waits until the consumer has gone to sleep on the doorbell, then pushes one record. */
export interface PushWhenArmedJob {
  role: 'push-when-armed';
  ring: SharedArrayBuffer;
}
export interface WaitSyncJob {
  role: 'wait-sync';
  ring: SharedArrayBuffer;
  timeoutMs: number;
}

/** Word i of record seq: a value that changes with both, so torn or stale slots show. */
export function recordWord(seq: number, i: number): number {
  return i === 0 ? seq >>> 0 : (Math.imul(seq, 0x9e3779b1) ^ Math.imul(i, 0x85ebca6b)) >>> 0;
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const pause = (ms: number): void => {
  if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
};

function produce(job: ProduceJob): void {
  const ring = SpscRing.attach(job.ring);
  const n = ring.recordLength;
  const rec = new Uint32Array(n);
  const batch = new Uint32Array(n * 16);
  let pushed = 0;
  let dropped = 0;
  let seq = 0;
  let mode = 0;
  while (seq < job.count) {
    const end = Math.min(job.count, seq + job.burst);
    while (seq < end) {
      // Rotate through the three producer APIs.
      mode = (mode + 1) % 3;
      if (mode === 0) {
        for (let i = 0; i < n; i++) rec[i] = recordWord(seq, i);
        if (ring.tryPushFrom(rec)) pushed++; else dropped++;
        seq++;
      } else if (mode === 1) {
        const off = ring.reserve();
        if (off < 0) dropped++;
        else {
          for (let i = 0; i < n; i++) ring.data[off + i] = recordWord(seq, i);
          ring.commit();
          pushed++;
        }
        seq++;
      } else {
        const k = Math.min(16, end - seq);
        for (let r = 0; r < k; r++) for (let i = 0; i < n; i++) batch[r * n + i] = recordWord(seq + r, i);
        const ok = ring.pushMany(batch, k);
        pushed += ok;
        dropped += k - ok;
        seq += k;
      }
    }
    pause(job.pauseMs);
  }
  parentPort!.postMessage({ produced: seq, pushed, dropped });
}

function consume(job: ConsumeJob): void {
  const ring = SpscRing.attach(job.ring);
  const done = new Int32Array(job.done);
  const n = ring.recordLength;
  let delivered = 0;
  let last = -1;
  const errors: string[] = [];
  const visit = (d: ArrayLike<number>, off: number): void => {
    const seq = d[off];
    if (seq <= last && errors.length < 5) errors.push(`seq ${seq} after ${last}`);
    for (let i = 1; i < n; i++) if (d[off + i] !== recordWord(seq, i) && errors.length < 5) errors.push(`seq ${seq} word ${i} is ${d[off + i]}`);
    last = seq;
    delivered++;
  };
  let waits = 0;
  for (;;) {
    const k = ring.drain(visit, job.batch);
    if (k > 0) {
      pause(job.pauseMs);
      continue;
    }
    if (Atomics.load(done, 0) === 1 && ring.available() === 0) break;
    ring.waitSync(100);
    waits++;
  }
  parentPort!.postMessage({ delivered, last, errors, waits });
}

// Also imported by the tests for recordWord(): only run a job inside a worker.
const job = (workerData ?? { role: 'none' }) as ProduceJob | ConsumeJob | WakeJob | PushWhenArmedJob | WaitSyncJob | { role: 'none' };
if (job.role === 'produce') produce(job);
else if (job.role === 'consume') consume(job);
else if (job.role === 'wake-after') {
  const ring = SpscRing.attach(job.ring);
  pause(job.delayMs);
  ring.tryPush(...Array.from({ length: ring.recordLength }, (_, i) => i + 1));
  parentPort!.postMessage({ pushedAt: performance.timeOrigin + performance.now() });
} else if (job.role === 'push-when-armed') {
  const ring = SpscRing.attach(job.ring);
  while (ring.stats().sleeps === 0 || Atomics.load(ring.words, 48) !== 1) pause(1);
  pause(10);
  ring.tryPush(...Array.from({ length: ring.recordLength }, (_, i) => i + 1));
  parentPort!.postMessage({ pushedAt: performance.timeOrigin + performance.now() });
} else if (job.role === 'wait-sync') {
  const ring = SpscRing.attach(job.ring);
  const t0 = performance.now();
  const got = ring.waitSync(job.timeoutMs);
  parentPort!.postMessage({ got, ms: performance.now() - t0 });
}
