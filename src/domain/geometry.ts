/**
 * Derived flow geometry (docs/domain-format.md §2.3, §5.2): line lengths, slice sizes, grain sizes, ring sizes.
 * One shape for every flow so the fabrics engine can read any field; fields that do not
 * apply to the flow kind are 0.
 */
import { badArg } from './fail.js';
import type { FlowDef } from './flow-def.js';
import { DATA_GRAIN_SIZE, type FlowFormat } from './layout.js';
import type { Rational } from './time.js';

export interface FlowGeometry {
  kind: 'discrete' | 'continuous';
  format: FlowFormat;
  /** Stored rate: grains (fields for interlaced video) or samples per second. */
  grainRate: Rational;
  /** Discrete: ring slots. */
  grainCount: number;
  /** Discrete: payload bytes per grain, all planes. */
  grainSize: number;
  /** Discrete: slices (lines, or bytes for data) per grain. */
  totalSlices: number;
  /** Discrete: bytes per slice of each plane; unused planes 0. */
  sliceSizes: [number, number, number, number];
  /** Discrete: payload offset of each plane (Σ earlier sliceSizes × totalSlices). */
  planeOffsets: [number, number, number, number];
  /** Continuous: channels. */
  channelCount: number;
  /** Continuous: samples per channel ring (L). */
  bufferLength: number;
  /** Continuous: bytes per sample (4 float32, 8 float64). */
  wordSize: number;
  maxCommitBatchSizeHint: number;
  maxSyncBatchSizeHint: number;
}

/** v210 line length: 48 pixels per 128 bytes, padded to 128. */
export const v210LineLength = (width: number): number => Math.ceil(width / 48) * 128;
/** a10 (v210a key plane) line length: 3 samples per 32-bit word. */
export const a10LineLength = (width: number): number => Math.ceil(width / 3) * 4;

/** ⌊history × rate⌋ in u64 arithmetic, as upstream; 0 is possible and refused by writers. */
export function grainCountFor(historyNs: bigint, rate: Rational): number {
  return Number((historyNs * BigInt(rate.numerator)) / (1_000_000_000n * BigInt(rate.denominator)));
}

/** Twice the history in samples, rounded up to a page (4096 bytes) of samples. */
export function bufferLengthFor(historyNs: bigint, rate: Rational, wordSize: number): number {
  const raw = (historyNs * BigInt(rate.numerator)) / (500_000_000n * BigInt(rate.denominator));
  const page = BigInt(4096 / wordSize);
  return Number(((raw + page - 1n) / page) * page);
}

export function planeOffsetsOf(sliceSizes: readonly number[], totalSlices: number): [number, number, number, number] {
  const o: [number, number, number, number] = [0, 0, 0, 0];
  for (let p = 1; p < 4; p++) o[p] = o[p - 1] + sliceSizes[p - 1] * totalSlices;
  return o;
}

export interface GeometryOptions {
  historyNs: bigint;
  maxCommitBatchSizeHint?: number;
  maxSyncBatchSizeHint?: number;
}

/** Geometry of a new flow from its definition and the domain history. */
export function deriveGeometry(def: FlowDef, opts: GeometryOptions): FlowGeometry {
  const rate = def.storedRate;
  const base = {
    grainRate: { ...rate },
    grainCount: 0,
    grainSize: 0,
    totalSlices: 0,
    sliceSizes: [0, 0, 0, 0] as [number, number, number, number],
    planeOffsets: [0, 0, 0, 0] as [number, number, number, number],
    channelCount: 0,
    bufferLength: 0,
    wordSize: 0,
  };
  if (def.format === 'audio') {
    const wordSize = def.bitDepth / 8;
    const bufferLength = bufferLengthFor(opts.historyNs, rate, wordSize);
    if (bufferLength < 2) throw badArg(`the domain history (${opts.historyNs} ns) gives an empty audio ring`, 'sample_rate');
    const batch = Math.max(1, Math.floor(rate.numerator / (100 * rate.denominator)));
    return {
      ...base,
      kind: 'continuous',
      format: 'audio',
      channelCount: def.channelCount,
      bufferLength,
      wordSize,
      maxCommitBatchSizeHint: opts.maxCommitBatchSizeHint ?? batch,
      maxSyncBatchSizeHint: opts.maxSyncBatchSizeHint ?? batch,
    };
  }
  const grainCount = grainCountFor(opts.historyNs, rate);
  // Upstream divides by zero later (docs/domain-format.md §8.10); refuse instead.
  if (grainCount < 1) throw badArg(`the domain history (${opts.historyNs} ns) is shorter than one grain at ${rate.numerator}/${rate.denominator}`, 'grain_rate');
  let sliceSizes: [number, number, number, number];
  let totalSlices: number;
  if (def.format === 'data') {
    sliceSizes = [1, 0, 0, 0];
    totalSlices = DATA_GRAIN_SIZE;
  } else {
    totalSlices = def.interlaceMode === 'progressive' ? def.height : def.height / 2;
    sliceSizes = [v210LineLength(def.width), def.mediaType === 'video/v210a' ? a10LineLength(def.width) : 0, 0, 0];
  }
  const grainSize = sliceSizes.reduce((a, b) => a + b, 0) * totalSlices;
  return {
    ...base,
    kind: 'discrete',
    format: def.format,
    grainCount,
    grainSize,
    totalSlices,
    sliceSizes,
    planeOffsets: planeOffsetsOf(sliceSizes, totalSlices),
    maxCommitBatchSizeHint: opts.maxCommitBatchSizeHint ?? totalSlices,
    maxSyncBatchSizeHint: opts.maxSyncBatchSizeHint ?? totalSlices,
  };
}
