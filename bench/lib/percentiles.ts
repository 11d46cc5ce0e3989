/** Medians, percentiles and per-window latency summaries (nearest-rank percentiles). */

export const median = (xs: number[]): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Nearest-rank percentile p (0..100) of an ascending array; NaN when empty. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export interface Percentiles { count: number; p50: number; p90: number; p99: number; max: number }

export function percentiles(xs: number[]): Percentiles {
  const s = Float64Array.from(xs).sort();
  return { count: s.length, p50: percentileSorted(s, 50), p90: percentileSorted(s, 90), p99: percentileSorted(s, 99), max: s.length ? s[s.length - 1] : NaN };
}

/** Latency samples (ms) grouped into windows of `windowMs` by the time they were taken. */
export class WindowedLatency {
  private readonly all: number[] = [];
  private readonly windows = new Map<number, number[]>();
  constructor(private readonly windowMs = 1000, private readonly t0 = performance.now()) {}
  add(ms: number, at = performance.now()): void {
    this.all.push(ms);
    const w = Math.floor((at - this.t0) / this.windowMs);
    let xs = this.windows.get(w);
    if (!xs) this.windows.set(w, (xs = []));
    xs.push(ms);
  }
  get count(): number { return this.all.length; }
  /** Percentiles over every sample, plus each window's own percentiles. */
  summary(): LatencySummary {
    return { ...percentiles(this.all), windows: [...this.windows.entries()].sort((a, b) => a[0] - b[0]).map(([w, xs]) => ({ startS: (w * this.windowMs) / 1000, ...percentiles(xs) })) };
  }
}

export interface LatencySummary extends Percentiles {
  /** Per window (default 1 s): the same percentiles over that window's samples. */
  windows: (Percentiles & { startS: number })[];
}
