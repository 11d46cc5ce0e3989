/**
 * An initiator: writes grains (or sample windows) from a local ring straight into the
 * memory of every added target (protocol §4.3, §5.2, §5.3). This facade joins a connection
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
import type { Connector, OpenResult } from './connection/connector.js';
import { MsgConnector } from './connection/msg-connector.js';
import { RdmConnector } from './connection/rdm-connector.js';
import { BATCH, CompletionReader } from './engine/completion-reader.js';
import { Liveness } from './engine/liveness.js';
import { Peer, type PeerStatus } from './engine/peer.js';
import type { Write } from './engine/write-queue.js';
import { type EndpointOptions, type OpenedFabric, bindError, openFabric } from './fabric-setup.js';
import { GrainSender } from './media/grain-sender.js';
import { GRAIN_HEADER_SIZE } from './grain-protocol.js';
import { SampleSender } from './media/sample-sender.js';
import type { GrainRing } from './grain-ring.js';
import type { SampleRing } from './sample-ring.js';
import { FI } from './provider-config.js';
import type { TargetInfo } from './target-info.js';

export type { PeerState, PeerStatus } from './engine/peer.js';

export interface InitiatorOptions extends EndpointOptions {
  /** Grains: the local ring to send from (give this or `samples`). */
  ring?: GrainRing;
  /** Audio: the local channels ring to send from (protocol §4.7). */
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

export type InitiatorEvent =
  | { type: 'connected'; target: bigint }
  | { type: 'disconnected'; target: bigint; reason: string }
  | { type: 'error'; target: bigint; error: FabricsError }
  /** A grain's last write completed at this target (delivery complete). */
  | { type: 'completed'; target: bigint; index: bigint; latencyNs: bigint; /** audio: samples in the window */ count?: number }
  /**
   * The local slot was reopened for a newer grain before this grain's writes completed:
   * what the target got may mix the two (torn protection off).
   */
  | { type: 'overrun'; target: bigint; index: bigint }
  /**
   * Torn protection: the local slot was reopened before this grain's payload write
   * completed, so the target was told the grain is INVALID instead of publishing a mix.
   */
  | { type: 'torn'; target: bigint; index: bigint }
  /**
   * replaceTarget: the new session is connected. `target` is the new TargetInfo's id,
   * `previous` the one it replaced; downtimeMs runs from the old session's last completion
   * (its target's last sign of life) to now.
   */
  | { type: 'resumed'; target: bigint; previous: bigint; epoch: number; downtimeMs: number };

export interface TransferResult {
  /** Targets the grain was posted to. */
  posted: number;
  /** Targets skipped: not connected yet, backing off, or too many writes in flight. */
  skipped: number;
}

export class Initiator {
  readonly fabric: OpenedFabric;
  private readonly media: GrainSender | SampleSender;
  private readonly cq: NativeCompletionQueue;
  private readonly reader: CompletionReader;
  private readonly connector: Connector;
  private readonly peers = new Map<bigint, Peer>();
  private readonly byCtx = new Map<bigint, Peer>();
  private readonly events: InitiatorEvent[] = [];
  private readonly reconnectDelayMs: number;
  private readonly maxInFlight: number;
  private readonly cqDepth: number;
  private readonly liveness: Liveness;
  private readonly local: { node?: string; service?: string };
  private nextCtx = 1n;
  private closed = false;
  /** Grains whose local slot was overwritten before their transfer completed (protection off). */
  overruns = 0;
  /** Grains not published at a target because their local slot was reopened in flight (protection on). */
  tornPrevented = 0;
  /** Called for each event as it happens (events are also queued for takeEvents()). */
  onEvent?: (e: InitiatorEvent) => void;

  constructor(opts: InitiatorOptions) {
    if ((!opts.ring || opts.ring.slots.length === 0) && !opts.samples) throw new FabricsError('MXL_ERR_INVALID_ARG', 'an initiator needs a grain ring or a sample ring (a flow reader or user buffers)', { field: 'ring' });
    if (opts.ring && opts.samples) throw new FabricsError('MXL_ERR_INVALID_ARG', 'give an initiator either grains (ring) or samples, not both', { field: 'samples' });
    this.reconnectDelayMs = opts.reconnectDelayMs ?? 1000;
    this.local = { node: opts.node, service: opts.service };
    this.maxInFlight = opts.maxInFlight ?? 64;
    const ms = (field: 'stallTimeoutMs' | 'probeIntervalMs' | 'connectTimeoutMs', dflt: number): number => {
      const v = opts[field] ?? dflt;
      if (!Number.isFinite(v) || v <= 0) throw new FabricsError('MXL_ERR_INVALID_ARG', `${field} must be a positive number of milliseconds, got ${v}`, { field });
      return v;
    };
    const live = { stallTimeoutMs: ms('stallTimeoutMs', 1750), probeIntervalMs: ms('probeIntervalMs', 250), connectTimeoutMs: ms('connectTimeoutMs', 5000) };
    const a = addon();
    const f = openFabric(opts, 'initiator');
    this.fabric = f;
    try {
      this.media = opts.ring ? new GrainSender(f, opts.ring, opts.protectTorn ?? true) : new SampleSender(f, opts.samples!);
      this.cqDepth = opts.cqDepth ?? Math.max(256, 4 * (this.maxInFlight + 8));
      if (!Number.isInteger(this.cqDepth) || this.cqDepth < 1) throw new FabricsError('MXL_ERR_INVALID_ARG', `cqDepth must be an integer >= 1, got ${this.cqDepth}`, { field: 'cqDepth' });
      this.cq = new a.CompletionQueue(f.domain, this.cqDepth, true);
      this.reader = new CompletionReader(this.cq, f.cqWaitable);
      this.connector = f.config.epType === FI.EP_MSG ? new MsgConnector(f, this.cq) : new RdmConnector(f, this.cq);
      this.liveness = new Liveness(f.domain, live, this.media.kind === 'grains' ? GRAIN_HEADER_SIZE - 1 : undefined);
    } catch (e) {
      this.release();
      throw e;
    }
  }

  get targets(): PeerStatus[] { return [...this.peers.values()].map((p) => p.status()); }
  get grainCount(): number { return this.media instanceof GrainSender ? this.media.slotCount : 0; }
  get kind(): 'grains' | 'samples' { return this.media.kind; }

  /** Audio: the most samples per channel one transfer can carry to every added target. */
  maxSamplesPerTransfer(): number {
    return this.media instanceof SampleSender ? this.media.maxSamples(this.peers.values()) : 0;
  }

  /** Adds a target; MSG connects in the background (see makeProgress), RDM is ready at once. */
  addTarget(info: TargetInfo): void {
    this.checkOpen();
    if (info.provider !== this.fabric.providerName) this.checkInfo(info);
    if (this.peers.has(info.id)) throw new FabricsError('MXL_ERR_EXISTS', `target ${info.id} was already added`, { field: 'id' });
    this.checkInfo(info);
    const peer = new Peer(info, this.nextCtx++);
    let opened;
    try {
      this.media.attach(peer);
      opened = this.connector.open(peer);
    } catch (e) {
      // Not added after all (e.g. the local node is no interface address of this host).
      peer.close('closed');
      if (e instanceof FabricsError && e.field === 'fabricAddress') throw e;
      throw bindError(e, this.local);
    }
    this.peers.set(info.id, peer);
    this.byCtx.set(peer.ctx, peer);
    this.opened(peer, opened);
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
    const peer = this.peers.get(id);
    if (!peer) throw new FabricsError('MXL_ERR_NOT_FOUND', `target ${id} was not added`, { field: 'id' });
    this.remove(peer, true);
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
    const peer = this.peers.get(id);
    if (!peer) throw new FabricsError('MXL_ERR_NOT_FOUND', `target ${id} was not added`, { field: 'id' });
    if (info.id !== id && this.peers.has(info.id)) throw new FabricsError('MXL_ERR_EXISTS', `target ${info.id} was already added`, { field: 'id' });
    this.checkInfo(info);
    this.media.abandoned(peer, peer.replace(info));
    this.peers.delete(id);
    this.peers.set(info.id, peer);
    try {
      this.media.attach(peer);
      this.opened(peer, this.connector.open(peer));
    } catch (e) {
      this.fail(peer, `cannot open the new session: ${(e as Error).message}`);
    }
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
   * channel) to every connected target, through its bounce buffer (protocol §4.7).
   */
  transferSamples(end: bigint, count: number): TransferResult {
    this.checkOpen();
    const m = this.media;
    if (!(m instanceof SampleSender)) throw new FabricsError('MXL_ERR_INVALID_STATE', 'this initiator sends grains: use transferGrain()');
    if (typeof end !== 'bigint' || end < 0n) throw new FabricsError('MXL_ERR_INVALID_ARG', `head index must be a non-negative bigint, got ${String(end)}`, { field: 'index' });
    if (!Number.isInteger(count) || count < 1) throw new FabricsError('MXL_ERR_INVALID_ARG', `sample count must be >= 1, got ${count}`, { field: 'count' });
    if (end < BigInt(count)) throw new FabricsError('MXL_ERR_INVALID_ARG', `window ends at ${end}, before its ${count} samples`, { field: 'index' });
    const max = this.maxSamplesPerTransfer();
    if (count > max) throw new FabricsError('MXL_ERR_INVALID_ARG', `${count} samples do not fit: at most ${max} per transfer (the targets' bounce entries and half the local ring)`, { field: 'count' });
    const ranges = m.ranges(end, count);
    return this.fanOut((peer) => m.queue(peer, end, count, ranges));
  }

  /**
   * Drives connections and completions. Returns true when every connected target has no
   * write in flight (upstream's OK), false otherwise (NOT_READY). With timeoutMs > 0 it
   * waits for completions up to that long, returning early once idle.
   */
  makeProgress(timeoutMs = 0): boolean {
    this.checkOpen();
    const deadline = Date.now() + timeoutMs;
    const msg = this.connector instanceof MsgConnector;
    for (;;) {
      this.connector.poll((ctx) => this.byCtx.get(ctx), { connected: (p) => this.connected(p), failed: (p, r) => this.fail(p, r) });
      this.retryConnections();
      this.drain(0);
      for (const p of this.peers.values()) if (p.writes.queued > 0) this.flush(p);
      this.checkLiveness();
      const idle = this.idle();
      const left = deadline - Date.now();
      if (idle || left <= 0) return idle;
      this.drain(Math.min(left, msg ? 10 : left));
    }
  }

  /** True when nothing is in flight and no target is still connecting. */
  idle(): boolean {
    for (const p of this.peers.values()) if (p.writes.size > 0 || p.state === 'connecting') return false;
    return true;
  }

  takeEvents(): InitiatorEvent[] { return this.events.splice(0); }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of [...this.peers.values()]) this.remove(p, false);
    this.release();
  }

  // -------------------------------------------------------------------- internals

  private checkOpen(): void {
    if (this.closed) throw new FabricsError('MXL_ERR_INVALID_STATE', 'initiator is closed');
  }

  private release(): void {
    this.connector?.close();
    this.liveness?.close();
    this.cq?.close();
    this.media?.close();
    this.fabric?.domain.close();
    this.fabric?.fabric.close();
  }

  private emit(e: InitiatorEvent): void {
    if (e.type !== 'completed' && e.type !== 'overrun' && e.type !== 'torn') this.events.push(e);
    this.onEvent?.(e);
  }

  /** Queues one transfer on every peer that takes it, and posts what the provider takes now. */
  private fanOut(queue: (peer: Peer) => boolean): TransferResult {
    let posted = 0;
    let skipped = 0;
    for (const peer of this.peers.values()) {
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
      this.flush(peer);
      if (peer.state === 'connected') posted++;
      else skipped++;
    }
    return { posted, skipped };
  }

  /** An endpoint was opened: MSG waits for its connection, RDM for the first probe to complete. */
  private opened(peer: Peer, opened: OpenResult): void {
    peer.openedAtNs = process.hrtime.bigint();
    if (opened === 'ready') {
      if (this.liveness.probeOffset === undefined) return this.connected(peer);
      peer.state = 'connecting';
      this.liveness.probe(peer);
      this.flush(peer);
    } else if (opened !== 'connecting') this.fail(peer, opened.failed);
  }

  private connected(peer: Peer): void {
    peer.state = 'connected';
    peer.probedAtNs = process.hrtime.bigint();
    this.emit({ type: 'connected', target: peer.id });
    if (peer.resumeFrom !== undefined) {
      this.emit({ type: 'resumed', target: peer.id, previous: peer.resumeFrom, epoch: peer.epoch, downtimeMs: Date.now() - peer.downSinceMs });
      peer.resumeFrom = undefined;
    }
    peer.downSinceMs = 0;
  }

  /** A failure: tear the connection down and retry after the back-off. */
  private fail(peer: Peer, reason: string): void {
    const was = peer.state;
    this.media.abandoned(peer, peer.close(was === 'connected' ? 'down' : 'backoff', { reason, retryAt: Date.now() + this.reconnectDelayMs }));
    if (was === 'connected') this.emit({ type: 'disconnected', target: peer.id, reason });
    else this.emit({ type: 'error', target: peer.id, error: new FabricsError('MXL_ERR_NOT_READY', `target ${peer.info.printableAddress}: ${reason}`) });
  }

  private remove(peer: Peer, notify: boolean): void {
    this.media.abandoned(peer, peer.close('closed', { graceful: true }));
    this.peers.delete(peer.id);
    this.byCtx.delete(peer.ctx);
    if (notify) this.emit({ type: 'disconnected', target: peer.id, reason: 'removed' });
  }

  /** Fails peers that stopped answering or never connected; probes idle ones. */
  private checkLiveness(): void {
    const now = process.hrtime.bigint();
    for (const p of this.peers.values()) {
      if (p.state !== 'connected' && p.state !== 'connecting') continue;
      const why = this.liveness.verdict(p, now);
      if (why) this.fail(p, why);
      else if (this.liveness.due(p, now)) {
        this.liveness.probe(p, now);
        this.flush(p);
      }
    }
  }

  private retryConnections(): void {
    const now = Date.now();
    for (const p of this.peers.values()) {
      if ((p.state !== 'backoff' && p.state !== 'down') || now < p.retryAt) continue;
      let opened;
      try {
        opened = this.connector.open(p);
      } catch (e) {
        this.fail(p, `cannot create an endpoint: ${(e as Error).message}`);
        continue;
      }
      this.opened(p, opened);
    }
  }

  /** Posts the peer's queued writes; a refused post fails the peer. */
  private flush(peer: Peer): void {
    if (!peer.ep) return;
    let posted = 0;
    for (const p of this.peers.values()) posted += p.writes.inFlight;
    const rc = peer.writes.flush(peer.ep, this.connector.dest(peer), peer.ctx, this.cqDepth - posted);
    if (rc !== 0) this.fail(peer, `fi_writemsg failed (${rc})`);
  }

  private drain(timeoutMs: number): void {
    const r = this.reader;
    const errBit = addon().constants.CQ_ERROR_BIT;
    for (;;) {
      const n = r.read(BATCH, timeoutMs);
      timeoutMs = 0;
      if (n <= 0) return;
      const doneNs = process.hrtime.bigint();
      for (let i = 0; i < n; i++) {
        const ctx = r.context(i);
        const peer = this.byCtx.get(ctx >> 32n);
        if (!peer) continue; // a removed target's late completion
        const w = peer.writes.take(Number(ctx & 0xffffffffn));
        if (!w) continue; // a write of a session that failed or was replaced
        if (r.flags(i) & errBit) {
          this.media.abandoned(peer, [w]);
          this.fail(peer, `write failed: fi errno ${r.data(i)}`);
          continue;
        }
        this.written(peer, w, doneNs);
      }
      if (n < BATCH) return;
    }
  }

  /** One write completed at `peer`. */
  private written(peer: Peer, w: Write, doneNs: bigint): void {
    peer.lastAnswerMs = Date.now();
    if (peer.state === 'connecting') this.connected(peer); // RDM: the target answered
    if (w.probe) return;
    peer.bytes += w.bytes;
    const outcome = this.media.completed(peer, w);
    if (outcome === 'partial') {
      if (peer.writes.queued > 0) this.flush(peer);
      return;
    }
    if (outcome === 'torn') {
      this.tornPrevented++;
      peer.tornPrevented++;
      this.emit({ type: 'torn', target: peer.id, index: w.index });
      this.flush(peer);
      return;
    }
    peer.grains++;
    if (outcome === 'overrun') {
      this.overruns++;
      this.emit({ type: 'overrun', target: peer.id, index: w.index });
    }
    this.emit({ type: 'completed', target: peer.id, index: w.index, latencyNs: doneNs - w.postNs, count: w.count });
  }
}

/**
 * Two regions naming the same remote memory (address and key) would make grains of one
 * slot land in another's memory, where the target finds a header that does not belong.
 */
function checkDistinctRegions(info: TargetInfo): void {
  const seen = new Map<string, number>();
  info.regions.forEach((r, i) => {
    const key = `${r.addr}:${r.rkey}`;
    const j = seen.get(key);
    if (j !== undefined) throw new FabricsError('MXL_ERR_INVALID_ARG', `TargetInfo regions[${i}] is the same memory as regions[${j}] (address ${r.addr}, key ${r.rkey})`, { field: `regions[${i}]` });
    seen.set(key, i);
  });
}
