/** The synchronous transfer engine (for users who run their own threads). See docs/fabrics.md. */
export { Provider, providerFromString, providerToString, type ProviderName } from './provider.js';
export { InterfaceCaps, buildHints, type Hints, type Role } from './provider-config.js';
export { getInterfaces, capsToStrings, type FabricInterface, type InterfaceQuery } from './interfaces.js';
export { TargetInfo, type RemoteRegion, type BounceBufferInfo } from './target-info.js';
export { Target, type TargetOptions, type LandedGrain, type LandedSamples, type TargetCounters, type TargetEvent } from './target.js';
export { Initiator, type InitiatorOptions, type InitiatorEvent, type PeerStatus, type PeerState, type TransferResult } from './initiator.js';
export { ringFromWriter, ringFromReader } from './flow-rings.js';
export { ringFromBuffers, type GrainRing } from './grain-ring.js';
export { samplesFromWriter, samplesFromReader, type SampleRing } from './sample-ring.js';
export { bounceGeometry, type SampleLayout } from './sample-protocol.js';
export { GRAIN_HEADER_SIZE, packImmediate, unpackImmediate, planGrainTransfer, type GrainLayout, type PlannedWrite } from './grain-protocol.js';
export type { EndpointOptions } from './fabric-setup.js';
export { DROP_REASONS, type DropReason } from './media/drops.js';
