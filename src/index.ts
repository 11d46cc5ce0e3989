/**
 * mxl-fabrics: MXL media flows across hosts over libfabric, for Node.js.
 *
 * - {@link Fabrics}: the runtime; each target and initiator in its own worker thread.
 * - `Target`, `Initiator`, `TargetInfo`: the synchronous engine underneath.
 * - `MxlInstance` and friends: MXL domains and flows, byte-compatible with libmxl.
 * - `MetricsExporter`: Prometheus metrics of every endpoint.
 */
export { FabricsError, MxlStatus, statusName, type MxlStatusCode, type FabricsErrorCode } from './errors.js';
export { Fabrics, type FabricsOptions, type TargetOptions as RuntimeTargetOptions, type InitiatorOptions as RuntimeInitiatorOptions } from './runtime/coordinator.js';
export { TargetHandle, type ArrivedGrain, type ArrivedSamples } from './runtime/target-handle.js';
export { InitiatorHandle, type CompletedGrain, type PeerEvent } from './runtime/initiator-handle.js';
export type { RecordOptions } from './runtime/endpoint-handle.js';
export type { PollMode } from './ipc/control-block.js';
export * from './fabrics/index.js';
export * from './domain/index.js';
export * from './metrics/index.js';
export { openTargetInfoSource, type TargetInfoSource, type SourceOptions } from './session/target-info-source.js';
export { TargetInfoServer, TARGET_INFO_PATH } from './session/target-info-server.js';
export { TargetSessions, type ResumedEvent, type ReplacedEvent } from './session/target-session.js';
