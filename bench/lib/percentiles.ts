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

/**
 * Log-spaced histogram of positive values (ms): buckets 0.5 % wide from 1 µs to 100 s, so
 * memory stays the same however long a run is (a soak takes hundreds of thousands of
 * samples). Percentiles are nearest-rank over the buckets, each reported as its geometric
 * middle clamped to the exact min and max; values at or below 1 µs (or negative, across hosts
 * with skewed clocks) count in the first bucket, reported as the exact minimum.
 */
export class LogHistogram {
  private static readonly LO = 1e-3;
  private static readonly STEP = Math.log(1.005);
  private readonly counts = new Float64Array(Math.ceil(Math.log(1e5 / LogHistogram.LO) / LogHistogram.STEP) + 1);
  count = 0;
  min = Infinity;
  max = -Infinity;
  add(x: number): void {
    if (!Number.isFinite(x)) return;
    const i = x <= LogHistogram.LO ? 0 : Math.min(this.counts.length - 1, Math.floor(Math.log(x / LogHistogram.LO) / LogHistogram.STEP) + 1);
    this.counts[i]++;
    this.count++;
    if (x < this.min) this.min = x;
    if (x > this.max) this.max = x;
  }
  percentile(p: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.min(this.count, Math.max(1, Math.ceil((p / 100) * this.count)));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i];
      if (seen >= rank) {
        const mid = i === 0 ? this.min : LogHistogram.LO * Math.exp((i - 0.5) * LogHistogram.STEP);
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }
  summary(): Percentiles {
    return { count: this.count, p50: this.percentile(50), p90: this.percentile(90), p99: this.percentile(99), max: this.count ? this.max : NaN };
  }
}

/**
 * Latency samples (ms) grouped into windows of `windowMs` by the time they were taken: each
 * window's percentiles are exact (its samples are kept until the window is over), the
 * overall ones come from a LogHistogram (0.5 % resolution, constant memory). The window
 * before the newest stays open too, for samples that come late (batches posted by several
 * threads interleave); a sample older than both counts in the older one.
 */
export class WindowedLatency {
  private readonly all = new LogHistogram();
  private readonly closed: (Percentiles & { startS: number })[] = [];
  /** The newest window seen; it and the one before are open. */
  private current = -1;
  private samples: number[] = [];
  private previous: number[] = [];
  constructor(private readonly windowMs = 1000, private readonly t0 = performance.now()) {}
  add(ms: number, at = performance.now()): void {
    this.all.add(ms);
    const w = Math.floor((at - this.t0) / this.windowMs);
    if (w > this.current) {
      if (this.current >= 0) {
        this.close(this.current - 1, this.previous);
        if (w === this.current + 1) this.previous = this.samples;
        else { this.close(this.current, this.samples); this.previous = []; }
      }
      this.samples = [];
      this.current = w;
    }
    (w === this.current ? this.samples : this.previous).push(ms);
  }
  private close(w: number, xs: number[]): void {
    if (xs.length) this.closed.push({ startS: (w * this.windowMs) / 1000, ...percentiles(xs) });
  }
  private summaryOf(w: number, xs: number[]): (Percentiles & { startS: number })[] {
    return xs.length ? [{ startS: (w * this.windowMs) / 1000, ...percentiles(xs) }] : [];
  }
  get count(): number { return this.all.count; }
  /** Percentiles over every sample, plus each window's own percentiles. */
  summary(): LatencySummary {
    return { ...this.all.summary(), windows: [...this.closed, ...this.summaryOf(this.current - 1, this.previous), ...this.summaryOf(this.current, this.samples)] };
  }
}

export interface LatencySummary extends Percentiles {
  /** Per window (default 1 s): the same percentiles over that window's samples. */
  windows: (Percentiles & { startS: number })[];
}
