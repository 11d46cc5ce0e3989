/**
 * Reader of a discrete flow. Availability follows upstream (docs/domain-format.md §2.5), plus one rule of ours
 * (docs/domain-format.md §3.2, §8.4): the slot must hold exactly the requested index, so a stale or recycled
 * slot is never returned (an older index means TOO_EARLY, a newer one TOO_LATE).
 */
import fs from 'node:fs';
import path from 'node:path';
import { addon } from '../native/index.js';
import { badArg } from './fail.js';
import type { FlowFiles } from './flow-files.js';
import { FlowReaderBase } from './flow-reader-base.js';
import { GRAIN_FLAG_INVALID, VALID_SLICES_ALL } from './layout.js';
import { waitForStatus, waitForStatusSync, type ReadStatus } from './reader-wait.js';

export interface GrainReadOptions {
  /** How long to wait for TOO_EARLY to resolve; 0 = non-blocking. Default 0 for sync, 1000 for async. */
  timeoutMs?: number;
  /** Slices needed (VALID_SLICES_ANY = 0 … VALID_SLICES_ALL = 65535, clamped to totalSlices). Default ALL. */
  minValidSlices?: number;
}

export interface GrainReadResult {
  status: ReadStatus;
  index: bigint;
  slot: number;
  flags: number;
  grainSize: number;
  totalSlices: number;
  validSlices: number;
  /** Zero-copy view of the whole payload (status OK only). It is overwritten once the writer wraps round. */
  payload?: Uint8Array;
  /** True when the INVALID flag is set (the writer skipped this grain). */
  invalid: boolean;
}

export class DiscreteFlowReader extends FlowReaderBase {
  readonly kind = 'discrete' as const;
  private accessFd: number | undefined;
  /** The flow's `access` file, touched at every successful read (undefined: could not be opened). */
  get accessFile(): number | undefined { return this.accessFd; }

  constructor(files: FlowFiles) {
    super(files);
    // Touching `access` lets an upstream writer's watcher update lastReadTime (docs/domain-format.md §3.6); failure is fine.
    try {
      this.accessFd = fs.openSync(path.join(files.dir, 'access'), fs.constants.O_RDWR);
    } catch {
      this.accessFd = undefined;
    }
  }

  /** Evaluates grain `index` once, without waiting. */
  private evaluate(index: bigint, minValid: number): GrainReadResult {
    const g = this.geometry;
    const gc = BigInt(g.grainCount);
    const slotNo = Number(index % gc);
    const s = this.files.slots[slotNo];
    const result = (status: ReadStatus, valid = 0, flags = 0): GrainReadResult => ({
      status, index, slot: slotNo, flags, grainSize: g.grainSize, totalSlices: g.totalSlices, validSlices: valid,
      invalid: (flags & GRAIN_FLAG_INVALID) !== 0,
      payload: status === 'OK' ? s.payload : undefined,
    });
    const head = this.files.header.headIndex;
    if (index > head) return result('TOO_EARLY');
    const minIndex = head >= gc ? head - gc + 1n : 0n;
    if (index < minIndex) return result('TOO_LATE');
    const si = s.index;
    if (si > index) return result('TOO_LATE');
    if (si < index) return result('TOO_EARLY');
    const valid = s.validSlices;
    const flags = s.flags;
    // The slot may have been reopened for a newer grain while we read its header.
    if (s.index !== index) return result('TOO_LATE');
    const need = Math.min(minValid, s.totalSlices);
    if (valid >= need || (flags & GRAIN_FLAG_INVALID) !== 0) return result('OK', valid, flags);
    return result('TOO_EARLY', valid, flags);
  }

  private args(index: bigint, opts: GrainReadOptions): number {
    this.ensureOpen();
    if (typeof index !== 'bigint' || index < 0n) throw badArg('grain index must be a non-negative bigint', 'index');
    const m = opts.minValidSlices ?? VALID_SLICES_ALL;
    if (!Number.isInteger(m) || m < 0 || m > VALID_SLICES_ALL) throw badArg('minValidSlices must be 0..65535', 'minValidSlices');
    return m;
  }

  private touched(r: GrainReadResult): GrainReadResult {
    if (r.status === 'OK' && this.accessFd !== undefined) addon().touchAtime(this.accessFd);
    return r;
  }

  /** Waits (off the main thread) up to timeoutMs for grain `index`. */
  async getGrain(index: bigint, opts: GrainReadOptions = {}): Promise<GrainReadResult> {
    const m = this.args(index, opts);
    const r = await waitForStatus(this.files, () => this.evaluate(index, m), opts.timeoutMs ?? 1000, () => !this.closed);
    if (this.closed) return { ...r, payload: undefined };
    return this.touched(r);
  }

  /** Same, synchronously: non-blocking with timeoutMs 0 (default), else blocks this thread in FUTEX_WAIT. */
  getGrainSync(index: bigint, opts: GrainReadOptions = {}): GrainReadResult {
    const m = this.args(index, opts);
    return this.touched(waitForStatusSync(this.files, () => this.evaluate(index, m), opts.timeoutMs ?? 0));
  }

  /** Whole mapping of each grain file (8192 + grainSize bytes), index = slot. */
  grainBuffers(): ArrayBuffer[] {
    this.ensureOpen();
    return this.files.grainFiles.map((f) => f.buffer);
  }

  override close(): void {
    if (this.accessFd !== undefined) {
      fs.closeSync(this.accessFd);
      this.accessFd = undefined;
    }
    super.close();
  }
}
