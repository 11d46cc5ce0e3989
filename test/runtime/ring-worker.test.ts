import test from 'ava';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { SpscRing, type RingData } from '../../src/ipc/spsc-ring.js';
import { recordWord, type ProduceJob, type ConsumeJob } from './ring-helper-worker.js';

const HELPER = new URL('./ring-helper-worker.js', import.meta.url);
const COUNT = 100_000;
const WORDS = 8;

test('worker → main: 100k records, slow consumer, nothing reordered, drops counted exactly', async (t) => {
  // Counters start just below 2^32 so they wrap during the run.
  const ring = SpscRing.create(256, WORDS, { initialCounter: 0xffffffff - 5000 });
  const job: ProduceJob = { role: 'produce', ring: ring.sab, count: COUNT, burst: 200, pauseMs: 0.2 };
  const worker = new Worker(HELPER, { workerData: job });
  try {
    let result: { produced: number; pushed: number; dropped: number } | undefined;
    const finished = once(worker, 'message').then(([m]) => { result = m; });
    worker.once('error', (e) => t.fail(String(e)));

    let delivered = 0;
    let last = -1;
    let bad = 0;
    const visit = (d: RingData, off: number): void => {
      const seq = d[off];
      if (seq <= last) bad++;
      for (let i = 1; i < WORDS; i++) if (d[off + i] !== recordWord(seq, i)) bad++;
      last = seq;
      delivered++;
    };
    let batches = 0;
    for (;;) {
      const k = ring.drain(visit, 16);
      if (k === 0) {
        if (result !== undefined && ring.available() === 0) break;
        await ring.waitAsync(50);
        continue;
      }
      // Slow consumer: yield to the event loop after every batch, and sleep now and then.
      if (++batches % 20 === 0) await delay(1);
      else await new Promise((r) => setImmediate(r));
    }
    await finished;
    t.is(bad, 0, 'records reordered, duplicated or torn');
    t.is(result!.produced, COUNT);
    t.is(result!.pushed, delivered);
    t.is(ring.overflow, result!.dropped);
    t.is(delivered + ring.overflow, COUNT);
    t.true(ring.overflow > 0, 'the consumer must be slow enough to overflow');
    t.true(delivered > 1000, `enough records must get through (${delivered})`);
    t.true(ring.stats().tail < 0xffffffff - 5000, 'tail must have wrapped past 2^32');
    t.log(`delivered ${delivered}, overflow ${ring.overflow}, notifies ${ring.stats().notifies}, sleeps ${ring.stats().sleeps}`);
  } finally {
    await worker.terminate();
  }
});

test('main → worker: 100k records, slow consumer in waitSync, nothing reordered, drops counted exactly', async (t) => {
  const ring = SpscRing.create(128, WORDS, { initialCounter: 0xffffffff - 7000 });
  const done = new SharedArrayBuffer(4);
  const job: ConsumeJob = { role: 'consume', ring: ring.sab, done, batch: 8, pauseMs: 0.05 };
  const worker = new Worker(HELPER, { workerData: job });
  try {
    const result = once(worker, 'message');
    worker.once('error', (e) => t.fail(String(e)));
    const rec = new Uint32Array(WORDS);
    const batch = new Uint32Array(WORDS * 32);
    let pushed = 0;
    let seq = 0;
    let lastPause = 0;
    while (seq < COUNT) {
      if (seq % 3 === 0) {
        const k = Math.min(32, COUNT - seq);
        for (let r = 0; r < k; r++) for (let i = 0; i < WORDS; i++) batch[r * WORDS + i] = recordWord(seq + r, i);
        pushed += ring.pushMany(batch, k);
        seq += k;
      } else {
        for (let i = 0; i < WORDS; i++) rec[i] = recordWord(seq, i);
        if (ring.tryPushFrom(rec)) pushed++;
        seq++;
      }
      // Bursts of ~1500 records, then a pause long enough for the consumer to empty the
      // ring and go to sleep, so the doorbell/notify path is exercised too.
      if (seq - lastPause >= 1500) {
        lastPause = seq;
        await delay(4);
      }
    }
    Atomics.store(new Int32Array(done), 0, 1);
    ring.wake();
    const [m] = (await result) as [{ delivered: number; last: number; errors: string[]; waits: number }];
    t.deepEqual(m.errors, []);
    t.is(m.delivered, pushed);
    t.is(m.delivered + ring.overflow, COUNT);
    t.true(ring.overflow > 0, 'the consumer must be slow enough to overflow');
    t.true(m.delivered > 1000, `enough records must get through (${m.delivered})`);
    t.true(m.waits > 0 && ring.stats().notifies > 0, 'the consumer must have slept and been woken');
    t.log(`delivered ${m.delivered}, overflow ${ring.overflow}, consumer waits ${m.waits}, notifies ${ring.stats().notifies}`);
  } finally {
    await worker.terminate();
  }
});
