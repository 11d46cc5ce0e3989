/**
 * An initiator: writes grains (or sample windows) from a local ring straight into the
 * memory of every added target (docs/protocol.md §4.3, §5.2, §5.3). This facade joins a connection
 * layer (connection/msg-connector.ts or rdm-connector.ts), a media protocol
 * (media/grain-sender.ts or sample-sender.ts), the peers (engine/peer.ts) and the one
 * completion reader.
 *
 * Fan-out isolates failures: each target has its own state, a refused, stalled or vanished
 * target is reported on that target only, and transfers to the others go on. Error
 * completions release their in-flight slot, and a failed target is retried with a back-off.
 */
import { FabricsError } from '../errors.js';
import { addon } from '../native/index.js';
import type { NativeCompletionQueue } from '../native/fabric.js';
import type { Connector } from './connection/connector.js';
import { MsgConnector } from './connection/msg-connector.js';
import { RdmConnector } from './connection/rdm-connector.js';
import { BATCH, CompletionReader } from './engine/completion-reader.js';
import { Liveness } from './engine/liveness.js';
import { type FollowHandler, type FollowSource, NativeFollow } from './engine/native-follow.js';
import type { Peer, PeerStatus } from './engine/peer.js';
import { type InitiatorEvent, Sessions, checkDistinctRegions, writeFailed } from './engine/sessions.js';
import { type EndpointOptions, type OpenedFabric, bindError, openFabric } from './fabric-setup.js';
import { GrainSender } from './media/grain-sender.js';
import { GRAIN_HEADER_SIZE } from './grain-protocol.js';
import { ENTRY_HEADER_SIZE } from './sample-protocol.js';
import { SampleSender } from './media/sample-sender.js';
import type { GrainRing } from './grain-ring.js';
import type { SampleRing } from './sample-ring.js';
import { FI } from './provider-config.js';
import type { TargetInfo } from './target-info.js';

export type { PeerState, PeerStatus } from './engine/peer.js';
export type { InitiatorEvent } from './engine/sessions.js';
export type { FollowHandler, FollowSource } from './engine/native-follow.js';

export interface InitiatorOptions extends EndpointOptions {
  /** Grains: the local ring to send from (give this or `samples`). */
  ring?: GrainRing;
  /** Audio: the local channels ring to send from (docs/protocol.md §4.7). */
  samples?: SampleRing;
  /**
   * Completion queue depth (default max(256, 4 × (maxInFlight + 8))). Writes posted to all
   * targets together never exceed it: the rest wait in their queues, so the CQ cannot
   * overrun however many targets are added.
   */
  cqDepth?: number;
  /** Delay before reconnecting a dropped MSG target (default 1000 ms; upstream 5 s). */
  reconnectDelayMs?: number;
  /** Writes in flight per target before transfers to it are skipped (default 64). */
  maxInFlight?: number;
  /**
   * A target whose oldest write (or liveness probe) has had no completion for this long is
   * down (default 1750 ms). RDM providers (shm, efa) never tell that a peer vanished:
   * without this its writes would stay in flight forever.
   */
  stallTimeoutMs?: number;
  /** An idle connected target gets a zero-byte probe write this often (default 250 ms). */
  probeIntervalMs?: number;
  /** A target still not connected (MSG) or not answering (RDM) after this long fails (default 5000 ms). */
  connectTimeoutMs?: number;
  /**
   * Grains: publish a grain at a target only if its local slot still held it when its
   * payload write completed (default true). The payload and header go without the
   * immediate; a small commit write of the header carries it once the check passed, and a
   * grain whose slot was reopened meanwhile is committed as INVALID (`torn` event). false
   * is upstream's one write with the immediate: a reopened slot is then only reported
   * (`overrun`), and the target may publish a mix of two grains.
   */
  protectTorn?: boolean;
}

export interface TransferResult {
  /** Targets the grain was posted to. */
  posted: number;
  /** Targets skipped: not connected yet, backing off, or too many writes in flight. */
  skipped: number;
}

const PASSING_EVENTS: ReadonlySet<InitiatorEvent['type']> = new Set(['completed', 'overrun', 'torn', 'deferred', 'sessionStarted', 'sessionEnded']);

export class Initiator {
  readonly fabric: OpenedFabric;
  private readonly media: GrainSender | SampleSender;
  private readonly cq: NativeCompletionQueue;
  private readonly reader: CompletionReader;
  private readonly connector: Connector;
  private readonly liveness: Liveness;
  private readonly sessions: Sessions;
  private readonly events: InitiatorEvent[] = [];
  private readonly maxInFlight: number;
  private readonly local: { node?: string; service?: string };
  private closed = false;
  private native?: NativeFollow;
  private followHandler?: FollowHandler;
  private readonly cqDepth: number = 0;
  private readonly stallTimeoutMs: number;
  private readonly protectTorn: boolean;
  /** Called for each event as it happens (events are also queued for takeEvents()). */
  onEvent?: (e: InitiatorEvent) => void;

  constructor(opts: InitiatorOptions) {
    if ((!opts.ring || opts.ring.slots.length === 0) && !opts.samples) throw new FabricsError('MXL_ERR_INVALID_ARG', 'an initiator needs a grain ring or a sample ring (a flow reader or user buffers)', { field: 'ring' });
    if (opts.ring && opts.samples) throw new FabricsError('MXL_ERR_INVALID_ARG', 'give an initiator either grains (ring) or samples, not both', { field: 'samples' });
    this.local = { node: opts.node, service: opts.service };
    this.maxInFlight = opts.maxInFlight ?? 64;
    const ms = (field: 'stallTimeoutMs' | 'probeIntervalMs' | 'connectTimeoutMs', dflt: number): number => {
      const v = opts[field] ?? dflt;
      if (!Number.isFinite(v) || v <= 0) throw new FabricsError('MXL_ERR_INVALID_ARG', `${field} must be a positive number of milliseconds, got ${v}`, { field });
      return v;
    };
    this.protectTorn = opts.protectTorn ?? true;
    const live = { stallTimeoutMs: ms('stallTimeoutMs', 1750), probeIntervalMs: ms('probeIntervalMs', 250), connectTimeoutMs: ms('connectTimeoutMs', 5000) };
    this.stallTimeoutMs = live.stallTimeoutMs;
    const a = addon();
    const f = openFabric(opts, 'initiator');
    this.fabric = f;
    try {
      this.media = opts.ring ? new GrainSender(f, opts.ring, opts.protectTorn ?? true) : new SampleSender(f, opts.samples!);
      const cqDepth = opts.cqDepth ?? Math.max(256, 4 * (this.maxInFlight + 8));
      if (!Number.isInteger(cqDepth) || cqDepth < 1) throw new FabricsError('MXL_ERR_INVALID_ARG', `cqDepth must be an integer >= 1, got ${cqDepth}`, { field: 'cqDepth' });
      this.cq = new a.CompletionQueue(f.domain, cqDepth, true);
      this.cqDepth = cqDepth;
      this.reader = new CompletionReader(this.cq, f.cqWaitable);
      this.connector = f.config.epType === FI.EP_MSG ? new MsgConnector(f, this.cq) : new RdmConnector(f, this.cq);
      this.liveness = new Liveness(f.domain, live, this.media.kind === 'grains' ? GRAIN_HEADER_SIZE - 1 : ENTRY_HEADER_SIZE - 1);
      this.sessions = new Sessions(this.connector, this.media, this.liveness, { reconnectDelayMs: opts.reconnectDelayMs ?? 1000, cqDepth }, (e) => this.emit(e));
    } catch (e) {
      this.release();
      throw e;
    }
  }

  get targets(): PeerStatus[] {
    return [...this.sessions.peers.values()].map((p) => {
      const s = p.status();
      if (this.native) s.inFlight += this.native.inFlight(p); // the native loop's writes to it
      return s;
    });
  }
  /** Grains whose local slot was overwritten before their transfer completed (protection off). */
  get overruns(): number { return this.sessions.overruns; }
  /** Grains not published at a target because their local slot was reopened in flight (protection on). */
  get tornPrevented(): number { return this.sessions.tornPrevented; }
  get grainCount(): number { return this.media instanceof GrainSender ? this.media.slotCount : 0; }
  get kind(): 'grains' | 'samples' { return this.media.kind; }

  /** Audio: the most samples per channel one transfer can carry to every added target. */
  maxSamplesPerTransfer(): number {
    return this.media instanceof SampleSender ? this.media.maxSamples(this.sessions.peers.values()) : 0;
  }

  /** Adds a target; MSG connects in the background (see makeProgress), RDM is ready at once. */
  addTarget(info: TargetInfo): void {
    this.checkOpen();
    if (info.provider !== this.fabric.providerName) this.checkInfo(info);
    if (this.sessions.peers.has(info.id)) throw new FabricsError('MXL_ERR_EXISTS', `target ${info.id} was already added`, { field: 'id' });
    this.checkInfo(info);
    try {
      this.sessions.add(info);
    } catch (e) {
      // Not added after all (e.g. the local node is no interface address of this host).
      if (e instanceof FabricsError && e.field === 'fabricAddress') throw e;
      throw bindError(e, this.local);
    }
  }

  /** What addTarget and replaceTarget check in a TargetInfo. */
  private checkInfo(info: TargetInfo): void {
    if (info.provider !== this.fabric.providerName) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', `TargetInfo is for provider ${info.provider}, this initiator uses ${this.fabric.providerName}`, { field: 'provider' });
    }
    checkDistinctRegions(info);
    this.media.check(info);
  }

  /** Removes a target (matched by id); its writes still in flight are forgotten. */
  removeTarget(info: TargetInfo | bigint): void {
    const id = typeof info === 'bigint' ? info : info.id;
    const peer = this.sessions.peers.get(id);
    if (!peer) throw new FabricsError('MXL_ERR_NOT_FOUND', `target ${id} was not added`, { field: 'id' });
    this.sessions.remove(peer, true);
  }

  /**
   * Swaps the TargetInfo of target `id` for `info` (the target restarted: new address, keys
   * or id) and opens a new session to it: writes in flight are forgotten, counters are kept,
   * the epoch moves on, and `resumed` follows once the new session is connected. The new
   * TargetInfo is checked like addTarget's (MXL_ERR_INVALID_ARG); an unknown id is
   * MXL_ERR_NOT_FOUND, a new id that another target has is MXL_ERR_EXISTS.
   */
  replaceTarget(id: bigint, info: TargetInfo): void {
    this.checkOpen();
    const peer = this.sessions.peers.get(id);
    if (!peer) throw new FabricsError('MXL_ERR_NOT_FOUND', `target ${id} was not added`, { field: 'id' });
    if (info.id !== id && this.sessions.peers.has(info.id)) throw new FabricsError('MXL_ERR_EXISTS', `target ${info.id} was already added`, { field: 'id' });
    this.checkInfo(info);
    this.sessions.replace(peer, info);
  }

  /**
   * Posts slices [startSlice, endSlice) of grain `index` to every connected target. The
   * local slot must still hold that grain (else MXL_ERR_OUT_OF_RANGE_TOO_LATE).
   */
  transferGrain(index: bigint, startSlice = 0, endSlice?: number): TransferResult {
    this.checkOpen();
    const m = this.media;
    if (!(m instanceof GrainSender)) throw new FabricsError('MXL_ERR_INVALID_STATE', 'this initiator sends samples: use transferSamples()');
    const end = endSlice ?? m.layout.totalSlices;
    // Validate before posting anything, so a bad call never reaches some targets only.
    const localSlot = m.validate(index, startSlice, end);
    return this.fanOut((peer) => m.queue(peer, index, localSlot, startSlice, end));
  }

  /**
   * Audio: posts window (end, count) of the local ring (samples end-count .. end-1 of every
   * channel) to every connected target, or only to the targets whose ids are in `to`,
   * through its bounce buffer (docs/protocol.md §4.7).
   */
  transferSamples(end: bigint, count: number, to?: ReadonlySet<bigint> | readonly bigint[]): TransferResult {
    this.checkOpen();
    const m = this.media;
    if (!(m instanceof SampleSender)) throw new FabricsError('MXL_ERR_INVALID_STATE', 'this initiator sends grains: use transferGrain()');
    if (typeof end !== 'bigint' || end < 0n) throw new FabricsError('MXL_ERR_INVALID_ARG', `head index must be a non-negative bigint, got ${String(end)}`, { field: 'index' });
    if (!Number.isInteger(count) || count < 1) throw new FabricsError('MXL_ERR_INVALID_ARG', `sample count must be >= 1, got ${count}`, { field: 'count' });
    if (end < BigInt(count)) throw new FabricsError('MXL_ERR_INVALID_ARG', `window ends at ${end}, before its ${count} samples`, { field: 'index' });
    const max = this.maxSamplesPerTransfer();
    if (count > max) throw new FabricsError('MXL_ERR_INVALID_ARG', `${count} samples do not fit: at most ${max} per transfer (the targets' bounce entries and half the local ring)`, { field: 'count' });
    const ranges = m.ranges(end, count);
    const only = to === undefined ? undefined : to instanceof Set ? to : new Set(to);
    return this.fanOut((peer) => m.queue(peer, end, count, ranges), only);
  }

  /**
   * Drives connections and completions. Returns true when every connected target has no
   * write in flight (upstream's OK), false otherwise (NOT_READY). With timeoutMs > 0 it
   * waits for completions up to that long, returning early once idle.
   */
  makeProgress(timeoutMs = 0): boolean {
    this.checkOpen();
    const deadline = Date.now() + timeoutMs;
    if (this.native) {
      // The native loop reads the completion queue: progress goes through it.
      for (;;) {
        this.followNative(Math.max(0, Math.min(deadline - Date.now(), 10)));
        if (this.idle() || Date.now() >= deadline) return this.idle();
      }
    }
    const msg = this.connector instanceof MsgConnector;
    for (;;) {
      this.sessions.progress();
      this.drain(0);
      this.sessions.flushAll();
      this.sessions.checkLiveness();
      const idle = this.idle();
      const left = deadline - Date.now();
      if (idle || left <= 0) return idle;
      // Short waits: connection events (MSG) and liveness checks run between them.
      this.drain(Math.min(left, msg ? 10 : 100));
    }
  }

  /** Ids of the targets that are connected now. */
  connectedTargetIds(): bigint[] {
    const ids: bigint[] = [];
    for (const p of this.sessions.peers.values()) if (p.state === 'connected') ids.push(p.id);
    return ids;
  }

  /** Whether target `id` is connected and below its in-flight bound: a transfer queued now reaches it. */
  accepts(id: bigint): boolean {
    const p = this.sessions.peers.get(id);
    return p !== undefined && p.state === 'connected' && p.accepts(this.maxInFlight);
  }

  /** True when no transfer is in flight (liveness probes aside) and no target is still connecting. */
  idle(): boolean {
    if (this.native && this.native.inFlight() > 0) return false;
    for (const p of this.sessions.peers.values()) if (p.writes.transfers > 0 || p.state === 'connecting') return false;
    return true;
  }

  /**
   * Hands follow mode to the addon (docs/native.md, "The native follow loop"): from now on
   * followNative() forwards every grain (or, audio, every run of samples) committed to
   * `src.flowData`'s flow, the flow this initiator's ring was built from. False (nothing
   * changed) for RDM providers (shm, efa), and for audio over a provider that cannot send
   * two segments in one write; they keep the JavaScript path.
   */
  startNativeFollow(src: FollowSource, handler: FollowHandler): boolean {
    this.checkOpen();
    const m = this.media;
    // RDM providers (shm, efa) stay on the JavaScript path: with shm lanes a worker process
    // crashed (SIGSEGV) now and then in CI, not explained (docs/native.md).
    if (!(this.connector instanceof MsgConnector)) return false;
    const opts = { protectTorn: this.protectTorn, maxInFlight: this.maxInFlight, cqDepth: this.cqDepth, stallTimeoutMs: this.stallTimeoutMs, sread: this.fabric.cqWaitable };
    if (m instanceof GrainSender) this.native ??= new NativeFollow(this.cq, { kind: 'grains', slotMrs: m.regions, layout: m.layout }, src, opts, BATCH, this.sessions);
    else if ((this.fabric.info.txIovLimit ?? 4) >= 2) this.native ??= new NativeFollow(this.cq, { kind: 'samples', ring: m.ring }, src, opts, BATCH, this.sessions);
    else return false;
    this.followHandler = handler;
    return true;
  }

  /**
   * Native follow mode: one pass of connection events and retries, then the native loop
   * until there is something for JavaScript (up to timeoutMs, blocking per the worker's
   * poll mode), then its records and any other completion. Returns the records handled.
   * `doorbellSeen`: the control block's doorbell value the caller handled last; a ring
   * after it ends the native call (default: the value when the call starts).
   */
  followNative(timeoutMs: number, spinNs = 0, doorbellSeen?: number): number {
    this.checkOpen();
    const nf = this.native;
    if (!nf) throw new FabricsError('MXL_ERR_INVALID_STATE', 'native follow mode was not started (startNativeFollow)');
    this.sessions.progress();
    this.sessions.flushAll();
    let jsBusy = false;
    let connecting = false;
    for (const p of this.sessions.peers.values()) {
      if (p.writes.size > 0) jsBusy = true;
      if (p.state === 'connecting') connecting = true;
    }
    // MSG connection events are read here, between calls: wait no longer than a connect needs.
    const [foreign, records] = nf.run(connecting ? Math.min(timeoutMs, 10) : timeoutMs, spinNs, jsBusy, this.followHandler!, doorbellSeen);
    if (foreign > 0) {
      const doneNs = process.hrtime.bigint();
      const f = nf.foreign;
      for (let i = 0; i < foreign; i++) this.completion(f[4 * i], f[4 * i + 1], f[4 * i + 2], doneNs);
    }
    this.sessions.flushAll();
    this.sessions.checkLiveness();
    return foreign + records;
  }

  takeEvents(): InitiatorEvent[] { return this.events.splice(0); }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.sessions.peers.values()]) this.sessions.remove(p, false);
    this.release();
  }

  // -------------------------------------------------------------------- internals

  private checkOpen(): void {
    if (this.closed) throw new FabricsError('MXL_ERR_INVALID_STATE', 'initiator is closed');
  }

  private release(): void {
    this.native?.close(); // first: its lanes hold the endpoints
    this.connector?.close();
    this.liveness?.close();
    this.cq?.close();
    this.media?.close();
    this.fabric?.domain.close();
    this.fabric?.fabric.close();
  }

  /** Queues one transfer on every peer (in `only`, when given) that takes it, and posts what the provider takes now. */
  private fanOut(queue: (peer: Peer) => boolean, only?: ReadonlySet<bigint>): TransferResult {
    let posted = 0;
    let skipped = 0;
    for (const peer of this.sessions.peers.values()) {
      if (only && !only.has(peer.id)) continue;
      if (!peer.accepts(this.maxInFlight) || (this.media.kind === 'samples' && !peer.bounce)) {
        peer.skipped++;
        skipped++;
        continue;
      }
      if (!queue(peer)) {
        peer.skipped++;
        skipped++;
        continue;
      }
      this.sessions.flush(peer);
      if (peer.state === 'connected') posted++;
      else skipped++;
    }
    return { posted, skipped };
  }

  private emit(e: InitiatorEvent): void {
    // Per-grain and counting-only events go to onEvent alone, not the takeEvents() queue.
    if (!PASSING_EVENTS.has(e.type)) this.events.push(e);
    this.onEvent?.(e);
  }

  private drain(timeoutMs: number): void {
    const r = this.reader;
    for (;;) {
      const n = r.read(BATCH, timeoutMs);
      timeoutMs = 0;
      if (n <= 0) return;
      const doneNs = process.hrtime.bigint();
      for (let i = 0; i < n; i++) this.completion(r.context(i), r.flags(i), r.data(i), doneNs);
      if (n < BATCH) return;
    }
  }

  /** One completion of a write JavaScript posted (or a late one of a peer gone since). */
  private completion(ctx: bigint, flags: bigint, data: bigint, doneNs: bigint): void {
    const peer = this.sessions.byContext(ctx >> 32n);
    if (!peer) return; // a removed target's late completion
    const w = peer.writes.take(Number(ctx & 0xffffffffn));
    if (!w) return; // a write of a session that failed or was replaced
    if (flags & addon().constants.CQ_ERROR_BIT) {
      this.media.abandoned(peer, [w]);
      this.sessions.fail(peer, writeFailed(data));
      return;
    }
    this.sessions.written(peer, w, doneNs);
  }

}

