/** Running counters and latency percentiles for the demo's progress line and summary. */
export class LatencyStats {
  private samples: number[] = [];
  private sorted = true;

  add(ns: number): void {
    this.samples.push(ns);
    this.sorted = false;
  }

  get count(): number { return this.samples.length; }

  /** Percentile in ms (0 when empty). */
  percentileMs(p: number): number {
    if (this.samples.length === 0) return 0;
    if (!this.sorted) {
      this.samples.sort((a, b) => a - b);
      this.sorted = true;
    }
    const i = Math.min(this.samples.length - 1, Math.max(0, Math.ceil((p / 100) * this.samples.length) - 1));
    return this.samples[i] / 1e6;
  }
}
