/** MXL domain layer: flows in shared memory, byte-compatible with upstream libmxl. See docs/domain.md. */
export { MxlInstance, readDomainHistory, type FlowWriter, type FlowReader, type InstanceOptions } from './instance.js';
export { DiscreteFlowWriter, type GrainInfo, type GrainWriteAccess, type GrainCommit } from './discrete-writer.js';
export { ContinuousFlowWriter, type SamplesWriteAccess } from './continuous-writer.js';
export { DiscreteFlowReader, type GrainReadOptions, type GrainReadResult } from './discrete-reader.js';
export { ContinuousFlowReader, type SamplesReadResult } from './continuous-reader.js';
export type { FlowReaderOptions } from './flow-reader-base.js';
export { readStatusCode, type ReadStatus } from './reader-wait.js';
export { FlowHeader, GrainSlot } from './flow-header.js';
export {
  parseFlowDef, parseWriterOptions, canonicalUuid, uuidBytes,
  type FlowDef, type VideoFlowDef, type AudioFlowDef, type DataFlowDef, type FlowWriterOptions, type InterlaceMode,
} from './flow-def.js';
export { deriveGeometry, v210LineLength, a10LineLength, grainCountFor, bufferLengthFor, type FlowGeometry } from './geometry.js';
export { taiNow, currentIndex, indexToTimestamp, timestampToIndex, nsUntilIndex, reduceRational, type Rational } from './time.js';
export { windowFragments, type RingFragment, type SampleArray } from './audio-window.js';
export { SyncBatchTracker } from './sync-batch.js';
export {
  listFlowIds, listFlows, readFlowDef, isFlowActive, garbageCollectFlows, formatFlowsTable, formatFlowsJson,
  type FlowRow, type GcOptions,
} from './discovery.js';
export * as layout from './layout.js';
