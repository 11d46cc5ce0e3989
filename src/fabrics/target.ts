/**
 * A target: exposes the slots of a local grain ring (or an audio bounce buffer) to remote
 * writes and turns each immediate that arrives into a landed grain (docs/protocol.md §4.5, §5.1,
 * §5.3). This facade joins a connection layer (connection/msg-listener.ts or
 * rdm-endpoint.ts), a media protocol (media/grain-receiver.ts or sample-receiver.ts) and
 * the completion reader.
 *
 * Differences from upstream, on purpose (docs/fabrics.md): a malformed write is dropped,
 * counted by reason and reported instead of wrecking the target; geometry fields
 * overwritten by a mismatched peer are restored; receives for FI_RX_CQ_DATA providers are
 * posted as a pool; and by default the grain is committed into the local flow here.
 */
import { FabricsError } from '../errors.js';
import { addon } from '../native/index.js';
import type { NativeCompletionQueue, NativeMemoryRegion } from '../native/fabric.js';
import type { CompletionSource, Listener } from './connection/listener.js';
import { MsgListener } from './connection/msg-listener.js';
import { RdmEndpoint } from './connection/rdm-endpoint.js';
import { RecvPool } from './connection/recv-pool.js';
import { BATCH, CompletionReader, PauseLadder, pause, type Rhythm } from './engine/completion-reader.js';
import { type EndpointOptions, type OpenedFabric, openFabric, randomKey } from './fabric-setup.js';
import { type DropReason, emptyDrops } from './media/drops.js';
import { GrainReceiver, type LandedGrain } from './media/grain-receiver.js';
import type { ReceiverMedia } from './media/receiver.js';
import { type LandedSamples, SampleReceiver } from './media/sample-receiver.js';
import type { GrainRing } from './grain-ring.js';
import type { SampleRing } from './sample-ring.js';
import { FI } from './provider-config.js';
import { TargetInfo, newEndpointId } from './target-info.js';

export type { LandedGrain } from './media/grain-receiver.js';
export type { LandedSamples } from './media/sample-receiver.js';

export interface TargetOptions extends EndpointOptions {
  /** Grains: the slots to receive into (give this or `samples`). */
  ring?: GrainRing;
  /** Audio: the channels ring to receive into, through a bounce buffer (docs/protocol.md §4.7). */
  samples?: SampleRing;
  /**
   * Completion queue depth (upstream option cqDepth, default 8 there); MSG providers: of
   * each connection's queue. Default here: one entry per region (an initiator keeps at most
   * one transfer per slot in flight), at least 64; RDM, where initiators share one queue:
   * one per region and initiator.
   */
  cqDepth?: number;
  /** Commit landed grains into the flow (default when the ring can commit). */
  autoCommit?: boolean;
  /**
   * MSG providers: initiators connected at once (default 1, one source per target). Set it
   * higher for redundant senders of the same source; a request beyond it is rejected.
   */
  maxInitiators?: number;
  /**
   * MSG providers: a connected initiator with nothing landed for this long is shown idle
   * ('idle' event, connectionStatus()), and 'active' again at its next arrival (default 1000).
   */
  idleMs?: number;
  /**
   * Arrivals a second the target expects (a grain flow's grain rate; audio: windows a
   * second). On providers the target has to poll (shm, efa), arrivals that come at this
   * rate are looked for every 50 µs around the moment each is due, with the plain pause
   * ladder in between (docs/runtime.md, "Polling a paced flow"). Unset: the plain ladder.
   */
  arrivalRate?: number;
}

/** One connected initiator (MSG providers) as the target sees it. */
export interface ConnectionStatus {
  connection: bigint;
  /** Nothing landed on this connection for idleMs (counted from its connect when nothing did). */
  idle: boolean;
  /** process.hrtime.bigint() of its last landed grain or sample window (0n: none yet). */
  lastArrivalNs: bigint;
  /** Grains (audio: sample windows) landed on this connection. */
  landed: number;
}

export interface TargetCounters {
  grains: number;
  /** Audio: sample windows landed. */
  sampleBatches: number;
  samples: number;
  bytes: number;
  /** Writes dropped, all reasons together (see `drops`). */
  dropped: number;
  /** Writes dropped, by reason. */
  drops: Record<DropReason, number>;
  geometryMismatches: number;
  /** Copies of a grain range another connection had already landed (redundant senders); not published again. */
  duplicates: number;
  completionErrors: number;
  connects: number;
  disconnects: number;
  /** Connection requests rejected (maxInitiators). */
  refused: number;
}

export type TargetEvent =
  | { type: 'connected'; connection: bigint }
  | { type: 'disconnected'; connection: bigint }
  /** MSG: nothing landed on this connection for idleMs; `sinceNs` is its last arrival (or its connect). */
  | { type: 'idle'; connection: bigint; sinceNs: bigint }
  /** MSG: a grain landed again on a connection that was idle. */
  | { type: 'active'; connection: bigint }
  | { type: 'dropped'; code: DropReason; reason: string; immediate: number }
  | { type: 'error'; error: FabricsError };

/**
 * While idle, blocking reads still look at connection events this often. Longer than a
 * grain period at 25 fps and up: at 10 ms a paced 50 fps target woke twice per grain for
 * nothing, about 2 points of a core (docs/runtime.md, "Where a target blocks").
 */
const EQ_POLL_MS = 50;
/** Connections are checked for idleness at most this often. */
const IDLE_CHECK_NS = 20_000_000n;

interface ConnState { connectedNs: bigint; lastArrivalNs: bigint; idle: boolean; landed: number }

export class Target {
  readonly info: TargetInfo;
  readonly counters: TargetCounters = { grains: 0, sampleBatches: 0, samples: 0, bytes: 0, dropped: 0, drops: emptyDrops(), geometryMismatches: 0, duplicates: 0, completionErrors: 0, connects: 0, disconnects: 0, refused: 0 };
  readonly fabric: OpenedFabric;
  private readonly media: ReceiverMedia;
  private readonly mrs: NativeMemoryRegion[] = [];
  /** RDM only: the endpoint's one queue (MSG: one per connection, owned by the listener). */
  private readonly cq?: NativeCompletionQueue;
  private readonly listener: Listener;
  private readonly conns = new Map<bigint, ConnState>();
  private readonly idleNs: bigint;
  private lastIdleCheck = 0n;
  /** The arrival period expected from arrivalRate, shared by every queue's pause ladder. */
  private readonly rhythm: Rhythm = { periodMs: 0 };
  /** Pauses between looks when there are several queues and none to sleep in. */
  private readonly ladder = new PauseLadder(this.rhythm);
  private readonly recvs?: RecvPool;
  private readonly landed: LandedGrain[] = [];
  private readonly landedSamples: LandedSamples[] = [];
  private readonly events: TargetEvent[] = [];
  private closed = false;
  private lastArrival = 0n;
  /** Called for every landed grain; returning false keeps it out of the readGrain queue. */
  onLanded?: (g: LandedGrain) => boolean | void;
  /** Called for every landed sample window; returning false keeps it out of the readSamples queue. */
  onSamples?: (s: LandedSamples) => boolean | void;

  constructor(opts: TargetOptions) {
    const { ring, samples } = opts;
    if ((!ring || ring.slots.length === 0) && !samples) throw new FabricsError('MXL_ERR_INVALID_ARG', 'a target needs a grain ring or a sample ring (a flow writer or user buffers)', { field: 'ring' });
    if (ring && samples) throw new FabricsError('MXL_ERR_INVALID_ARG', 'give a target either grains (ring) or samples, not both', { field: 'samples' });
    const canCommit = ring ? typeof ring.commitLanded === 'function' : typeof samples!.commit === 'function';
    const autoCommit = opts.autoCommit ?? canCommit;
    if (autoCommit && !canCommit) throw new FabricsError('MXL_ERR_INVALID_ARG', 'autoCommit needs a ring built from a flow writer', { field: 'autoCommit' });
    const maxInitiators = opts.maxInitiators ?? 1;
    if (!Number.isInteger(maxInitiators) || maxInitiators < 1) throw new FabricsError('MXL_ERR_INVALID_ARG', `maxInitiators must be an integer >= 1, got ${maxInitiators}`, { field: 'maxInitiators' });
    const drop = (code: DropReason, reason: string, immediate: number): false => {
      this.counters.dropped++;
      this.counters.drops[code]++;
      this.events.push({ type: 'dropped', code, reason, immediate });
      return false;
    };
    this.media = ring
      ? new GrainReceiver(ring, autoCommit, this.counters, drop, (g) => { if (this.onLanded?.(g) !== false) this.landed.push(g); })
      : new SampleReceiver(samples!, autoCommit, this.counters, drop, (s) => { if (this.onSamples?.(s) !== false) this.landedSamples.push(s); });
    if (opts.cqDepth !== undefined && (!Number.isInteger(opts.cqDepth) || opts.cqDepth < 1)) throw new FabricsError('MXL_ERR_INVALID_ARG', `cqDepth must be an integer >= 1, got ${opts.cqDepth}`, { field: 'cqDepth' });
    const positive = (field: 'idleMs' | 'arrivalRate', v: number): number => {
      if (!(v > 0) || !Number.isFinite(v)) throw new FabricsError('MXL_ERR_INVALID_ARG', `${field} must be a positive number, got ${v}`, { field });
      return v;
    };
    if (opts.arrivalRate !== undefined) this.rhythm.periodMs = 1000 / positive('arrivalRate', opts.arrivalRate);
    const idleMs = positive('idleMs', opts.idleMs ?? 1000);
    this.idleNs = BigInt(Math.round(idleMs * 1e6));
    const a = addon();
    const f = openFabric(opts, 'target');
    const msg = f.config.epType === FI.EP_MSG;
    const cqDepth = opts.cqDepth ?? Math.max(64, this.media.buffers.length * (msg ? 1 : maxInitiators));
    this.fabric = f;
    try {
      const len = this.media.regionLength;
      const regions = this.media.buffers.map((buf) => {
        const mr = new a.MemoryRegion(f.domain, buf, 0, len, FI.REMOTE_WRITE, randomKey());
        this.mrs.push(mr);
        return { addr: f.virtAddr ? mr.address : 0n, len: BigInt(len), rkey: mr.key };
      });
      if (f.rxCqData) this.recvs = new RecvPool(f.domain);
      const id = newEndpointId();
      if (msg) this.listener = new MsgListener(f, cqDepth, id, opts, maxInitiators, this.recvs, this.rhythm);
      else {
        this.cq = new a.CompletionQueue(f.domain, cqDepth, true);
        this.listener = new RdmEndpoint(f, this.cq, id, this.recvs, this.rhythm);
      }
      this.info = new TargetInfo(id, f.providerName, f.info.addrFormat, this.listener.address, regions, this.media.bounce);
    } catch (e) {
      this.release();
      throw e;
    }
  }

  get grainCount(): number { return this.media.kind === 'grains' ? this.media.buffers.length : 0; }
  /** 'grains' or 'samples'. */
  get kind(): 'grains' | 'samples' { return this.media.kind; }
  get connections(): number { return this.listener.connections; }

  /** process.hrtime.bigint() when the last grain or sample window landed (0n: none yet). */
  get lastArrivalNs(): bigint { return this.lastArrival; }

  /**
   * Whether nothing landed for `ms` (default 1000), on the whole target or (MSG providers)
   * on `connection`: an initiator that stopped sending shows as idle (docs/sessions.md
   * "Idle initiators"). RDM providers have no connections: per target only.
   */
  idle(ms = 1000, connection?: bigint): boolean {
    const last = connection === undefined ? this.lastArrival : this.conns.get(connection)?.lastArrivalNs ?? 0n;
    return last === 0n || process.hrtime.bigint() - last > BigInt(Math.round(ms * 1e6));
  }

  /** MSG providers: every connected initiator, idle or active (RDM: empty). */
  connectionStatus(): ConnectionStatus[] {
    return [...this.conns].map(([connection, c]) => ({ connection, idle: c.idle, lastArrivalNs: c.lastArrivalNs, landed: c.landed }));
  }

  /** Takes the pending connection/drop events. */
  takeEvents(): TargetEvent[] { return this.events.splice(0); }

  /**
   * One non-blocking pass: accepts connections and processes up to `max` completions.
   * Returns how many grains landed during this pass.
   */
  poll(max = BATCH): number {
    this.checkOpen();
    this.pollEvents();
    return this.drain(max, 0);
  }

  /**
   * Waits up to timeoutMs for at least one grain (0 = one pass). Returns grains landed.
   * `interrupted`: asked before each wait; true returns at once (a runtime worker's stop or
   * control request; its sleeps end early through setIdleSleeper and its Waker).
   */
  wait(timeoutMs: number, interrupted?: () => boolean): number {
    this.checkOpen();
    const deadline = Date.now() + timeoutMs;
    const msg = this.listener instanceof MsgListener;
    for (;;) {
      this.pollEvents();
      const n = this.drain(BATCH, 0);
      const left = deadline - Date.now();
      if (n > 0 || left <= 0 || interrupted?.()) return n;
      const got = this.drain(BATCH, Math.min(left, msg ? EQ_POLL_MS : left));
      if (got > 0) return got;
    }
  }

  /** The next landed grain, or null (upstream's NOT_READY). With timeoutMs, waits that long. */
  readGrain(timeoutMs = 0): LandedGrain | null {
    // Upstream consumes (and loses) the completion on a kind mismatch; we refuse before reading.
    if (this.media.kind !== 'grains') throw new FabricsError('MXL_ERR_INVALID_STATE', 'this target receives samples: use readSamples()');
    return this.next(this.landed, timeoutMs);
  }

  /** The next landed sample window, or null. With timeoutMs, waits that long. */
  readSamples(timeoutMs = 0): LandedSamples | null {
    if (this.media.kind !== 'samples') throw new FabricsError('MXL_ERR_INVALID_STATE', 'this target receives grains: use readGrain()');
    return this.next(this.landedSamples, timeoutMs);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
  }

  // -------------------------------------------------------------------- internals

  /** Head of `queue`, polling once (or waiting up to timeoutMs) when it is empty. */
  private next<T>(queue: T[], timeoutMs: number): T | null {
    if (queue.length === 0) {
      if (timeoutMs > 0) {
        const deadline = Date.now() + timeoutMs;
        while (queue.length === 0 && Date.now() < deadline) this.wait(deadline - Date.now());
      } else this.poll();
    }
    return queue.shift() ?? null;
  }

  private checkOpen(): void {
    if (this.closed) throw new FabricsError('MXL_ERR_INVALID_STATE', 'target is closed');
  }

  private release(): void {
    this.listener?.close();
    this.cq?.close();
    for (const mr of this.mrs) mr.close();
    this.recvs?.close();
    this.fabric?.domain.close();
    this.fabric?.fabric.close();
  }

  private pollEvents(): void {
    this.listener.poll({
      connected: (connection) => {
        this.counters.connects++;
        this.conns.set(connection, { connectedNs: process.hrtime.bigint(), lastArrivalNs: 0n, idle: false, landed: 0 });
        this.events.push({ type: 'connected', connection });
      },
      closing: (source) => { this.drainSource(source, Number.MAX_SAFE_INTEGER, 0); },
      disconnected: (connection) => {
        this.counters.disconnects++;
        this.conns.delete(connection);
        this.events.push({ type: 'disconnected', connection });
      },
      error: (error) => {
        if (error.op === 'fi_reject') this.counters.refused++;
        this.events.push({ type: 'error', error });
      },
    });
    if (this.conns.size > 0) this.checkIdle();
  }

  /** Marks connections with nothing landed for idleNs as idle (at most every IDLE_CHECK_NS). */
  private checkIdle(): void {
    const now = process.hrtime.bigint();
    if (now - this.lastIdleCheck < IDLE_CHECK_NS) return;
    this.lastIdleCheck = now;
    for (const [connection, c] of this.conns) {
      const since = c.lastArrivalNs > c.connectedNs ? c.lastArrivalNs : c.connectedNs;
      if (!c.idle && now - since > this.idleNs) {
        c.idle = true;
        this.events.push({ type: 'idle', connection, sinceNs: since });
      }
    }
  }

  /**
   * Reads completions (waiting up to timeoutMs for the first when > 0); returns what landed.
   * One queue (RDM, or one connection): as drainSource. None (nothing connected) or several
   * (several initiators, each with its queue): no one queue to sleep in, so it looks at each
   * and pauses on the ladder in between (50 µs rising to 1 ms while active, 4 ms when idle).
   */
  private drain(max: number, timeoutMs: number): number {
    const srcs = this.listener.sources;
    if (srcs.length === 1) return this.drainSource(srcs[0], max, timeoutMs);
    let landed = 0;
    for (const src of srcs) landed += this.drainSource(src, max, 0);
    if (landed > 0 || timeoutMs <= 0) return landed;
    const end = performance.now() + timeoutMs;
    if (srcs.length === 0) {
      pause(timeoutMs * 1000);
      return 0;
    }
    for (let left = end - performance.now(); left > 0; left = end - performance.now()) {
      if (!this.ladder.pause(left * 1000)) return 0;
      const at = performance.now();
      for (const src of srcs) landed += this.drainSource(src, max, 0);
      if (landed > 0) {
        this.ladder.activity(at);
        return landed;
      }
    }
    return 0;
  }

  /** Reads one queue's completions (waiting up to timeoutMs for the first when > 0). */
  private drainSource(src: CompletionSource, max: number, timeoutMs: number): number {
    const r: CompletionReader = src.reader;
    let landed = 0;
    let left = max;
    while (left > 0) {
      const want = Math.min(left, BATCH);
      const n = r.read(want, landed === 0 ? timeoutMs : 0);
      if (n <= 0) break;
      for (let i = 0; i < n; i++) if (this.completion(r.context(i), r.flags(i), r.data(i), r.len(i), src.conn)) landed++;
      left -= n;
      timeoutMs = 0;
      if (n < want) break;
    }
    return landed;
  }

  private completion(context: bigint, flags: bigint, data: bigint, len: bigint, conn: bigint): boolean {
    const own = RecvPool.owns(context);
    if (flags & addon().constants.CQ_ERROR_BIT) {
      this.counters.completionErrors++;
      if (own) this.recvs?.repost(context, (c) => this.listener.endpoint(c));
      return false;
    }
    if (own) this.recvs?.repost(context, (c) => this.listener.endpoint(c));
    if (!(flags & FI.REMOTE_CQ_DATA)) return false;
    const landed = this.media.land(Number(data & 0xffffffffn), Number(len), conn);
    if (landed) { // a duplicate too: that connection is delivering
      this.lastArrival = process.hrtime.bigint();
      const c = this.conns.get(conn);
      if (c) {
        c.lastArrivalNs = this.lastArrival;
        c.landed++;
        if (c.idle) {
          c.idle = false;
          this.events.push({ type: 'active', connection: conn });
        }
      }
    }
    return landed === true;
  }
}
