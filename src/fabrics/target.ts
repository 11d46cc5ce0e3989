/**
 * A target: exposes the slots of a local grain ring to remote writes and turns each
 * immediate that arrives into a landed grain (protocol §4.5, §5.1, §5.3).
 *
 * Differences from upstream, on purpose (protocol §8): the MSG target keeps listening and
 * accepts any number of initiators; a malformed immediate is dropped and counted instead
 * of wrecking the target; geometry fields overwritten by a mismatched peer are restored;
 * receives for FI_RX_CQ_DATA providers are posted as a pool, not one at a time; and by
 * default the grain is committed into the local flow (waking every reader) here.
 */
import { FabricsError } from '../errors.js';
import { addon } from '../native/index.js';
import type { NativeCompletionQueue, NativeEndpoint, NativeEventQueue, NativeMemoryRegion, NativePassiveEndpoint } from '../native/fabric.js';
import { type EndpointOptions, type OpenedFabric, PauseLadder, bindError, openFabric, randomKey } from './fabric-setup.js';
import { regionLength, unpackImmediate } from './grain-protocol.js';
import { type GrainRing, SlotHeader } from './grain-ring.js';
import { bounceGeometry, entryCapacity } from './sample-protocol.js';
import { type SampleRing, unpackEntry } from './sample-ring.js';
import { CQ_BIND_FLAGS, FI } from './provider-config.js';
import { TargetInfo, newEndpointId } from './target-info.js';

export interface TargetOptions extends EndpointOptions {
  /** Grains: the slots to receive into (give this or `samples`). */
  ring?: GrainRing;
  /** Audio: the channels ring to receive into, through a bounce buffer (protocol §4.7). */
  samples?: SampleRing;
  /** Completion queue depth (upstream option cqDepth, default 8 there; 64 here). */
  cqDepth?: number;
  /** Commit landed grains into the flow (default when the ring can commit). */
  autoCommit?: boolean;
}

/** One grain (or slice range) that landed. */
export interface LandedGrain {
  index: bigint;
  slot: number;
  /** Valid slices after this transfer (the immediate's slice end). */
  validSlices: number;
  totalSlices: number;
  /** Whether it was committed into the local flow here. */
  committed: boolean;
  /** process.hrtime.bigint() when the completion was read. */
  arrivalNs: bigint;
  flags: number;
}

/** One window of samples that landed (audio targets). */
export interface LandedSamples {
  /** One past the newest sample (exclusive end, domain spec §4.4). */
  headIndex: bigint;
  count: number;
  /** Bounce-buffer entry it came through. */
  entry: number;
  committed: boolean;
  arrivalNs: bigint;
}

export interface TargetCounters {
  grains: number;
  /** Audio: sample windows landed. */
  sampleBatches: number;
  samples: number;
  bytes: number;
  dropped: number;
  geometryMismatches: number;
  completionErrors: number;
  connects: number;
  disconnects: number;
}

export type TargetEvent =
  | { type: 'connected'; connection: bigint }
  | { type: 'disconnected'; connection: bigint }
  | { type: 'dropped'; reason: string; immediate: number }
  | { type: 'error'; error: FabricsError };

const REC_WORDS = 4;
const BATCH = 64;
const RECV_POOL = 16;
const RECV_CTX_BASE = 1n << 62n;
/** While idle, blocking reads still look at connection events this often. */
const EQ_POLL_MS = 10;

export class Target {
  readonly info: TargetInfo;
  readonly counters: TargetCounters = { grains: 0, sampleBatches: 0, samples: 0, bytes: 0, dropped: 0, geometryMismatches: 0, completionErrors: 0, connects: 0, disconnects: 0 };
  readonly fabric: OpenedFabric;
  private readonly ring?: GrainRing;
  private readonly sampleRing?: SampleRing;
  /** Audio: the bounce-buffer entries, in TargetInfo region order. */
  private readonly entries: Uint8Array[] = [];
  private readonly entryHeads: BigUint64Array[] = [];
  private readonly headers: SlotHeader[];
  private readonly mrs: NativeMemoryRegion[] = [];
  private readonly cq: NativeCompletionQueue;
  private eq?: NativeEventQueue;
  private pep?: NativePassiveEndpoint;
  private rdmEp?: NativeEndpoint;
  private readonly conns = new Map<bigint, { ep: NativeEndpoint; connected: boolean }>();
  private recvMr?: NativeMemoryRegion;
  private readonly recs = new BigUint64Array(REC_WORDS * BATCH);
  private readonly landed: LandedGrain[] = [];
  private readonly landedSamples: LandedSamples[] = [];
  private readonly events: TargetEvent[] = [];
  private readonly autoCommit: boolean;
  private closed = false;
  private nextConnId = 1n;
  private readonly ladder = new PauseLadder();
  /** Called for every landed grain; returning false keeps it out of the readGrain queue. */
  onLanded?: (g: LandedGrain) => boolean | void;
  /** Called for every landed sample window; returning false keeps it out of the readSamples queue. */
  onSamples?: (s: LandedSamples) => boolean | void;

  constructor(opts: TargetOptions) {
    const ring = opts.ring;
    const samples = opts.samples;
    if ((!ring || ring.slots.length === 0) && !samples) throw new FabricsError('MXL_ERR_INVALID_ARG', 'a target needs a grain ring or a sample ring (a flow writer or user buffers)', { field: 'ring' });
    if (ring && samples) throw new FabricsError('MXL_ERR_INVALID_ARG', 'give a target either grains (ring) or samples, not both', { field: 'samples' });
    this.ring = ring;
    this.sampleRing = samples;
    const canCommit = ring ? typeof ring.commitLanded === 'function' : typeof samples!.commit === 'function';
    this.autoCommit = opts.autoCommit ?? canCommit;
    if (this.autoCommit && !canCommit) throw new FabricsError('MXL_ERR_INVALID_ARG', 'autoCommit needs a ring built from a flow writer', { field: 'autoCommit' });
    const cqDepth = opts.cqDepth ?? 64;
    if (!Number.isInteger(cqDepth) || cqDepth < 1) throw new FabricsError('MXL_ERR_INVALID_ARG', `cqDepth must be an integer >= 1, got ${cqDepth}`, { field: 'cqDepth' });
    this.headers = ring ? ring.slots.map((b) => new SlotHeader(b)) : [];
    const a = addon();
    const f = openFabric(opts, 'target');
    this.fabric = f;
    try {
      let buffers: ArrayBuffer[];
      let len: number;
      let bounce: { entryCount: bigint; entrySize: bigint } | undefined;
      if (ring) {
        buffers = [...ring.slots];
        len = regionLength(ring.layout);
      } else {
        // Audio: one registered bounce entry per region (upstream registers each separately).
        const g = bounceGeometry(samples!.layout, samples!.syncBatch);
        len = g.entrySize;
        buffers = Array.from({ length: g.entryCount }, () => new ArrayBuffer(g.entrySize));
        for (const b of buffers) {
          this.entries.push(new Uint8Array(b));
          this.entryHeads.push(new BigUint64Array(b, 0, 2));
        }
        bounce = { entryCount: BigInt(g.entryCount), entrySize: BigInt(g.entrySize) };
      }
      const regions = buffers.map((buf) => {
        const mr = new a.MemoryRegion(f.domain, buf, 0, len, FI.REMOTE_WRITE, randomKey());
        this.mrs.push(mr);
        return { addr: f.virtAddr ? mr.address : 0n, len: BigInt(len), rkey: mr.key };
      });
      this.cq = new a.CompletionQueue(f.domain, cqDepth, true);
      const id = newEndpointId();
      let address: Buffer;
      if (f.config.epType === FI.EP_MSG) {
        this.eq = new a.EventQueue(f.fabric, 64);
        try {
          // tcp binds in fi_passive_ep, verbs in fi_listen: both failures say what to fix.
          this.pep = new a.PassiveEndpoint(f.fabric, f.info, id);
          this.pep.bind(this.eq);
          this.pep.listen();
        } catch (e) {
          throw bindError(e, opts);
        }
        address = this.pep.getName();
      } else {
        const ep = new a.Endpoint(f.domain, f.info, id);
        ep.bind(new a.AddressVector(f.domain, 16));
        ep.bind(this.cq, CQ_BIND_FLAGS);
        ep.enable();
        this.rdmEp = ep;
        if (f.rxCqData) this.postReceives(ep);
        address = ep.getName();
      }
      this.info = new TargetInfo(id, f.providerName, f.info.addrFormat, address, regions, bounce);
    } catch (e) {
      this.release();
      throw e;
    }
  }

  get grainCount(): number { return this.ring?.slots.length ?? 0; }
  /** 'grains' or 'samples'. */
  get kind(): 'grains' | 'samples' { return this.ring ? 'grains' : 'samples'; }
  get connections(): number { return [...this.conns.values()].filter((c) => c.connected).length; }

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

  /** Waits up to timeoutMs for at least one grain (0 = one pass). Returns grains landed. */
  wait(timeoutMs: number): number {
    this.checkOpen();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.pollEvents();
      const n = this.drain(BATCH, 0);
      const left = deadline - Date.now();
      if (n > 0 || left <= 0) return n;
      const got = this.drain(BATCH, Math.min(left, this.eq ? EQ_POLL_MS : left));
      if (got > 0) return got;
    }
  }

  /** The next landed grain, or null (upstream's NOT_READY). With timeoutMs, waits that long. */
  readGrain(timeoutMs = 0): LandedGrain | null {
    // Upstream consumes (and loses) the completion on a kind mismatch; we refuse before reading.
    if (!this.ring) throw new FabricsError('MXL_ERR_INVALID_STATE', 'this target receives samples: use readSamples()');
    return this.next(this.landed, timeoutMs);
  }

  /** The next landed sample window, or null. With timeoutMs, waits that long. */
  readSamples(timeoutMs = 0): LandedSamples | null {
    if (!this.sampleRing) throw new FabricsError('MXL_ERR_INVALID_STATE', 'this target receives grains: use readGrain()');
    return this.next(this.landedSamples, timeoutMs);
  }

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

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
  }

  private checkOpen(): void {
    if (this.closed) throw new FabricsError('MXL_ERR_INVALID_STATE', 'target is closed');
  }

  private release(): void {
    for (const c of this.conns.values()) c.ep.close();
    this.conns.clear();
    this.rdmEp?.close();
    this.pep?.close();
    this.cq?.close();
    this.eq?.close();
    for (const mr of this.mrs) mr.close();
    this.recvMr?.close();
    this.fabric?.domain.close();
    this.fabric?.fabric.close();
  }

  /** Receive contexts: RECV_CTX_BASE | connection << 16 | pool index (connection 0 = RDM endpoint). */
  private postReceives(ep: NativeEndpoint, conn = 0n): void {
    const a = addon();
    if (!this.recvMr) this.recvMr = new a.MemoryRegion(this.fabric.domain, new ArrayBuffer(8 * RECV_POOL), 0, 8 * RECV_POOL, FI.RECV, randomKey());
    for (let i = 0; i < RECV_POOL; i++) ep.recv(this.recvMr, i * 8, 8, RECV_CTX_BASE | (conn << 16n) | BigInt(i));
  }

  private pollEvents(): void {
    const eq = this.eq;
    if (!eq) return;
    const a = addon();
    for (let ev = eq.read(); ev; ev = eq.read()) {
      switch (ev.event) {
        case 'connreq': {
          const ctx = this.nextConnId++;
          let ep: NativeEndpoint | undefined;
          try {
            ep = new a.Endpoint(this.fabric.domain, ev.info, ctx);
            ep.bind(eq);
            ep.bind(this.cq, CQ_BIND_FLAGS);
            // Upstream accepts with one byte of private data, value 0.
            const rc = ep.accept(Buffer.from([0]));
            if (rc !== 0) throw new FabricsError('MXL_ERR_UNKNOWN', `fi_accept failed (${rc})`, { op: 'fi_accept', fiErrno: -rc });
            this.conns.set(ctx, { ep, connected: false });
          } catch (e) {
            ep?.close();
            this.pep?.reject(ev.info);
            this.events.push({ type: 'error', error: e as FabricsError });
          }
          break;
        }
        case 'connected': {
          const c = this.conns.get(ev.fidContext);
          if (c) {
            c.connected = true;
            this.counters.connects++;
            if (this.fabric.rxCqData) this.postReceives(c.ep, ev.fidContext);
            this.events.push({ type: 'connected', connection: ev.fidContext });
          }
          break;
        }
        case 'shutdown':
        case 'error': {
          const ctxId = ev.fidContext;
          const c = this.conns.get(ctxId);
          if (c) {
            this.conns.delete(ctxId);
            c.ep.close();
            if (c.connected) {
              this.counters.disconnects++;
              this.events.push({ type: 'disconnected', connection: ctxId });
            }
          }
          break;
        }
        default:
          break;
      }
    }
  }

  /** Reads completions (waiting up to timeoutMs for the first when > 0); returns grains landed. */
  private drain(max: number, timeoutMs: number): number {
    const recs = this.recs;
    let landed = 0;
    let left = max;
    while (left > 0) {
      const want = Math.min(left, BATCH);
      const n = timeoutMs > 0 && landed === 0 ? this.blockingRead(recs, want, timeoutMs) : this.cq.drain(recs, want);
      if (n <= 0) break;
      for (let i = 0; i < n; i++) {
        const o = i * REC_WORDS;
        if (this.handleCompletion(recs[o], recs[o + 1], recs[o + 2], recs[o + 3])) landed++;
      }
      left -= n;
      timeoutMs = 0;
      if (n < want) break;
    }
    return landed;
  }

  /** Waits up to timeoutMs for completions: in the CQ's wait object, or by polling with pauses. */
  private blockingRead(recs: BigUint64Array, want: number, timeoutMs: number): number {
    if (this.fabric.cqWaitable) return this.cq.sread(recs, want, timeoutMs);
    const end = performance.now() + timeoutMs;
    for (;;) {
      const n = this.cq.drain(recs, want);
      if (n !== 0) {
        this.ladder.activity();
        return n;
      }
      if (performance.now() >= end) return n;
      this.ladder.pause();
    }
  }

  private handleCompletion(context: bigint, flags: bigint, data: bigint, len: bigint): boolean {
    if (flags & addon().constants.CQ_ERROR_BIT) {
      this.counters.completionErrors++;
      if (context >= RECV_CTX_BASE) this.repost(context);
      return false;
    }
    if (context >= RECV_CTX_BASE && this.fabric.rxCqData) this.repost(context);
    if (!(flags & FI.REMOTE_CQ_DATA)) return false;
    const imm = Number(data & 0xffffffffn);
    if (this.sampleRing) return this.handleSamples(imm, Number(len));
    const { slot, sliceEnd } = unpackImmediate(imm);
    const layout = this.ring!.layout;
    if (slot >= this.headers.length) return this.drop(imm, `slot ${slot} is outside the ${this.headers.length}-slot ring`);
    if (sliceEnd > layout.totalSlices) return this.drop(imm, `slice end ${sliceEnd} is past the grain's ${layout.totalSlices} slices`);
    const h = this.headers[slot];
    if (h.grainSize !== layout.grainSize || h.totalSlices !== layout.totalSlices || h.version !== 1) {
      // The peer's grain header disagrees with our flow: keep our flow consistent, refuse the grain.
      h.restore(1, layout.grainSize, layout.totalSlices);
      this.counters.geometryMismatches++;
      return this.drop(imm, 'the sender flow has another grain geometry (grain size or slice count)');
    }
    let index: bigint;
    let committed = false;
    if (this.autoCommit) {
      index = this.ring!.commitLanded!(slot, sliceEnd);
      committed = true;
    } else {
      h.validSlices = sliceEnd;
      index = h.index;
    }
    this.counters.grains++;
    this.counters.bytes += Number(len);
    const g: LandedGrain = { index, slot, validSlices: sliceEnd, totalSlices: layout.totalSlices, committed, arrivalNs: process.hrtime.bigint(), flags: h.flags };
    if (this.onLanded?.(g) !== false) this.landed.push(g);
    return true;
  }

  /** Audio: the immediate is the bounce entry; unpack it into our ring and publish. */
  private handleSamples(imm: number, len: number): boolean {
    const ring = this.sampleRing!;
    if (imm >= this.entries.length) return this.drop(imm, `bounce entry ${imm} is outside the ${this.entries.length}-entry buffer`);
    const head = this.entryHeads[imm][0];
    const count = Number(this.entryHeads[imm][1]);
    const cap = entryCapacity(this.entries[imm].byteLength, ring.layout);
    const half = Math.floor(ring.layout.bufferLength / 2);
    if (!(count >= 1) || count > cap || count > half) return this.drop(imm, `entry ${imm} says ${count} samples; it holds 1..${Math.min(cap, half)}`);
    if (head < BigInt(count)) return this.drop(imm, `entry ${imm} ends at sample ${head}, before its ${count} samples`);
    unpackEntry(this.entries[imm], ring.layout, ring.channels, head, count);
    let committed = false;
    if (this.autoCommit) {
      ring.commit!(head, count);
      committed = true;
    }
    this.counters.sampleBatches++;
    this.counters.samples += count;
    this.counters.bytes += len;
    const s: LandedSamples = { headIndex: head, count, entry: imm, committed, arrivalNs: process.hrtime.bigint() };
    if (this.onSamples?.(s) !== false) this.landedSamples.push(s);
    return true;
  }

  private drop(immediate: number, reason: string): false {
    this.counters.dropped++;
    this.events.push({ type: 'dropped', reason, immediate });
    return false;
  }

  private repost(context: bigint): void {
    const i = Number(context & 0xffffn);
    const conn = (context & ~RECV_CTX_BASE) >> 16n;
    if (!this.recvMr || i >= RECV_POOL) return;
    const ep = conn === 0n ? this.rdmEp : this.conns.get(conn)?.ep;
    ep?.recv(this.recvMr, i * 8, 8, context);
  }
}
