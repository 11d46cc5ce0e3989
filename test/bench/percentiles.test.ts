// The bench's latency summaries: per-window percentiles exact, overall ones from a
// constant-memory log histogram within its 0.5 % resolution of the exact nearest rank.
import test from 'ava';
import { LogHistogram, WindowedLatency, percentiles } from '../../bench/lib/percentiles.js';

test('the log histogram gives the nearest-rank percentiles within 0.5 %, min and max exact', (t) => {
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const xs = Array.from({ length: 20_000 }, () => 0.2 + 30 * rnd() ** 3); // skewed, 0.2-30 ms
  const h = new LogHistogram();
  for (const x of xs) h.add(x);
  const exact = percentiles(xs);
  const got = h.summary();
  t.is(got.count, xs.length);
  t.is(got.max, exact.max);
  for (const k of ['p50', 'p90', 'p99'] as const) t.true(Math.abs(got[k] / exact[k] - 1) <= 0.005, `${k}: ${got[k]} vs exact ${exact[k]}`);
  const one = new LogHistogram();
  one.add(4.2);
  t.is(one.percentile(50), 4.2, 'a single value is reported exactly (clamped to min/max)');
  const neg = new LogHistogram();
  for (const x of [-0.3, 0.5, 0.6]) neg.add(x);
  t.is(neg.percentile(1), -0.3, 'values at or below 1 µs land in the first bucket and report the exact minimum');
  t.true(Number.isNaN(new LogHistogram().percentile(50)));
});

test('windowed latency: each window exact, windows in order, the open one included', (t) => {
  const w = new WindowedLatency(1000, 0);
  for (let i = 0; i < 10; i++) w.add(1 + i, 100 + i); // window 0: 1..10
  for (let i = 0; i < 4; i++) w.add(50, 1500 + i); // window 1: 50 x4
  w.add(7, 3200); // window 3 (2 had nothing), still open
  const s = w.summary();
  t.is(s.count, 15);
  t.deepEqual(s.windows.map((x) => [x.startS, x.count, x.max]), [[0, 10, 10], [1, 4, 50], [3, 1, 7]]);
  t.is(s.windows[0].p50, 5, 'nearest rank over the window\'s own samples');
  t.is(s.max, 50);
});

test('windowed latency: a late sample counts in its own window while the one before the newest is open', (t) => {
  const w = new WindowedLatency(1000, 0);
  w.add(1, 900);
  w.add(2, 1100); // window 1 opens; window 0 stays open
  w.add(3, 950); // a late batch from another thread: still window 0
  w.add(4, 2100); // window 2 opens: window 0 closes
  w.add(5, 990); // older than both open windows: counts in the older one (1)
  const s = w.summary();
  t.deepEqual(s.windows.map((x) => [x.startS, x.count, x.max]), [[0, 2, 3], [1, 2, 5], [2, 1, 4]]);
  t.is(s.count, 5);
});
