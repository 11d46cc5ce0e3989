/**
 * Several rounds of one scenario (`run.js --rounds N`), folded into one result. Each round
 * runs ours and then raw C, so the two alternate and share the host's drift. The folded
 * figures are per-figure medians of the rounds' own figures (a typical round: a p99 is the
 * median of the rounds' p99s, not a pooled p99), the counts are sums (a late or lost grain
 * in any round counts), and each round's figures stay in the report, so the spread that a
 * single run hides is written next to the medians.
 */
import { median as medianOf } from './percentiles.js';
import type { RunFigures } from './report.js';

/** What a folded result keeps of its rounds: the figures of each (without per-second windows). */
export interface Rounds<B extends RunFigures = RunFigures> {
  n: number;
  ours: RunFigures[];
  baseline: B[];
}

/** The median of the finite values (a round without a figure is left out); NaN when there is none. */
export const median = (xs: number[]): number => medianOf(xs.filter((x) => Number.isFinite(x)));

/** Smallest and largest finite value (NaN, NaN when there is none). */
export function range(xs: number[]): [number, number] {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? [Math.min(...v), Math.max(...v)] : [NaN, NaN];
}

/** Keys whose numbers add up over rounds instead of taking the median. */
const SUMMED = new Set(['counts', 'count']);

/**
 * One value from the same value in each round: numbers → median (sum under `counts` and for
 * latency sample `count`s), objects → key by key, per-second `windows` → all rounds' windows
 * one after another, anything else → the first round's.
 */
function fold(values: unknown[], sum: boolean, key: string): unknown {
  const first = values[0];
  if (typeof first === 'number' || first === null) {
    const nums = values.map((v) => (typeof v === 'number' ? v : NaN));
    if (sum) return nums.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    const m = median(nums);
    return first === null && !Number.isFinite(m) ? null : m;
  }
  if (key === 'windows' && Array.isArray(first)) return values.flatMap((v) => (Array.isArray(v) ? v : []));
  if (first && typeof first === 'object' && !Array.isArray(first)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(first)) out[k] = fold(values.map((v) => (v as Record<string, unknown> | undefined)?.[k]), sum || SUMMED.has(k), k);
    return out;
  }
  return first;
}

/** The rounds' figures folded into one (see the file comment); `runs` must not be empty. */
export function foldRounds<T extends RunFigures>(runs: T[]): T {
  if (runs.length === 0) throw new Error('foldRounds: no rounds');
  return fold(runs, false, '') as T;
}

/** A round's figures without its per-second latency windows (the folded figures hold them). */
export function withoutWindows<T extends RunFigures>(r: T): T {
  const lat = Object.fromEntries(Object.entries(r.latencyMs).map(([k, v]) => [k, v ? { ...v, windows: [] } : v]));
  return { ...r, latencyMs: lat as unknown as T['latencyMs'] };
}
