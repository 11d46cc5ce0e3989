/**
 * Counts discrete transfers as whole grains or slice ranges with their payload bytes.
 * A full-grain transfer is one grain of grainBytes (header + payload); a partial one is a
 * slice range of (end - start) × bytes-per-slice, and the range that completes a grain
 * also counts the grain (with 0 bytes: its bytes were counted slice by slice).
 */
import type { EndpointStats } from './endpoint-stats.js';

export class SliceLedger {
  /** Per ring slot: [grain index (as a double), range start, range end]. */
  private readonly slots: Float64Array;

  constructor(
    private readonly grainCount: number,
    private readonly totalSlices: number,
    private readonly sliceBytes: number,
    private readonly grainBytes: number,
  ) {
    this.slots = new Float64Array(grainCount * 3).fill(-1);
  }

  /** Initiator: a range of grain `index` was posted. */
  posted(index: bigint, start: number, end: number): void {
    const o = Number(index % BigInt(this.grainCount)) * 3;
    this.slots[o] = Number(index);
    this.slots[o + 1] = start;
    this.slots[o + 2] = end;
  }

  /** Initiator: a transfer of grain `index` completed (the range last posted for it). */
  completed(stats: EndpointStats, index: bigint): void {
    const o = Number(index % BigInt(this.grainCount)) * 3;
    if (this.slots[o] !== Number(index)) this.count(stats, 0, this.totalSlices);
    else this.count(stats, this.slots[o + 1], this.slots[o + 2]);
  }

  /** Target: grain `index` landed in `slot` with its first `validSlices` slices valid. */
  landed(stats: EndpointStats, slot: number, index: bigint, validSlices: number): void {
    const o = slot * 3;
    const start = this.slots[o] === Number(index) ? Math.min(this.slots[o + 2], validSlices) : 0;
    this.slots[o] = Number(index);
    this.slots[o + 2] = validSlices;
    this.count(stats, start, validSlices);
  }

  private count(stats: EndpointStats, start: number, end: number): void {
    if (start === 0 && end === this.totalSlices) {
      stats.grain(this.grainBytes);
      return;
    }
    stats.slice((end - start) * this.sliceBytes);
    if (end === this.totalSlices) stats.grain(0);
  }
}
