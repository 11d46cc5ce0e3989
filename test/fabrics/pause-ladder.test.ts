// The pause ladder of manual-progress queues (src/fabrics/engine/completion-reader.ts):
// which step it takes when, on a clock the test sets, and the target option that feeds it.
import test from 'ava';
import { PauseLadder, type Rhythm } from '../../src/fabrics/engine/completion-reader.js';
import { Target } from '../../src/fabrics/target.js';
import { ringFromBuffers } from '../../src/fabrics/grain-ring.js';
import { GRAIN_HEADER_SIZE } from '../../src/fabrics/grain-protocol.js';

const { MIN_US, ACTIVE_MAX_US, IDLE_MAX_US, LEAD_MS, WINDOW_MS, GAPS } = PauseLadder;

/** A ladder that saw GAPS + 1 arrivals `gapMs` apart, the last at t = 1000 ms. */
function arrivals(rhythm: Rhythm | undefined, gapMs: number, count = GAPS + 1): PauseLadder {
  const l = new PauseLadder(rhythm);
  for (let i = count - 1; i >= 0; i--) l.activity(1000 - i * gapMs);
  return l;
}

const steps = (l: PauseLadder, at: number, n: number): number[] => Array.from({ length: n }, () => l.step(at));

test('plain ladder: 50 µs after an arrival, doubling to 1 ms while active, to 4 ms once idle', (t) => {
  const l = arrivals(undefined, 20);
  t.deepEqual(steps(l, 1001, 7), [MIN_US, 100, 200, 400, 800, ACTIVE_MAX_US, ACTIVE_MAX_US]);
  t.deepEqual(steps(l, 1000 + PauseLadder.ACTIVE_FOR_MS + 1, 3), [ACTIVE_MAX_US, 2000, IDLE_MAX_US]);
  l.activity(2000);
  t.is(l.step(2000.1), MIN_US, 'an arrival resets it');
});

test('a paced rhythm: the shortest step from LEAD_MS before the next arrival is due to WINDOW_MS after', (t) => {
  const l = arrivals({ periodMs: 20 }, 20);
  t.deepEqual(steps(l, 1005, 6), [MIN_US, 100, 200, 400, 800, ACTIVE_MAX_US], 'between arrivals: the plain ladder');
  t.deepEqual(steps(l, 1020 - LEAD_MS + 0.1, 3), [MIN_US, MIN_US, MIN_US], 'due soon');
  t.deepEqual(steps(l, 1020 + WINDOW_MS - 0.1, 2), [MIN_US, MIN_US], 'due a moment ago');
  t.deepEqual(steps(l, 1020 + WINDOW_MS + 0.1, 3), [MIN_US, 100, 200], 'late: the ladder climbs again from the bottom');
});

test('the rhythm takes the shortest recent gap, never more than the period', (t) => {
  const slow = arrivals({ periodMs: 20 }, 40);
  t.is(steps(slow, 1000 + 20 - LEAD_MS + 0.1, 3).at(-1), MIN_US, 'arrivals slower than the rate: due at one period');
  const jitter = new PauseLadder({ periodMs: 20 });
  for (const at of [900, 920, 938, 960, 980]) jitter.activity(at);
  t.is(steps(jitter, 980 + 18 - LEAD_MS + 0.1, 3).at(-1), MIN_US, 'an 18 ms gap among 20 ms ones: due after 18 ms');
  t.not(steps(jitter, 980 + 18 - LEAD_MS - 0.5, 4).at(-1), MIN_US, 'and not before its lead');
});

test('the slice ranges of one grain are one burst: the next burst is due a period after the first of them', (t) => {
  const l = new PauseLadder({ periodMs: 20 });
  for (let g = 0; g <= GAPS; g++) for (const dt of [0, 0.4, 0.8, 1.2]) l.activity(900 + g * 20 + dt);
  const last = 900 + GAPS * 20;
  t.deepEqual(steps(l, last + 5, 4), [MIN_US, 100, 200, 400], 'after the burst: the plain ladder');
  t.is(steps(l, last + 20 - LEAD_MS + 0.1, 3).at(-1), MIN_US, 'due from the burst start, not its last slice');
  const one = new PauseLadder({ periodMs: 20 });
  for (let g = 0; g <= 2 * GAPS; g++) one.activity(900 + g * 0.5);
  t.is(steps(one, 900 + 2 * GAPS * 0.5 + 20 - LEAD_MS + 0.1, 4).at(-1), 400, 'one long burst is no rhythm');
});

test('no rhythm without enough history, without a period, or when arrivals come faster than paced', (t) => {
  const at = (l: PauseLadder, ms: number) => steps(l, ms, 4).at(-1);
  const due = 1020 - LEAD_MS + 0.1;
  t.is(at(arrivals({ periodMs: 20 }, 20, GAPS), due), 400, 'one gap short of the history');
  t.is(at(arrivals(undefined, 20), due), 400, 'no rhythm');
  t.is(at(arrivals({ periodMs: 0 }, 20), due), 400, 'period unknown');
  const unpaced = arrivals({ periodMs: 20 }, 20 * PauseLadder.PACED_SHARE - 1);
  t.is(at(unpaced, 1000 + 20 * PauseLadder.PACED_SHARE - 1 - LEAD_MS + 0.1), 400, 'gaps below PACED_SHARE of the period');
});

test('Target arrivalRate: a positive finite rate, anything else MXL_ERR_INVALID_ARG', (t) => {
  const bufs = [new ArrayBuffer(GRAIN_HEADER_SIZE + 4096)];
  const ring = () => ringFromBuffers(bufs, { grainSize: 4096, totalSlices: 1, sliceSizes: [4096, 0, 0, 0] });
  for (const bad of [0, -50, Number.NaN, Number.POSITIVE_INFINITY]) {
    const e = t.throws(() => new Target({ provider: 'tcp', node: '127.0.0.1', ring: ring(), arrivalRate: bad }));
    t.is((e as { code?: string }).code, 'MXL_ERR_INVALID_ARG', `arrivalRate ${bad}`);
    t.regex(e!.message, /arrivalRate/);
  }
  const ok = new Target({ provider: 'tcp', node: '127.0.0.1', ring: ring(), arrivalRate: 50 });
  t.is(ok.grainCount, 1);
  ok.close();
});
