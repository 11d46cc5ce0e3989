/**
 * Follow mode in the addon (docs/native.md, "The native follow loop"): the per-grain path
 * (head futex, posts to every connected target, torn check, commit write, completion), or
 * per audio window (head futex, one staged copy, a write per target into its next bounce
 * entry, completion), runs in one native call, and this module turns what it reports into the
 * engine's own bookkeeping and events. Sessions stay here: a lane is a connected MSG peer,
 * set when it connects and dropped when it leaves that state; liveness probes and any
 * write JavaScript posts come back as ordinary completions.
 */
import { addon } from '../../native/index.js';
import type { NativeCompletionQueue, NativeEndpoint, NativeFollowLoop, NativeMemoryRegion } from '../../native/fabric.js';
import type { GrainLayout } from '../grain-protocol.js';
import type { SampleRing } from '../sample-ring.js';
import type { Peer } from './peer.js';
import { stallReason } from './liveness.js';
import { type Sessions, postFailed, writeFailed } from './sessions.js';

/** Event records of FollowLoop.follow(): 8 doubles each, after 8 header words. */
export const FollowRecord = {
  HEADER: 8,
  LENGTH: 8,
  KIND: 0,
  INDEX: 1,
  START: 2,
  END: 3,
  /** Posted: lanes posted; completed/torn: bytes completed; fell behind: grains; refused: 1 too late, 2 too early; lane failed: why. */
  COUNT: 4,
  TIME_NS: 5,
  /** Completed: post-to-completion ns; posted: lanes skipped; lane failed: errno or status. */
  EXTRA: 6,
  LANE: 7,
} as const;

export const FollowKind = { POSTED: 1, COMPLETED: 2, OVERRUN: 3, TORN: 4, FELL_BEHIND: 5, REFUSED: 6, LANE_FAILED: 7, DEFERRED: 8, SKIPPED: 9 } as const;

/** Header words: records, passes, passes with work. */
const H_COUNT = 0;
const H_PASSES = 1;
const H_BUSY = 2;
const EVENT_RECORDS = 512;

/** What the worker does with the per-grain outcomes that are not a peer's business. */
export interface FollowHandler {
  /** A grain (or slice range) was posted; `skipped` peers did not take it. Audio: index is the window's end, start 0, end its sample count. */
  posted(index: bigint, start: number, end: number, skipped: number): void;
  /** Grains skipped (audio: 1 per skip to half a ring behind the head). */
  fellBehind(grains: number): void;
  /** The grain left the local slot between its read and its post ('too-late'), or is not there yet. */
  refused(why: 'too-late' | 'too-early'): void;
  passes(total: number, withWork: number): void;
}

export interface FollowSource {
  /** The source flow's mapped `data` file. */
  flowData: ArrayBuffer;
  /** The flow's `access` file descriptor (touched per grain read), if open. */
  accessFd?: number;
  /** The worker's control block words (stop, doorbell, poll mode). */
  control: Int32Array;
}

/** What the loop sends: the grain slots of a discrete flow, or the channels ring of a continuous one. */
export type FollowMedia = { kind: 'grains'; slotMrs: NativeMemoryRegion[]; layout: GrainLayout } | { kind: 'samples'; ring: SampleRing };

export class NativeFollow {
  private readonly loop: NativeFollowLoop;
  private readonly events = new Float64Array(FollowRecord.HEADER + EVENT_RECORDS * FollowRecord.LENGTH);
  /** Foreign completions, as CompletionQueue.drain writes them. */
  readonly foreign: BigUint64Array;
  /** The endpoint each lane was set with (a reconnect brings a new one). */
  private readonly lanes = new Map<Peer, NativeEndpoint>();

  private readonly samples: boolean;

  constructor(cq: NativeCompletionQueue, media: FollowMedia, src: FollowSource,
    opts: { protectTorn: boolean; maxInFlight: number; cqDepth: number; stallTimeoutMs: number; sread: boolean }, foreignRecords: number,
    private readonly sessions: Sessions) {
    const common = { maxInFlight: opts.maxInFlight, cqDepth: opts.cqDepth, stallTimeoutMs: Math.ceil(opts.stallTimeoutMs), sread: opts.sread };
    this.samples = media.kind === 'samples';
    if (media.kind === 'samples') {
      const { layout, syncBatch, channels } = media.ring;
      this.loop = new (addon().FollowLoop)(cq, src.flowData, [], src.control, { ...common, samples: { channels, ...layout, syncBatch } });
    } else {
      const { layout } = media;
      const sliceSizes = [0, 1, 2, 3].map((i) => layout.sliceSizes[i] ?? 0);
      this.loop = new (addon().FollowLoop)(cq, src.flowData, media.slotMrs, src.control, {
        ...common, grainSize: layout.grainSize, totalSlices: layout.totalSlices, sliceSizes, protectTorn: opts.protectTorn, accessFd: src.accessFd ?? -1,
      });
    }
    this.stallTimeoutMs = opts.stallTimeoutMs;
    this.foreign = new BigUint64Array(4 * foreignRecords);
  }

  private readonly stallTimeoutMs: number;

  /** Writes the loop has queued or in flight (to `peer`, or to all). */
  inFlight(peer?: Peer): number { return peer ? this.loop.inFlight(Number(peer.ctx)) : this.loop.inFlight(); }

  /** Lanes for the connected peers; none for the others. */
  syncLanes(): void {
    for (const [peer, ep] of this.lanes) {
      if (peer.state !== 'connected' || peer.ep !== ep || !this.sessions.peers.has(peer.id)) {
        this.loop.removeLane(Number(peer.ctx));
        this.lanes.delete(peer);
      }
    }
    for (const peer of this.sessions.peers.values()) {
      if (peer.state !== 'connected' || !peer.ep || this.lanes.has(peer)) continue;
      if (this.samples && !peer.bounce) continue; // not attached yet: no bounce geometry
      const regions = new BigUint64Array(2 * peer.info.regions.length);
      peer.info.regions.forEach((r, i) => { regions[2 * i] = r.addr; regions[2 * i + 1] = r.rkey; });
      const bounce = peer.bounce ? { entryCount: peer.bounce.entryCount, entrySize: peer.bounce.entrySize } : undefined;
      this.loop.setLane(Number(peer.ctx), peer.ep, addon().constants.FI_ADDR_UNSPEC, regions, bounce);
      this.lanes.set(peer, peer.ep);
    }
  }

  /**
   * One native follow call, then its records. Returns [foreign completions, records]; the
   * caller handles the foreign ones as it handles any completion.
   */
  run(timeoutMs: number, spinNs: number, jsInFlight: boolean, h: FollowHandler, doorbellSeen?: number): [number, number] {
    this.syncLanes();
    const foreign = this.loop.follow(this.events, this.foreign, timeoutMs, spinNs, jsInFlight, doorbellSeen);
    const ev = this.events;
    const n = ev[H_COUNT];
    h.passes(ev[H_PASSES], ev[H_BUSY]);
    let lanesDown: Peer[] | undefined; // peers without a lane, looked up at the first posted grain
    for (let i = 0; i < n; i++) {
      const o = FollowRecord.HEADER + i * FollowRecord.LENGTH;
      const kind = ev[o + FollowRecord.KIND];
      if (kind === FollowKind.POSTED) {
        lanesDown ??= this.notLanes();
        h.posted(BigInt(ev[o + FollowRecord.INDEX]), ev[o + FollowRecord.START], ev[o + FollowRecord.END], ev[o + FollowRecord.EXTRA] + lanesDown.length);
        for (const p of lanesDown) p.skipped++;
        continue;
      }
      if (kind === FollowKind.FELL_BEHIND) { h.fellBehind(ev[o + FollowRecord.COUNT]); continue; }
      if (kind === FollowKind.REFUSED) { h.refused(ev[o + FollowRecord.COUNT] === 1 ? 'too-late' : 'too-early'); continue; }
      const peer = this.sessions.byContext(BigInt(ev[o + FollowRecord.LANE]));
      if (!peer) continue;
      this.sessions.nativeRecord(peer, kind, ev, o, this.samples ? ev[o + FollowRecord.START] : ev[o + FollowRecord.END]);
      if (kind === FollowKind.LANE_FAILED) {
        this.lanes.delete(peer); // the loop dropped it already
        const why = ev[o + FollowRecord.COUNT];
        const code = ev[o + FollowRecord.EXTRA];
        if (peer.state === 'connected') this.sessions.fail(peer, why === 2 ? stallReason(this.stallTimeoutMs) : why === 1 ? writeFailed(code) : postFailed(code));
      }
    }
    return [foreign, n];
  }

  /** Peers a posted grain did not go to because they have no lane (not connected). */
  private notLanes(): Peer[] {
    const out: Peer[] = [];
    for (const p of this.sessions.peers.values()) if (!this.lanes.has(p)) out.push(p);
    return out;
  }

  close(): void {
    this.lanes.clear();
    this.loop.close();
  }
}
