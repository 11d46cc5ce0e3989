// `run.js --rounds N` folds its rounds into one result: per-figure medians, summed counts,
// per-second windows of every round, nulls kept where no round had a figure.
import test from 'ava';
import type { RunFigures } from '../../bench/lib/report.js';
import { foldRounds, median, range, withoutWindows } from '../../bench/lib/rounds.js';

const lat = (p50: number, p99: number, count: number, startS: number) => ({ count, p50, p90: p50 * 1.5, p99, max: p99 * 2, windows: [{ startS, count, p50, p90: p50, p99, max: p99 }] });
const run = (gps: number, p99: number, late: number, carry: number | null, readerPct: number | null = 1): RunFigures => ({
  grainsPerSec: gps, gbitPerSec: gps / 10,
  counts: { written: 100, arrived: 99, verified: 98, unverified: 1, late, lateWarmup: 0, lost: 1, corrupt: 0, initiatorSkipped: 1, tornPrevented: 0 },
  latencyMs: { transfer: lat(2, p99, 99, gps), endToEnd: lat(1.5, p99 + 1, 99, gps) },
  cpu: { initiator: { processPct: gps / 5, endpointPct: null }, target: { processPct: gps / 4, endpointPct: 3, readerPct, carryPct: carry } },
  peakRssBytes: { initiator: 1000, target: 2000 },
});

test('median and range skip what is not a number', (t) => {
  t.is(median([3, 1, 2]), 2);
  t.is(median([4, 1, 3, 2]), 2.5);
  t.is(median([NaN, 5]), 5);
  t.true(Number.isNaN(median([])));
  t.deepEqual(range([3, NaN, -1, 7]), [-1, 7]);
  t.true(range([NaN]).every(Number.isNaN));
});

test('three rounds: every figure is the median of its rounds, the counts are sums, the windows of all rounds are kept', (t) => {
  const rounds = [run(50, 9, 0, 10), run(48, 30, 2, 12), run(49, 7, 0, null)];
  const f = foldRounds(rounds);
  t.is(f.grainsPerSec, 49);
  t.is(f.gbitPerSec, 4.9);
  t.is(f.latencyMs.transfer.p99, 9, 'the median of the rounds\' p99s, not the worst');
  t.is(f.latencyMs.endToEnd.p99, 10);
  t.is(f.latencyMs.transfer.count, 297, 'samples add up');
  t.deepEqual(f.latencyMs.transfer.windows.map((w) => w.startS), [50, 48, 49]);
  t.deepEqual(f.counts, { written: 300, arrived: 297, verified: 294, unverified: 3, late: 2, lateWarmup: 0, lost: 3, corrupt: 0, initiatorSkipped: 3, tornPrevented: 0 });
  t.is(f.cpu.target.carryPct, 11, 'a round without the figure leaves it out of the median');
  t.is(f.cpu.initiator.endpointPct, null, 'no round had it: still null');
  t.is(f.cpu.target.processPct, 12.25);
  t.is(f.peakRssBytes.target, 2000);
  const bare = withoutWindows(rounds[1]);
  t.deepEqual(bare.latencyMs.transfer.windows, []);
  t.is(bare.latencyMs.transfer.p99, 30);
  t.is(rounds[1].latencyMs.transfer.windows.length, 1, 'the round itself is not changed');
  t.throws(() => foldRounds([]), { message: /no rounds/ });
});

test('strings (the baseline\'s program and mode) come from the first round', (t) => {
  const b = [{ ...run(50, 5, 0, 1), program: 'bench/c/rma_bw.c', mode: 'blocking' }, { ...run(52, 6, 0, 1), program: 'bench/c/rma_bw.c', mode: 'blocking' }];
  const f = foldRounds(b);
  t.is(f.program, 'bench/c/rma_bw.c');
  t.is(f.mode, 'blocking');
  t.is(f.grainsPerSec, 51);
});
