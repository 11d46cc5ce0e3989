import test from 'ava';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { SpscRing } from '../../src/ipc/spsc-ring.js';

const HELPER = new URL('./ring-helper-worker.js', import.meta.url);
const CHILD = fileURLToPath(new URL('./ring-liveness-child.js', import.meta.url));

test('waitAsync resolves true when a worker pushes', async (t) => {
  const ring = SpscRing.create(8, 2);
  const w = new Worker(HELPER, { workerData: { role: 'push-when-armed', ring: ring.sab } });
  try {
    const pushed = once(w, 'message');
    const got = await ring.waitAsync(10_000);
    const wokeAt = performance.timeOrigin + performance.now();
    const [m] = await pushed;
    t.true(got);
    const lag = wokeAt - m.pushedAt;
    t.true(lag < 1000, `woke ${lag} ms after the push`);
    t.is(ring.stats().notifies, 1);
    t.is(ring.stats().sleeps, 1);
    t.is(Atomics.load(ring.words, 48), 0, 'doorbell disarmed after waking');
    t.deepEqual(Array.from(ring.data.subarray(0, 2)), [1, 2]);
  } finally {
    await w.terminate();
  }
});

test('waitAsync resolves false on timeout and true at once when records are there', async (t) => {
  const ring = SpscRing.create(8, 1);
  let t0 = performance.now();
  t.false(await ring.waitAsync(80));
  const ms = performance.now() - t0;
  t.true(ms >= 75 && ms < 1000, `timed out after ${ms} ms`);
  t.is(Atomics.load(ring.words, 48), 0, 'doorbell disarmed after timeout');
  ring.tryPush(7);
  t0 = performance.now();
  t.true(await ring.waitAsync(1000));
  t.true(performance.now() - t0 < 50);
  t.is(ring.stats().sleeps, 1, 'no sleep when records are already there');
  await t.throwsAsync(ring.waitAsync(-1), { code: 'MXL_ERR_INVALID_ARG' } as never);
});

test('wake() ends a waitAsync early without records', async (t) => {
  const ring = SpscRing.create(8, 1);
  const p = ring.waitAsync(5000);
  await delay(20);
  t.true(ring.wake());
  t.false(await p);
  t.false(ring.wake(), 'nobody sleeps any more');
});

function runChild(mode: string): Promise<{ code: number | null; stdout: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [CHILD, mode], { timeout: 15_000 }, (err, stdout) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, ms: performance.now() - t0 });
    });
  });
}

test('a pending waitAsync keeps the process alive until it times out', async (t) => {
  const r = await runChild('timeout');
  t.is(r.code, 0, 'exit code 13 would mean the event loop emptied while waiting');
  const out = JSON.parse(r.stdout);
  t.false(out.got);
  t.true(out.ms >= 190, `waited ${out.ms} ms`);
});

test('a settled waitAsync does not keep the process alive', async (t) => {
  const r = await runChild('notified');
  t.is(r.code, 0);
  const out = JSON.parse(r.stdout);
  t.true(out.got);
  t.true(out.ms < 5000);
  t.true(r.ms < 5000, `child lived ${r.ms} ms after a wait with a 20 s timeout had resolved`);
});

test('waitSync in a worker: times out, and wakes on push', async (t) => {
  const ring = SpscRing.create(8, 2);
  let w = new Worker(HELPER, { workerData: { role: 'wait-sync', ring: ring.sab, timeoutMs: 60 } });
  try {
    const [m1] = await once(w, 'message');
    t.false(m1.got);
    t.true(m1.ms >= 55, `timed out after ${m1.ms} ms`);
  } finally {
    await w.terminate();
  }
  w = new Worker(HELPER, { workerData: { role: 'wait-sync', ring: ring.sab, timeoutMs: 10_000 } });
  try {
    const msg = once(w, 'message');
    // Wait until the worker has armed the doorbell, then push.
    const deadline = performance.now() + 5000;
    while (ring.stats().sleeps < 2 && performance.now() < deadline) await delay(2);
    t.true(ring.tryPush(5, 6));
    const [m2] = await msg;
    t.true(m2.got);
    t.true(m2.ms < 5000);
    t.is(ring.stats().notifies, 1);
  } finally {
    await w.terminate();
  }
});

test('a stale waiter left in V8\'s wait list does not swallow the wake-up', async (t) => {
  // Simulates a previous waitAsync that our timer settled before V8's own timeout removed
  // its waiter: it is still first in the FIFO wait list for the doorbell word.
  const ring = SpscRing.create(8, 2);
  Atomics.store(ring.words, 48, 1);
  const stale = Atomics.waitAsync(ring.words, 48, 1, 4000);
  t.true(stale.async);
  const w = new Worker(HELPER, { workerData: { role: 'push-when-armed', ring: ring.sab } });
  try {
    const pushed = once(w, 'message');
    t.true(await ring.waitAsync(3000));
    const wokeAt = performance.timeOrigin + performance.now();
    const [m] = await pushed;
    const lag = wokeAt - m.pushedAt;
    t.is(ring.stats().notifies, 1);
    t.true(lag < 1500, `live waiter woke ${lag} ms after the push (a notify(1) would have woken only the stale one)`);
  } finally {
    await w.terminate();
  }
});
