// The endpoint workers' idle strategy (src/workers/idle-policy.ts), driven with an injected
// clock in ns. The worker-thread loop that sleeps on its verdict is in control.test.ts.
import test from 'ava';
import type { PollMode } from '../../src/ipc/control-block.js';
import { IdlePolicy } from '../../src/workers/idle-policy.js';

const US = 1000;

test('busy never blocks and blocking always does, whatever the clock', (t) => {
  let mode: PollMode = 'busy';
  const p = new IdlePolicy(() => mode);
  p.activity(1e9);
  t.false(p.shouldBlock(1e9 + 10e9));
  mode = 'blocking'; // read on every call: the coordinator can switch a running worker
  t.true(p.shouldBlock(1e9 + 1));
  mode = 'busy';
  t.false(p.shouldBlock(1e9 + 2));
});

test('hybrid spins inside the window after activity and blocks once it has passed', (t) => {
  const p = new IdlePolicy(() => 'hybrid', 20 * US, 2000 * US, 200 * US);
  p.activity(1e9);
  t.false(p.shouldBlock(1e9 + 199 * US));
  t.true(p.shouldBlock(1e9 + 201 * US));
  t.is(p.spinWindowNs, 100 * US, 'a window that ran out halves');
  const fresh = new IdlePolicy(() => 'hybrid');
  t.true(fresh.shouldBlock(1e9), 'no activity yet: nothing to spin for');
});

test('hybrid window doubles when a spin finds work and halves when it has to block', (t) => {
  const p = new IdlePolicy(() => 'hybrid', 10 * US, 400 * US, 50 * US);
  let now = 1e9;
  p.activity(now);
  const windows: number[] = [];
  // Work every 20 µs, inside the window: spinning pays, the window widens to its bound.
  for (let k = 0; k < 5; k++) {
    now += 20 * US;
    t.false(p.shouldBlock(now));
    p.activity(now);
    windows.push(p.spinWindowNs / US);
  }
  t.deepEqual(windows, [100, 200, 400, 400, 400]);
  // Idle for 1 ms after each burst: the window runs out, halves once per blocking episode,
  // and the activity that ends the block does not widen it again.
  windows.length = 0;
  for (let k = 0; k < 7; k++) {
    now += 1000 * US;
    t.true(p.shouldBlock(now));
    t.true(p.shouldBlock(now + 1), 'still blocked: no second halving');
    p.activity(now + 2);
    windows.push(p.spinWindowNs / US);
  }
  t.deepEqual(windows, [200, 100, 50, 25, 12.5, 10, 10]);
});

test('a paced flow caps the hybrid window at a share of its grain period, never below the minimum', (t) => {
  const p = new IdlePolicy(() => 'hybrid', 20 * US, 2000 * US, 200 * US);
  p.capForRate(50); // 20 ms period: 1/40 of it is 500 µs
  t.is(p.maxSpinWindowNs, 500 * US);
  let now = 1e9;
  p.activity(now);
  for (let k = 0; k < 10; k++) { now += 10 * US; t.false(p.shouldBlock(now)); p.activity(now); }
  t.is(p.spinWindowNs, 500 * US, 'work inside the window widens it only up to the cap');
  t.false(p.shouldBlock(now + 499 * US));
  t.true(p.shouldBlock(now + 501 * US), 'blocks once the capped window has passed');
  const fast = new IdlePolicy(() => 'hybrid', 20 * US, 2000 * US, 200 * US);
  fast.capForRate(48000); // a period of 21 µs: the minimum window wins
  t.is(fast.maxSpinWindowNs, 20 * US);
  t.is(fast.spinWindowNs, 20 * US, 'the current window is clamped too');
  const same = new IdlePolicy(() => 'hybrid', 20 * US, 2000 * US, 200 * US);
  for (const r of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) same.capForRate(r);
  t.is(same.maxSpinWindowNs, 2000 * US, 'a rate that is no rate changes nothing');
});

test('an endpoint caps for its flow: grains at the grain rate, audio at 100 windows per second', (t) => {
  const video = new IdlePolicy(() => 'hybrid', 20 * US, 2000 * US, 200 * US);
  video.capForFlow(false, { numerator: 60000n, denominator: 1001n });
  t.is(Math.round(video.maxSpinWindowNs / US), 417, '59.94 grains/s: 1/40 of 16.7 ms');
  const audio = new IdlePolicy(() => 'hybrid', 20 * US, 2000 * US, 200 * US);
  audio.capForFlow(true, { numerator: 48000, denominator: 1 });
  t.is(audio.maxSpinWindowNs, 250 * US, 'the sample rate is not the window rate');
});
