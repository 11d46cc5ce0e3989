/**
 * When an endpoint worker that found no work should block, per poll mode:
 * busy never, blocking always, hybrid after an adaptive spin window since the last
 * activity (doubles when work arrived during the spin, halves when it had to block).
 * Blocking happens in the worker's own wait (CQ wait object, flow futex or control
 * doorbell), chosen by the worker. A worker that knows its flow's rate caps the window at
 * a small share of the grain period (capForRate): spinning longer than that at a paced rate
 * only burns CPU between grains (docs/bench.md, paced CPU).
 */
import type { PollMode } from '../ipc/control-block.js';

export class IdlePolicy {
  private windowNs: number;
  private lastActivity = 0;
  private blockedSince = -1;

  constructor(private readonly mode: () => PollMode, private readonly minNs = 20_000, private maxNs = 2_000_000, initialNs = 200_000) {
    this.windowNs = initialNs;
  }

  /** Share of the period a spin may take at most. */
  static readonly PERIOD_SHARE = 1 / 40;

  /**
   * Caps the window at PERIOD_SHARE of one period of `unitsPerSecond` (grains, or audio
   * windows); never below the minimum window. Non-finite or non-positive rates change nothing.
   */
  capForRate(unitsPerSecond: number): void {
    if (!(unitsPerSecond > 0) || !Number.isFinite(unitsPerSecond)) return;
    this.maxNs = Math.max(this.minNs, Math.min(this.maxNs, (1e9 / unitsPerSecond) * IdlePolicy.PERIOD_SHARE));
    this.windowNs = Math.min(this.windowNs, this.maxNs);
  }

  /** capForRate at arrivalsPerSecond(continuous, rate). */
  capForFlow(continuous: boolean, rate: FlowRate): void {
    this.capForRate(arrivalsPerSecond(continuous, rate));
  }

  activity(now = performance.now() * 1e6): void {
    if (this.blockedSince < 0 && this.lastActivity > 0 && now - this.lastActivity < this.windowNs) {
      this.windowNs = Math.min(this.maxNs, this.windowNs * 2);
    }
    this.blockedSince = -1;
    this.lastActivity = now;
  }

  /** True when the caller should block now instead of polling again. */
  shouldBlock(now = performance.now() * 1e6): boolean {
    const m = this.mode();
    if (m === 'busy') return false;
    if (m === 'blocking') return true;
    if (now - this.lastActivity < this.windowNs) return false;
    if (this.blockedSince < 0) {
      this.windowNs = Math.max(this.minNs, this.windowNs / 2);
      this.blockedSince = now;
    }
    return true;
  }

  get spinWindowNs(): number { return this.windowNs; }
  get minSpinWindowNs(): number { return this.minNs; }
  get maxSpinWindowNs(): number { return this.maxNs; }
}

type FlowRate = { numerator: number | bigint; denominator: number | bigint };

/**
 * How often an endpoint's flow brings work: a grain flow at its grain rate; audio at 100
 * windows a second (the flow's rate is its sample rate; the writer picks the windows, 10 ms
 * is the usual one).
 */
export function arrivalsPerSecond(continuous: boolean, rate: FlowRate): number {
  return continuous ? 100 : Number(rate.numerator) / Number(rate.denominator);
}
