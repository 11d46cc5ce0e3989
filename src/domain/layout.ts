/**
 * Byte layout of the MXL shared-memory files (docs/domain-format.md §2). Offsets are bytes from the start of
 * the file; `*_U64`, `*_U32`, `*_U16` are element indexes for typed-array views over the
 * mapping, which is how fields that change concurrently must be read (Atomics, docs/domain-format.md §3.5).
 */

export const FLOW_DATA_VERSION = 1;
export const FLOW_INFO_SIZE = 2048;
/** `data` file: mxlFlowInfo (2048) + FlowState (inode u64, syncCounter u32, padding). */
export const FLOW_DATA_SIZE = 2064;

export const GRAIN_HEADER_VERSION = 1;
export const GRAIN_INFO_SIZE = 4096;
/** Payload offset in every grain file; the file is GRAIN_PAYLOAD_OFFSET + grainSize bytes. */
export const GRAIN_PAYLOAD_OFFSET = 8192;

/** Byte offsets in `data`. */
export const FlowOffset = {
  version: 0,
  size: 4,
  id: 8,
  format: 24,
  flags: 28,
  rateNumerator: 32,
  rateDenominator: 40,
  maxCommitBatchSizeHint: 48,
  maxSyncBatchSizeHint: 52,
  payloadLocation: 56,
  deviceIndex: 60,
  sliceSizes: 136, // discrete, u32[4]
  grainCount: 152, // discrete
  channelCount: 136, // continuous (overlays sliceSizes[0])
  bufferLength: 140, // continuous
  headIndex: 200,
  lastWriteTime: 208,
  lastReadTime: 216,
  inode: 2048,
  syncCounter: 2056,
} as const;

/** Element indexes into views of `data`. */
export const HEAD_INDEX_U64 = FlowOffset.headIndex / 8; // 25
export const LAST_WRITE_TIME_U64 = FlowOffset.lastWriteTime / 8; // 26
export const LAST_READ_TIME_U64 = FlowOffset.lastReadTime / 8; // 27
export const INODE_U64 = FlowOffset.inode / 8; // 256
export const SYNC_COUNTER_U32 = FlowOffset.syncCounter / 4; // 514

/** Byte offsets in a grain file header (mxlGrainInfo). */
export const GrainOffset = {
  version: 0,
  size: 4,
  index: 8,
  flags: 16,
  grainSize: 20,
  totalSlices: 24,
  validSlices: 26,
} as const;

export const GRAIN_INDEX_U64 = GrainOffset.index / 8; // 1
export const GRAIN_FLAGS_U32 = GrainOffset.flags / 4; // 4
export const GRAIN_SIZE_U32 = GrainOffset.grainSize / 4; // 5
export const GRAIN_TOTAL_SLICES_U16 = GrainOffset.totalSlices / 2; // 12
export const GRAIN_VALID_SLICES_U16 = GrainOffset.validSlices / 2; // 13

/** `config.common.format`. */
export const FormatCode = { video: 1, audio: 2, data: 3 } as const;
export type FlowFormat = keyof typeof FormatCode;
export const formatName = (code: number): FlowFormat | undefined =>
  code === 1 ? 'video' : code === 2 ? 'audio' : code === 3 ? 'data' : undefined;

export const GRAIN_FLAG_INVALID = 0x1;
export const MAX_PLANES_PER_GRAIN = 4;
/** Grain size and slice count of a `video/smpte291` data grain. */
export const DATA_GRAIN_SIZE = 4096;
export const VALID_SLICES_ANY = 0;
export const VALID_SLICES_ALL = 65535;
/** MXL_UNDEFINED_INDEX. */
export const UNDEFINED_INDEX = 0xffff_ffff_ffff_ffffn;
export const DEFAULT_HISTORY_NS = 200_000_000n;
export const HISTORY_OPTION_KEY = 'urn:x-mxl:option:history_duration/v1.0';
export const FLOW_DIR_SUFFIX = '.mxl-flow';
export const STAGING_PREFIX = '.mxl-tmp-';
export const INT_MAX = 0x7fff_ffff;
