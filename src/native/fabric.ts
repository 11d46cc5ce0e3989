/**
 * Declared surface of the libfabric wrappers (native/src/fabric_*.cc). One JS class per
 * libfabric object; resources are released by close() or by the garbage collector, in a
 * valid order either way. Data-path calls (write, recv, connect, accept, drain, sread)
 * return libfabric's status (0 or a negative FI_E* value) instead of throwing.
 */

/** What fi_getinfo reported for one provider/interface, plus an owned handle. */
export interface NativeInfo {
  provider: string;
  fabricName?: string;
  domainName?: string;
  caps: bigint;
  mode: bigint;
  addrFormat: number;
  addrFormatName: string;
  srcAddr: Buffer | null;
  destAddr: Buffer | null;
  epType?: number;
  epTypeName?: string;
  protocol?: number;
  protocolName?: string;
  maxMsgSize?: bigint;
  mrMode?: number;
  cqDataSize?: number;
  mrKeySize?: number;
  cqCount?: number;
  epCount?: number;
  mrCount?: number;
  dataProgress?: number;
  txIovLimit?: number;
  txRmaIovLimit?: number;
  txSize?: number;
  rxMode?: bigint;
  rxSize?: number;
  nic?: {
    deviceName?: string; deviceId?: string; deviceVersion?: string; vendorId?: string; driver?: string; firmware?: string;
    linkAddress?: string; linkType?: string; linkSpeed?: number; linkMtu?: number; linkState?: 'up' | 'down' | 'unknown';
    pciDomainId?: number; pciBusId?: number; pciDeviceId?: number; pciFunctionId?: number;
  };
  /** Owned fi_info; opaque. */
  handle?: unknown;
}

export interface InfoHints {
  provider?: string;
  fabricName?: string;
  domainName?: string;
  epType?: number | bigint;
  caps?: bigint;
  mode?: bigint;
  mrMode?: number;
  addrFormat?: number;
  node?: string;
  service?: string;
  /** FI_SOURCE: node/service name the local address. */
  source?: boolean;
}

export interface Closable { close(): void; readonly closed: boolean }

export interface NativeFabricObj extends Closable {}
export interface NativeDomain extends Closable {}

export type EqEvent =
  | { event: 'connreq'; fidContext: bigint; data: Buffer; info: NativeInfo }
  | { event: 'connected' | 'shutdown'; fidContext: bigint; data: Buffer }
  | { event: 'error'; fidContext: bigint; err: number; provErrno: number; text: string }
  | { event: 'interrupted' }
  | { event: 'mr_complete' | 'av_complete' | 'join_complete' | 'unknown'; fidContext: bigint };

export interface NativeEventQueue extends Closable {
  read(): EqEvent | null;
  sread(timeoutMs: number): EqEvent | null;
}

/**
 * Completion records are 4 x u64 per entry in a BigUint64Array:
 * [op_context, flags (bit 63 = error entry), data (or fi errno), len (or provider errno)].
 */
export interface NativeCompletionQueue extends Closable {
  drain(out: BigUint64Array, max?: number): number;
  sread(out: BigUint64Array, max: number | undefined, timeoutMs: number): number;
  signal(): void;
}

export interface NativeAddressVector extends Closable {
  insert(address: Uint8Array): bigint;
  remove(fiAddr: bigint): number;
}

export interface NativeMemoryRegion extends Closable {
  readonly key: bigint;
  readonly address: bigint;
  readonly length: number;
}

export interface NativePassiveEndpoint extends Closable {
  bind(eq: NativeEventQueue): void;
  listen(): void;
  getName(): Buffer;
  reject(info: NativeInfo): number;
}

/** [region, byte offset in the region, length] */
export type WriteSegment = [NativeMemoryRegion, number, number];

export interface NativeEndpoint extends Closable {
  bind(obj: NativeCompletionQueue | NativeEventQueue | NativeAddressVector, flags?: bigint): void;
  enable(): void;
  connect(address: Uint8Array, param?: Uint8Array): number;
  accept(param?: Uint8Array): number;
  shutdown(): number;
  getName(): Buffer;
  /** One fi_writemsg; data < 0 means no immediate. Returns 0 or a negative FI_E* status. */
  write(segments: WriteSegment[], destAddr: bigint, remoteAddr: bigint, rkey: bigint, data: number, flags: bigint, context: bigint): number;
  recv(mr: NativeMemoryRegion, offset: number, length: number, context: bigint): number;
}

export interface FabricConstants {
  FI_MSG: bigint; FI_RMA: bigint; FI_TAGGED: bigint; FI_HMEM: bigint; FI_READ: bigint; FI_WRITE: bigint;
  FI_RECV: bigint; FI_SEND: bigint; FI_TRANSMIT: bigint; FI_REMOTE_READ: bigint; FI_REMOTE_WRITE: bigint;
  FI_REMOTE_CQ_DATA: bigint; FI_DELIVERY_COMPLETE: bigint; FI_COMPLETION: bigint; FI_RX_CQ_DATA: bigint; FI_SOURCE: bigint;
  FI_MR_LOCAL: bigint; FI_MR_VIRT_ADDR: bigint; FI_MR_ALLOCATED: bigint; FI_MR_PROV_KEY: bigint; FI_MR_ENDPOINT: bigint;
  FI_EP_MSG: bigint; FI_EP_RDM: bigint;
  FI_SOCKADDR: bigint; FI_SOCKADDR_IN: bigint; FI_SOCKADDR_IN6: bigint; FI_SOCKADDR_IB: bigint; FI_ADDR_STR: bigint;
  FI_ADDR_EFA: bigint; FI_SOCKADDR_IP: bigint;
  FI_PROTO_SOCK_TCP: bigint; FI_PROTO_RDMA_CM_IB_RC: bigint; FI_PROTO_SHM: bigint; FI_PROTO_EFA: bigint;
  FI_ADDR_UNSPEC: bigint; CQ_ERROR_BIT: bigint;
}

export interface NativeFabric {
  getInfo(hints?: InfoHints): NativeInfo[];
  constants: FabricConstants;
  Fabric: new (info: NativeInfo) => NativeFabricObj;
  Domain: new (fabric: NativeFabricObj, info: NativeInfo) => NativeDomain;
  EventQueue: new (fabric: NativeFabricObj, size?: number) => NativeEventQueue;
  CompletionQueue: new (domain: NativeDomain, size?: number, waitObject?: boolean) => NativeCompletionQueue;
  AddressVector: new (domain: NativeDomain, count?: number) => NativeAddressVector;
  MemoryRegion: new (domain: NativeDomain, buffer: ArrayBuffer | ArrayBufferView, offset: number | undefined, length: number | undefined, access: bigint, requestedKey?: bigint) => NativeMemoryRegion;
  PassiveEndpoint: new (fabric: NativeFabricObj, info: NativeInfo, context?: bigint) => NativePassiveEndpoint;
  Endpoint: new (domain: NativeDomain, info: NativeInfo, context?: bigint) => NativeEndpoint;
  /**
   * Watches a local process (native/src/process_watch.cc): a pidfd, so a reused pid never
   * looks alive. Throws MXL_ERR_NOT_FOUND (errno 3) when there is no such process. With
   * `regionPath` (the process's libfabric 1.17 shm region), a thread also frees that
   * region's spinlock if the process exits holding it (x86-64).
   */
  ProcessWatch: new (pid: number, regionPath?: string) => NativeProcessWatch;
  /** An initiator's follow mode for grains, in the addon (docs/native.md "The native follow loop"). */
  FollowLoop: new (cq: NativeCompletionQueue, flowData: ArrayBuffer, slotMrs: NativeMemoryRegion[], control: Int32Array, opts: FollowLoopOptions) => NativeFollowLoop;
  /**
   * What a worker may block on natively, so that another thread can end that wait
   * (native/src/waker.cc; docs/runtime.md, "Waking a worker in a native wait").
   */
  Waker: new () => NativeWaker;
  /**
   * From any thread: signals the completion queues and wakes the futex that waker `id`
   * watches. Returns what it woke; 0 when no such waker exists (any more).
   */
  wake(id: number): number;
}

export interface NativeWaker extends Closable {
  /** Process-wide id, for wake(); published in the worker's control block. */
  readonly id: number;
  /** wake() signals every completion queue with a wait object opened in `domain`, now or later. */
  watchDomain(domain: NativeDomain): void;
  /** wake() also wakes this futex word (other waiters on it see one spurious wake-up). */
  watchFutex(view: Uint32Array, index: number): void;
}

export interface FollowLoopOptions {
  /** Grains: the payload size (absent with `samples`). */
  grainSize?: number;
  totalSlices?: number;
  /** Bytes per slice of each plane, 4 numbers (unused planes 0). */
  sliceSizes?: number[];
  protectTorn?: boolean;
  /** Audio: the source's planar channels ring; slotMrs is then empty. */
  samples?: { channels: ArrayBuffer; channelCount: number; bufferLength: number; wordSize: number; syncBatch: number };
  /** Writes queued or in flight per lane before a grain skips it. */
  maxInFlight: number;
  /** Writes in flight on all lanes together stay below this. */
  cqDepth: number;
  /** A lane whose oldest write has had no completion for this long fails. */
  stallTimeoutMs: number;
  /** The flow's `access` file, touched per grain read (-1: none). */
  accessFd?: number;
  /** fi_cq_sread wakes reliably (automatic progress); false: poll while writes are in flight. */
  sread: boolean;
}

export interface NativeFollowLoop {
  /**
   * Adds (or replaces) lane `id` (the peer's context tag): its endpoint, address and regions
   * as [addr, rkey] pairs; audio lanes also the target's bounce buffer geometry.
   */
  setLane(id: number, endpoint: NativeEndpoint, destAddr: bigint, regions: BigUint64Array, bounce?: { entryCount: number; entrySize: number }): void;
  /** Forgets lane `id` and its writes; their completions are ignored. */
  removeLane(id: number): void;
  /** Writes queued or in flight, on lane `id` or on all. */
  inFlight(id?: number): number;
  /**
   * Follows the source flow until a completion that is not the loop's own arrives (written to
   * `foreign` as CompletionQueue.drain records), a lane fails, `events` is nearly full, the
   * control block's doorbell or stop word changes (from `doorbellSeen`, the value the caller
   * handled last; default: its value at the call), or timeoutMs passes. Records go to
   * `events` (FollowRecord layout, count in word 0). Returns the foreign count.
   */
  follow(events: Float64Array, foreign: BigUint64Array, timeoutMs: number, spinNs: number, jsInFlight: boolean, doorbellSeen?: number): number;
  close(): void;
}

export interface NativeProcessWatch extends Closable {
  /** True once the process has terminated (a zombie counts). One poll(2), no blocking. */
  exited(): boolean;
  /** A region is watched for a lock to free when the process exits. */
  readonly releasing: boolean;
  /** The process exited holding its region's lock, and the watch freed it. */
  readonly releasedLock: boolean;
}
