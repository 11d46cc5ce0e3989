/**
 * Typed views over a mapped `data` file and a mapped grain file. Every field another
 * process may change is read and written with Atomics on aligned typed arrays (docs/domain-format.md §3.5).
 */
import {
  FLOW_DATA_SIZE, FLOW_INFO_SIZE, FLOW_DATA_VERSION, FlowOffset, HEAD_INDEX_U64, LAST_WRITE_TIME_U64,
  LAST_READ_TIME_U64, INODE_U64, SYNC_COUNTER_U32, GRAIN_HEADER_VERSION, GRAIN_INFO_SIZE, GRAIN_INDEX_U64,
  GRAIN_FLAGS_U32, GRAIN_SIZE_U32, GRAIN_TOTAL_SLICES_U16, GRAIN_VALID_SLICES_U16, GRAIN_PAYLOAD_OFFSET,
  formatName, type FlowFormat,
} from './layout.js';
import { uuidFromBytes } from './flow-def.js';
import type { Rational } from './time.js';
import { badFlow } from './fail.js';

/** The flow header (`data` file): config fields and the runtime/sync words. */
export class FlowHeader {
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly u64: BigUint64Array;
  readonly i64: BigInt64Array;

  constructor(readonly buffer: ArrayBuffer) {
    if (buffer.byteLength < FLOW_DATA_SIZE) throw badFlow(`data is ${buffer.byteLength} bytes, expected ${FLOW_DATA_SIZE}`, 'data');
    this.u8 = new Uint8Array(buffer, 0, FLOW_DATA_SIZE);
    this.u16 = new Uint16Array(buffer, 0, FLOW_DATA_SIZE / 2);
    this.u32 = new Uint32Array(buffer, 0, FLOW_DATA_SIZE / 4);
    this.i32 = new Int32Array(buffer, 0, FLOW_DATA_SIZE / 4);
    this.u64 = new BigUint64Array(buffer, 0, FLOW_DATA_SIZE / 8);
    this.i64 = new BigInt64Array(buffer, 0, FLOW_DATA_SIZE / 8);
  }

  /** Throws FLOW_INVALID unless version and size are the v1.0 layout (docs/domain-format.md §6.3). */
  check(): void {
    const v = this.u32[0];
    if (v !== FLOW_DATA_VERSION) throw badFlow(`unsupported flow data version ${v} (expected ${FLOW_DATA_VERSION})`, 'data.version');
    if (this.u32[1] !== FLOW_INFO_SIZE) throw badFlow(`flow info size ${this.u32[1]} (expected ${FLOW_INFO_SIZE})`, 'data.size');
    if (!formatName(this.formatCode)) throw badFlow(`unknown flow format ${this.formatCode}`, 'data.format');
  }

  get id(): string { return uuidFromBytes(this.u8.subarray(FlowOffset.id, FlowOffset.id + 16)); }
  get formatCode(): number { return this.u32[FlowOffset.format / 4]; }
  get format(): FlowFormat { return formatName(this.formatCode) ?? 'data'; }
  get grainRate(): Rational {
    return { numerator: Number(this.i64[FlowOffset.rateNumerator / 8]), denominator: Number(this.i64[FlowOffset.rateDenominator / 8]) };
  }
  get maxCommitBatchSizeHint(): number { return this.u32[FlowOffset.maxCommitBatchSizeHint / 4]; }
  get maxSyncBatchSizeHint(): number { return this.u32[FlowOffset.maxSyncBatchSizeHint / 4]; }
  get payloadLocation(): number { return this.u32[FlowOffset.payloadLocation / 4]; }
  get deviceIndex(): number { return this.i32[FlowOffset.deviceIndex / 4]; }
  get sliceSizes(): [number, number, number, number] {
    const o = FlowOffset.sliceSizes / 4;
    return [this.u32[o], this.u32[o + 1], this.u32[o + 2], this.u32[o + 3]];
  }
  get grainCount(): number { return this.u32[FlowOffset.grainCount / 4]; }
  get channelCount(): number { return this.u32[FlowOffset.channelCount / 4]; }
  get bufferLength(): number { return this.u32[FlowOffset.bufferLength / 4]; }

  get headIndex(): bigint { return Atomics.load(this.u64, HEAD_INDEX_U64); }
  set headIndex(v: bigint) { Atomics.store(this.u64, HEAD_INDEX_U64, v); }
  get lastWriteTime(): bigint { return Atomics.load(this.u64, LAST_WRITE_TIME_U64); }
  set lastWriteTime(v: bigint) { Atomics.store(this.u64, LAST_WRITE_TIME_U64, v); }
  get lastReadTime(): bigint { return Atomics.load(this.u64, LAST_READ_TIME_U64); }
  set lastReadTime(v: bigint) { Atomics.store(this.u64, LAST_READ_TIME_U64, v); }
  get inode(): bigint { return Atomics.load(this.u64, INODE_U64); }
  get syncCounter(): number { return Atomics.load(this.u32, SYNC_COUNTER_U32); }
  /** The futex word view and index (for futexWait/futexWake). */
  get syncView(): Uint32Array { return this.u32; }
}

/** Header of one grain file (`grains/data.<slot>`) plus its payload view. */
export class GrainSlot {
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly u64: BigUint64Array;
  /** The whole payload, zero-copy: [8192, 8192 + grainSize) of the file. */
  readonly payload: Uint8Array;

  constructor(readonly buffer: ArrayBuffer, readonly slot: number, grainSize: number) {
    if (buffer.byteLength < GRAIN_PAYLOAD_OFFSET + grainSize) {
      throw badFlow(`grain file ${slot} is ${buffer.byteLength} bytes, expected ${GRAIN_PAYLOAD_OFFSET + grainSize}`, 'grain.size');
    }
    this.u16 = new Uint16Array(buffer, 0, GRAIN_INFO_SIZE / 2);
    this.u32 = new Uint32Array(buffer, 0, GRAIN_INFO_SIZE / 4);
    this.u64 = new BigUint64Array(buffer, 0, GRAIN_INFO_SIZE / 8);
    this.payload = new Uint8Array(buffer, GRAIN_PAYLOAD_OFFSET, grainSize);
  }

  check(): void {
    if (this.u32[0] !== GRAIN_HEADER_VERSION) throw badFlow(`grain ${this.slot}: unsupported version ${this.u32[0]}`, 'grain.version');
    if (this.u32[1] !== GRAIN_INFO_SIZE) throw badFlow(`grain ${this.slot}: info size ${this.u32[1]}`, 'grain.size');
  }

  get index(): bigint { return Atomics.load(this.u64, GRAIN_INDEX_U64); }
  set index(v: bigint) { Atomics.store(this.u64, GRAIN_INDEX_U64, v); }
  get flags(): number { return Atomics.load(this.u32, GRAIN_FLAGS_U32); }
  set flags(v: number) { Atomics.store(this.u32, GRAIN_FLAGS_U32, v); }
  get grainSize(): number { return Atomics.load(this.u32, GRAIN_SIZE_U32); }
  set grainSize(v: number) { Atomics.store(this.u32, GRAIN_SIZE_U32, v); }
  get totalSlices(): number { return Atomics.load(this.u16, GRAIN_TOTAL_SLICES_U16); }
  set totalSlices(v: number) { Atomics.store(this.u16, GRAIN_TOTAL_SLICES_U16, v); }
  get validSlices(): number { return Atomics.load(this.u16, GRAIN_VALID_SLICES_U16); }
  set validSlices(v: number) { Atomics.store(this.u16, GRAIN_VALID_SLICES_U16, v); }
}
