/**
 * An initiator: writes grains from a local ring straight into the memory of every added
 * target (protocol §4.3, §5.2, §5.3).
 *
 * Fan-out isolates failures (upstream does not, peers.md §3 item 12): each target has its
 * own state, a refused, stalled or vanished target is reported on that target only, and
 * transfers to the others go on. Error completions release their in-flight slot (upstream
 * never does, §8 item 3), and a disconnected MSG target is retried with a back-off.
 */
import { FabricsError } from '../errors.js';
import { addon } from '../native/index.js';
import type { NativeAddressVector, NativeCompletionQueue, NativeEndpoint, NativeEventQueue, NativeMemoryRegion, WriteSegment } from '../native/fabric.js';
import { type EndpointOptions, type OpenedFabric, PauseLadder, bindError, openFabric, randomKey } from './fabric-setup.js';
import { type GrainLayout, planGrainTransfer, regionLength } from './grain-protocol.js';
import { type GrainRing, SlotHeader } from './grain-ring.js';
import { ENTRY_HEADER_SIZE, entryCapacity, splitByIovLimit, windowRanges } from './sample-protocol.js';
import type { SampleRing } from './sample-ring.js';
import { CQ_BIND_FLAGS, FI } from './provider-config.js';
import type { TargetInfo } from './target-info.js';

export interface InitiatorOptions extends EndpointOptions {
  /** Grains: the local ring to send from (give this or `samples`). */
  ring?: GrainRing;
  /** Audio: the local channels ring to send from (protocol §4.7). */
  samples?: SampleRing;
  /** Completion queue depth (default 256). */
  cqDepth?: number;
  /** Delay before reconnecting a dropped MSG target (default 1000 ms; upstream 5 s). */
  reconnectDelayMs?: number;
  /** Writes in flight per target before transfers to it are skipped (default 64). */
  maxInFlight?: number;
  /**
   * A target whose oldest write has had no completion for this long is reported as failed
   * (default 5000 ms). RDM providers (shm, efa) never tell that a peer vanished (protocol
   * §5.3): without this its writes would stay in flight forever.
   */
  stallTimeoutMs?: number;
}

export type PeerState = 'connecting' | 'connected' | 'backoff' | 'closed';

export interface PeerStatus {
  id: bigint;
  state: PeerState;
  inFlight: number;
  grains: number;
  bytes: number;
  skipped: number;
  errors: number;
  lastError?: string;
}

export type InitiatorEvent =
  | { type: 'connected'; target: bigint }
  | { type: 'disconnected'; target: bigint; reason: string }
  | { type: 'error'; target: bigint; error: FabricsError }
  /** A grain's last write completed at this target (delivery complete). */
  | { type: 'completed'; target: bigint; index: bigint; latencyNs: bigint; /** audio: samples in the window */ count?: number }
  /**
   * The local slot was reopened for a newer grain before this grain's writes completed:
   * what the target got may mix the two. The reader fell a whole ring behind.
   */
  | { type: 'overrun'; target: bigint; index: bigint };

export interface TransferResult {
  /** Targets the grain was posted to. */
  posted: number;
  /** Targets skipped: not connected yet, backing off, or too many writes in flight. */
  skipped: number;
}

interface InFlight { index: bigint; postNs: bigint; last: boolean; bytes: number; count?: number }
/** A write waiting for room in the provider's transmit queue. */
interface QueuedWrite extends InFlight { seq: number; segs: WriteSegment[]; remoteAddr: bigint; rkey: bigint; immediate: number }

/** Audio: the target's bounce buffer as this initiator uses it. */
interface BounceState { entryCount: number; entrySize: number; headers: BigUint64Array; mr: NativeMemoryRegion; k: number }

class Peer {
  state: PeerState = 'connecting';
  ep?: NativeEndpoint;
  /** RDM only: the peer's own address vector and the target's address in it. */
  av?: NativeAddressVector;
  fiAddr = 0n;
  attempts = 0;
  readonly inflight = new Map<number, InFlight>();
  /** Writes the provider refused with EAGAIN, posted in order by later progress calls. */
  queue: QueuedWrite[] = [];
  bounce?: BounceState;
  seq = 0;
  retryAt = 0;
  grains = 0;
  bytes = 0;
  skipped = 0;
  errors = 0;
  lastError?: string;
  constructor(readonly info: TargetInfo, readonly ctx: bigint) {}
  status(): PeerStatus {
    return { id: this.info.id, state: this.state, inFlight: this.inflight.size + this.queue.length, grains: this.grains, bytes: this.bytes, skipped: this.skipped, errors: this.errors, lastError: this.lastError };
  }
}

const REC_WORDS = 4;
const BATCH = 64;
const EAGAIN = -11;

export class Initiator {
  readonly fabric: OpenedFabric;
  private readonly ring?: GrainRing;
  private readonly layout: GrainLayout;
  private readonly sampleRing?: SampleRing;
  private readonly headers: SlotHeader[];
  private readonly mrs: NativeMemoryRegion[] = [];
  private readonly cq: NativeCompletionQueue;
  private readonly eq?: NativeEventQueue;
  private readonly peers = new Map<bigint, Peer>();
  private readonly byCtx = new Map<bigint, Peer>();
  private readonly recs = new BigUint64Array(REC_WORDS * BATCH);
  private readonly events: InitiatorEvent[] = [];
  private readonly reconnectDelayMs: number;
  private readonly maxInFlight: number;
  private readonly stallNs: bigint;
  private nextCtx = 1n;
  private closed = false;
  private readonly ladder = new PauseLadder();
  /** Grains whose local slot was overwritten before their transfer completed. */
  overruns = 0;
  private readonly local: { node?: string; service?: string };
  /** Called for each event as it happens (events are also queued for takeEvents()). */
  onEvent?: (e: InitiatorEvent) => void;

  constructor(opts: InitiatorOptions) {
    if ((!opts.ring || opts.ring.slots.length === 0) && !opts.samples) throw new FabricsError('MXL_ERR_INVALID_ARG', 'an initiator needs a grain ring or a sample ring (a flow reader or user buffers)', { field: 'ring' });
    if (opts.ring && opts.samples) throw new FabricsError('MXL_ERR_INVALID_ARG', 'give an initiator either grains (ring) or samples, not both', { field: 'samples' });
    this.ring = opts.ring;
    this.sampleRing = opts.samples;
    this.layout = opts.ring?.layout ?? { grainSize: 0, totalSlices: 0, sliceSizes: [0, 0, 0, 0] };
    this.reconnectDelayMs = opts.reconnectDelayMs ?? 1000;
    this.local = { node: opts.node, service: opts.service };
    this.maxInFlight = opts.maxInFlight ?? 64;
    const stall = opts.stallTimeoutMs ?? 5000;
    if (!Number.isFinite(stall) || stall <= 0) throw new FabricsError('MXL_ERR_INVALID_ARG', `stallTimeoutMs must be a positive number of milliseconds, got ${stall}`, { field: 'stallTimeoutMs' });
    this.stallNs = BigInt(Math.ceil(stall * 1e6));
    this.headers = this.ring ? this.ring.slots.map((b) => new SlotHeader(b)) : [];
    const a = addon();
    const f = openFabric(opts, 'initiator');
    this.fabric = f;
    try {
      if (this.ring) {
        const len = regionLength(this.layout);
        for (const buf of this.ring.slots) this.mrs.push(new a.MemoryRegion(f.domain, buf, 0, len, FI.WRITE, randomKey()));
      } else {
        const ch = this.sampleRing!.channels;
        this.mrs.push(new a.MemoryRegion(f.domain, ch, 0, ch.byteLength, FI.WRITE, randomKey()));
      }
      this.cq = new a.CompletionQueue(f.domain, opts.cqDepth ?? 256, true);
      // MSG: one connected endpoint per target, created by addTarget. RDM: also one endpoint
      // per target (openRdm), so a target that stops answering cannot hold back the write
      // completions of the others (libfabric 1.17 shm completes an endpoint's writes in order).
      if (f.config.epType === FI.EP_MSG) this.eq = new a.EventQueue(f.fabric, 64);
    } catch (e) {
      this.release();
      throw e;
    }
  }

  get targets(): PeerStatus[] { return [...this.peers.values()].map((p) => p.status()); }
  get grainCount(): number { return this.ring?.slots.length ?? 0; }
  get kind(): 'grains' | 'samples' { return this.ring ? 'grains' : 'samples'; }

  /** Audio: the most samples per channel one transfer can carry to every added target. */
  maxSamplesPerTransfer(): number {
    const half = this.sampleRing ? Math.floor(this.sampleRing.layout.bufferLength / 2) : 0;
    let n = half;
    for (const p of this.peers.values()) if (p.bounce) n = Math.min(n, entryCapacity(p.bounce.entrySize, this.sampleRing!.layout));
    return n;
  }

  /** Adds a target; MSG connects in the background (see makeProgress), RDM is ready at once. */
  addTarget(info: TargetInfo): void {
    this.checkOpen();
    if (info.provider !== this.fabric.providerName) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', `TargetInfo is for provider ${info.provider}, this initiator uses ${this.fabric.providerName}`, { field: 'provider' });
    }
    if (this.peers.has(info.id)) throw new FabricsError('MXL_ERR_EXISTS', `target ${info.id} was already added`, { field: 'id' });
    if (!this.sampleRing && info.bounceBufferInfo) throw new FabricsError('MXL_ERR_INVALID_ARG', 'TargetInfo describes an audio (continuous) target; this initiator sends grains', { field: 'bounceBufferInfo' });
    const need = BigInt(regionLength(this.layout));
    const bad = this.sampleRing ? -1 : info.regions.findIndex((r) => r.len !== need);
    if (bad >= 0) {
      throw new FabricsError('MXL_ERR_INVALID_ARG',
        `TargetInfo region ${bad} is ${info.regions[bad].len} bytes but local grains are ${need} (8192 + ${this.layout.grainSize}): the target flow has another format or size`, { field: `regions[${bad}].len` });
    }
    const peer = new Peer(info, this.nextCtx++);
    // Audio: checks the bounce buffer and registers our entry headers (last check, first resource).
    if (this.sampleRing) peer.bounce = this.bounceFor(info);
    if (!this.eq) {
      try {
        this.openRdm(peer);
      } catch (e) {
        peer.ep?.close();
        peer.av?.close();
        peer.bounce?.mr.close();
        if (e instanceof FabricsError && e.field === 'fabricAddress') throw e;
        throw bindError(e, this.local);
      }
      peer.state = 'connected';
    }
    this.peers.set(info.id, peer);
    this.byCtx.set(peer.ctx, peer);
    if (peer.state === 'connected') this.emit({ type: 'connected', target: info.id });
    else {
      try {
        this.connect(peer);
      } catch (e) {
        // Not added after all (e.g. the local node is no interface address of this host).
        peer.ep?.close();
        peer.bounce?.mr.close();
        this.peers.delete(info.id);
        this.byCtx.delete(peer.ctx);
        throw bindError(e, this.local);
      }
    }
  }

  /** Removes a target (matched by id); its writes still in flight are forgotten. */
  removeTarget(info: TargetInfo | bigint): void {
    const id = typeof info === 'bigint' ? info : info.id;
    const peer = this.peers.get(id);
    if (!peer) throw new FabricsError('MXL_ERR_NOT_FOUND', `target ${id} was not added`, { field: 'id' });
    this.dropPeer(peer);
  }

  /**
   * Posts slices [startSlice, endSlice) of grain `index` to every connected target. The
   * local slot must still hold that grain (else MXL_ERR_OUT_OF_RANGE_TOO_LATE).
   */
  transferGrain(index: bigint, startSlice = 0, endSlice = this.layout.totalSlices): TransferResult {
    this.checkOpen();
    if (!this.ring) throw new FabricsError('MXL_ERR_INVALID_STATE', 'this initiator sends samples: use transferSamples()');
    // Validate before posting anything, so a bad call never reaches some targets only.
    if (typeof index !== 'bigint' || index < 0n) throw new FabricsError('MXL_ERR_INVALID_ARG', `grain index must be a non-negative bigint, got ${String(index)}`, { field: 'index' });
    const total = this.layout.totalSlices;
    if (!Number.isInteger(startSlice) || !Number.isInteger(endSlice) || startSlice < 0 || endSlice < startSlice) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', `slice range [${startSlice}, ${endSlice}) is not a valid range: need 0 <= start <= end`, { field: 'slices' });
    }
    if (endSlice > total) throw new FabricsError('MXL_ERR_INVALID_ARG', `slice end ${endSlice} is past the grain's ${total} slices`, { field: 'endSlice' });
    const localSlot = Number(index % BigInt(this.headers.length));
    const held = this.headers[localSlot].index;
    if (held !== index) {
      throw new FabricsError(held > index ? 'MXL_ERR_OUT_OF_RANGE_TOO_LATE' : 'MXL_ERR_OUT_OF_RANGE_TOO_EARLY',
        `grain ${index} is not in the local ring (slot ${localSlot} holds ${held})`, { field: 'index' });
    }
    const mr = this.mrs[localSlot];
    let posted = 0;
    let skipped = 0;
    for (const peer of this.peers.values()) {
      if (peer.state !== 'connected' || peer.inflight.size + peer.queue.length >= this.maxInFlight) {
        if (peer.state === 'connected' || peer.state === 'backoff' || peer.state === 'connecting') peer.skipped++;
        skipped++;
        continue;
      }
      if (this.postTo(peer, mr, index, startSlice, endSlice)) posted++;
      else skipped++;
    }
    return { posted, skipped };
  }

  /**
   * Audio: posts window (end, count) of the local ring (samples end-count .. end-1 of every
   * channel) to every connected target, through its bounce buffer (protocol §4.7).
   */
  transferSamples(end: bigint, count: number): TransferResult {
    this.checkOpen();
    const ring = this.sampleRing;
    if (!ring) throw new FabricsError('MXL_ERR_INVALID_STATE', 'this initiator sends grains: use transferGrain()');
    if (typeof end !== 'bigint' || end < 0n) throw new FabricsError('MXL_ERR_INVALID_ARG', `head index must be a non-negative bigint, got ${String(end)}`, { field: 'index' });
    if (!Number.isInteger(count) || count < 1) throw new FabricsError('MXL_ERR_INVALID_ARG', `sample count must be >= 1, got ${count}`, { field: 'count' });
    if (end < BigInt(count)) throw new FabricsError('MXL_ERR_INVALID_ARG', `window ends at ${end}, before its ${count} samples`, { field: 'index' });
    const max = this.maxSamplesPerTransfer();
    if (count > max) throw new FabricsError('MXL_ERR_INVALID_ARG', `${count} samples do not fit: at most ${max} per transfer (the targets' bounce entries and half the local ring)`, { field: 'count' });
    const st = ring.status?.(end, count) ?? 'OK';
    if (st !== 'OK') {
      throw new FabricsError(st === 'TOO_LATE' ? 'MXL_ERR_OUT_OF_RANGE_TOO_LATE' : st === 'TOO_EARLY' ? 'MXL_ERR_OUT_OF_RANGE_TOO_EARLY' : 'MXL_ERR_FLOW_INVALID',
        `samples [${end - BigInt(count)}, ${end}) are not in the local ring (${st})`, { field: 'index' });
    }
    const ranges = windowRanges(ring.layout, end, count);
    const mr = this.mrs[0];
    let posted = 0;
    let skipped = 0;
    for (const peer of this.peers.values()) {
      if (peer.state !== 'connected' || peer.inflight.size + peer.queue.length >= this.maxInFlight || !peer.bounce) {
        skipped++;
        peer.skipped++;
        continue;
      }
      const b = peer.bounce;
      const k = b.k;
      b.k = (b.k + 1) % b.entryCount;
      b.headers[k * 2] = end;
      b.headers[k * 2 + 1] = BigInt(count);
      const segs: WriteSegment[] = [[b.mr, k * ENTRY_HEADER_SIZE, ENTRY_HEADER_SIZE], ...ranges.map((r): WriteSegment => [mr, r.offset, r.length])];
      const region = peer.info.regions[k % peer.info.regions.length];
      const groups = splitByIovLimit(segs, this.fabric.info.txIovLimit ?? 4);
      const now = process.hrtime.bigint();
      let offset = 0;
      groups.forEach((g, i) => {
        const bytes = g.reduce((n, sg) => n + sg[2], 0);
        peer.seq = (peer.seq + 1) >>> 0;
        const last = i === groups.length - 1;
        peer.queue.push({ seq: peer.seq, index: end, count, postNs: now, last, bytes, segs: g, remoteAddr: region.addr + BigInt(offset), rkey: region.rkey, immediate: last ? k : -1 });
        offset += bytes;
      });
      this.flush(peer);
      if (peer.state === 'connected') posted++;
      else skipped++;
    }
    return { posted, skipped };
  }

  /** Audio: checks a target's bounce buffer and registers our entry headers for it. */
  private bounceFor(info: TargetInfo): BounceState {
    const bb = info.bounceBufferInfo;
    if (!bb) throw new FabricsError('MXL_ERR_INVALID_ARG', 'TargetInfo has no bounceBufferInfo: it describes a grain (video/data) target, this initiator sends samples', { field: 'bounceBufferInfo' });
    const entryCount = Number(bb.entryCount);
    const entrySize = Number(bb.entrySize);
    if (entryCount < 1 || entryCount > 1 << 20) throw new FabricsError('MXL_ERR_INVALID_ARG', `bounceBufferInfo.entryCount ${bb.entryCount} is out of range`, { field: 'bounceBufferInfo.entryCount' });
    const one = this.sampleRing!.layout.channelCount * this.sampleRing!.layout.wordSize;
    if (entrySize < ENTRY_HEADER_SIZE + one) throw new FabricsError('MXL_ERR_INVALID_ARG', `bounceBufferInfo.entrySize ${bb.entrySize} cannot hold one sample of ${this.sampleRing!.layout.channelCount} channels`, { field: 'bounceBufferInfo.entrySize' });
    const bad = info.regions.findIndex((r) => r.len !== BigInt(entrySize));
    if (bad >= 0) throw new FabricsError('MXL_ERR_INVALID_ARG', `TargetInfo region ${bad} is ${info.regions[bad].len} bytes, not the bounce entry size ${entrySize}`, { field: `regions[${bad}].len` });
    const buf = new ArrayBuffer(ENTRY_HEADER_SIZE * entryCount);
    const mr = new (addon().MemoryRegion)(this.fabric.domain, buf, 0, buf.byteLength, FI.WRITE, randomKey());
    return { entryCount, entrySize, headers: new BigUint64Array(buf), mr, k: 0 };
  }

  /**
   * Drives connections and completions. Returns true when every connected target has no
   * write in flight (upstream's OK), false otherwise (NOT_READY). With timeoutMs > 0 it
   * waits for completions up to that long, returning early once idle.
   */
  makeProgress(timeoutMs = 0): boolean {
    this.checkOpen();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.pollEvents();
      this.retryConnections();
      this.drain(0);
      for (const p of this.peers.values()) if (p.queue.length > 0) this.flush(p);
      this.checkStalls();
      const idle = this.idle();
      const left = deadline - Date.now();
      if (idle || left <= 0) return idle;
      this.drain(Math.min(left, this.eq ? 10 : left));
    }
  }

  /** True when nothing is in flight and no target is still connecting. */
  idle(): boolean {
    for (const p of this.peers.values()) if (p.inflight.size > 0 || p.queue.length > 0 || p.state === 'connecting') return false;
    return true;
  }

  takeEvents(): InitiatorEvent[] { return this.events.splice(0); }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.peers.values()]) this.dropPeer(p, false);
    this.release();
  }

  // -------------------------------------------------------------------- internals

  private checkOpen(): void {
    if (this.closed) throw new FabricsError('MXL_ERR_INVALID_STATE', 'initiator is closed');
  }

  private release(): void {
    this.cq?.close();
    this.eq?.close();
    for (const mr of this.mrs) mr.close();
    this.fabric?.domain.close();
    this.fabric?.fabric.close();
  }

  private emit(e: InitiatorEvent): void {
    if (e.type !== 'completed' && e.type !== 'overrun') this.events.push(e);
    this.onEvent?.(e);
  }

  private connect(peer: Peer): void {
    const a = addon();
    peer.ep?.close();
    const ep = new a.Endpoint(this.fabric.domain, this.fabric.info, peer.ctx);
    ep.bind(this.eq!);
    ep.bind(this.cq, CQ_BIND_FLAGS);
    peer.ep = ep;
    peer.state = 'connecting';
    const rc = ep.connect(peer.info.fabricAddress);
    if (rc !== 0) this.peerFailed(peer, `fi_connect failed (${rc})`);
  }

  /** RDM: a fresh endpoint and address vector for this peer, bound to the shared CQ. */
  private openRdm(peer: Peer): void {
    const a = addon();
    const info = this.fabric.endpointInfo(`${peer.ctx}-${++peer.attempts}`);
    const ep = new a.Endpoint(this.fabric.domain, info, 0n);
    peer.ep = ep;
    const av = new a.AddressVector(this.fabric.domain, 4);
    peer.av = av;
    ep.bind(av);
    ep.bind(this.cq, CQ_BIND_FLAGS);
    ep.enable();
    try {
      peer.fiAddr = av.insert(peer.info.fabricAddress);
    } catch (e) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', `the target address ${peer.info.printableAddress} was refused: ${(e as Error).message}`, { field: 'fabricAddress', cause: e });
    }
  }

  private peerFailed(peer: Peer, reason: string): void {
    const wasConnected = peer.state === 'connected';
    peer.ep?.close();
    peer.ep = undefined;
    peer.av?.close();
    peer.av = undefined;
    peer.inflight.clear();
    peer.queue = [];
    peer.errors++;
    peer.lastError = reason;
    peer.state = 'backoff';
    peer.retryAt = Date.now() + this.reconnectDelayMs;
    if (wasConnected) this.emit({ type: 'disconnected', target: peer.info.id, reason });
    else this.emit({ type: 'error', target: peer.info.id, error: new FabricsError('MXL_ERR_NOT_READY', `target ${peer.info.printableAddress}: ${reason}`) });
  }

  private dropPeer(peer: Peer, notify = true): void {
    peer.bounce?.mr.close();
    if (peer.ep) {
      if (peer.state === 'connected' && !peer.av) peer.ep.shutdown();
      peer.ep.close();
    }
    peer.av?.close();
    peer.state = 'closed';
    peer.inflight.clear();
    peer.queue = [];
    this.peers.delete(peer.info.id);
    this.byCtx.delete(peer.ctx);
    if (notify) this.emit({ type: 'disconnected', target: peer.info.id, reason: 'removed' });
  }

  /** Fails targets whose oldest in-flight write has waited longer than stallTimeoutMs. */
  private checkStalls(): void {
    const now = process.hrtime.bigint();
    for (const p of this.peers.values()) {
      if (p.state !== 'connected' || p.inflight.size === 0) continue;
      const oldest = p.inflight.values().next().value as InFlight;
      if (now - oldest.postNs > this.stallNs) {
        this.peerFailed(p, `no write completion for ${Number(this.stallNs / 1_000_000n)} ms: the target stopped responding (process gone or stalled)`);
      }
    }
  }

  private retryConnections(): void {
    const now = Date.now();
    for (const p of this.peers.values()) {
      if (p.state !== 'backoff' || now < p.retryAt) continue;
      if (this.eq) {
        try {
          this.connect(p);
        } catch (e) {
          this.peerFailed(p, `cannot create an endpoint: ${(e as Error).message}`);
        }
      } else {
        // RDM has no connection: a new endpoint, and try the same address again.
        try {
          this.openRdm(p);
        } catch (e) {
          this.peerFailed(p, `cannot create an endpoint: ${(e as Error).message}`);
          continue;
        }
        p.state = 'connected';
        this.emit({ type: 'connected', target: p.info.id });
      }
    }
  }

  private pollEvents(): void {
    const eq = this.eq;
    if (!eq) return;
    for (let ev = eq.read(); ev; ev = eq.read()) {
      if (ev.event === 'interrupted' || ev.event === 'connreq') continue;
      const peer = 'fidContext' in ev ? this.byCtx.get(ev.fidContext) : undefined;
      if (!peer) continue;
      if (ev.event === 'connected') {
        peer.state = 'connected';
        this.emit({ type: 'connected', target: peer.info.id });
      } else if (ev.event === 'shutdown') {
        this.peerFailed(peer, 'the target closed the connection');
      } else if (ev.event === 'error') {
        this.peerFailed(peer, `connection error: ${ev.text}`);
      }
    }
  }

  /** Queues the writes of one grain for a peer and posts as many as the provider takes now. */
  private postTo(peer: Peer, mr: NativeMemoryRegion, index: bigint, start: number, end: number): boolean {
    const remoteSlot = Number(index % BigInt(peer.info.regions.length));
    const region = peer.info.regions[remoteSlot];
    const writes = planGrainTransfer(this.layout, remoteSlot, start, end);
    const now = process.hrtime.bigint();
    for (let w = 0; w < writes.length; w++) {
      const wr = writes[w];
      peer.seq = (peer.seq + 1) >>> 0;
      peer.queue.push({
        seq: peer.seq, index, postNs: now, last: w === writes.length - 1, bytes: wr.length,
        segs: [[mr, wr.offset, wr.length]], remoteAddr: region.addr + BigInt(wr.offset), rkey: region.rkey, immediate: wr.immediate ?? -1,
      });
    }
    this.flush(peer);
    return peer.state === 'connected';
  }

  /** Posts queued writes in order until the provider says EAGAIN (kept for the next call). */
  private flush(peer: Peer): void {
    const ep = peer.ep;
    if (!ep) return;
    const dest = peer.av ? peer.fiAddr : addon().constants.FI_ADDR_UNSPEC;
    let i = 0;
    for (; i < peer.queue.length; i++) {
      const q = peer.queue[i];
      const rc = ep.write(q.segs, dest, q.remoteAddr, q.rkey, q.immediate, FI.DELIVERY_COMPLETE, (peer.ctx << 32n) | BigInt(q.seq));
      if (rc === EAGAIN) break;
      if (rc !== 0) {
        this.peerFailed(peer, `fi_writemsg failed (${rc})`);
        return;
      }
      peer.inflight.set(q.seq, q);
    }
    if (i > 0) peer.queue.splice(0, i);
  }

  private drain(timeoutMs: number): void {
    const recs = this.recs;
    const errBit = addon().constants.CQ_ERROR_BIT;
    for (;;) {
      let n: number;
      if (timeoutMs > 0 && this.fabric.cqWaitable) n = this.cq.sread(recs, BATCH, timeoutMs);
      else {
        n = this.cq.drain(recs, BATCH);
        if (n === 0 && timeoutMs > 0) {
          // Manual progress (shm, efa): poll with short pauses instead of sleeping in the CQ.
          const end = performance.now() + timeoutMs;
          while (n === 0 && performance.now() < end) {
            this.ladder.pause();
            n = this.cq.drain(recs, BATCH);
          }
          if (n > 0) this.ladder.activity();
        }
      }
      timeoutMs = 0;
      if (n <= 0) return;
      const doneNs = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const o = i * REC_WORDS;
        const ctx = recs[o];
        const peer = this.byCtx.get(ctx >> 32n);
        if (!peer) continue; // a removed target's late completion
        const seq = Number(ctx & 0xffffffffn);
        const f = peer.inflight.get(seq);
        peer.inflight.delete(seq);
        if (recs[o + 1] & errBit) {
          this.peerFailed(peer, `write failed: fi errno ${recs[o + 2]}`);
          continue;
        }
        if (f) {
          peer.bytes += f.bytes;
          if (f.last) {
            peer.grains++;
            if (this.ring) {
              const slot = Number(f.index % BigInt(this.headers.length));
              if (this.headers[slot].index !== f.index) {
                this.overruns++;
                this.emit({ type: 'overrun', target: peer.info.id, index: f.index });
              }
            }
            this.emit({ type: 'completed', target: peer.info.id, index: f.index, latencyNs: doneNs - f.postNs, count: f.count });
          }
        }
      }
      if (n < BATCH) return;
    }
  }
}
