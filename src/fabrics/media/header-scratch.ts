/**
 * Registered scratch copies of grain headers, which commit writes send from (two-phase
 * grain transfers): a commit must not read the source slot, which the local writer may
 * reopen at any time. Grows by chunks; a slot is taken per commit and given back on its
 * completion.
 */
import { addon } from '../../native/index.js';
import type { NativeDomain, NativeMemoryRegion } from '../../native/fabric.js';
import { randomKey } from '../fabric-setup.js';
import { FI } from '../provider-config.js';

/** Bytes per scratch header: 64, so every one is cache-line aligned. */
export const SCRATCH_STRIDE = 64;
const PER_CHUNK = 256;

export class HeaderScratch {
  private readonly chunks: { buf: Uint8Array; mr: NativeMemoryRegion }[] = [];
  private readonly free: number[] = [];

  constructor(private readonly domain: NativeDomain) {}

  /** Takes a scratch header; its id indexes bytes() and segment(). */
  take(): number {
    if (this.free.length === 0) {
      const c = this.chunks.length;
      const buf = new ArrayBuffer(SCRATCH_STRIDE * PER_CHUNK);
      this.chunks.push({ buf: new Uint8Array(buf), mr: new (addon().MemoryRegion)(this.domain, buf, 0, buf.byteLength, FI.WRITE, randomKey()) });
      for (let i = PER_CHUNK - 1; i >= 0; i--) this.free.push(c * PER_CHUNK + i);
    }
    return this.free.pop()!;
  }

  give(id: number): void { this.free.push(id); }

  /** The scratch header's bytes (SCRATCH_STRIDE long). */
  bytes(id: number): Uint8Array {
    const c = this.chunks[Math.floor(id / PER_CHUNK)];
    const o = (id % PER_CHUNK) * SCRATCH_STRIDE;
    return c.buf.subarray(o, o + SCRATCH_STRIDE);
  }

  /** [region, offset] of the scratch header, for a write segment. */
  region(id: number): [NativeMemoryRegion, number] {
    return [this.chunks[Math.floor(id / PER_CHUNK)].mr, (id % PER_CHUNK) * SCRATCH_STRIDE];
  }

  close(): void {
    for (const c of this.chunks) c.mr.close();
    this.chunks.length = 0;
    this.free.length = 0;
  }
}
