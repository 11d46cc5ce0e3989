/**
 * An initiator's peers and their sessions: opening through the connection layer, the one
 * path every failure takes (fail: down or backoff, then a retry), removal, liveness
 * checks, posting within the completion queue's room, and what each completed write
 * means. The facade (initiator.ts) owns the public API and reads the completion queue.
 */
import { FabricsError } from '../../errors.js';
import type { Connector, OpenResult } from '../connection/connector.js';
import type { SenderMedia } from '../media/sender.js';
import type { TargetInfo } from '../target-info.js';
import type { Liveness } from './liveness.js';
import { Peer } from './peer.js';
import { PEER_GONE, type Write } from './write-queue.js';
import { FollowKind, FollowRecord } from './native-follow.js';

export type InitiatorEvent =
  | { type: 'connected'; target: bigint }
  | { type: 'disconnected'; target: bigint; reason: string }
  | { type: 'error'; target: bigint; error: FabricsError }
  /** A grain's last write completed at this target (delivery complete). */
  | { type: 'completed'; target: bigint; index: bigint; latencyNs: bigint; /** audio: samples in the window; grains: the slice the transfer ended at (the target's validSlices after it) */ count?: number }
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
  | { type: 'resumed'; target: bigint; previous: bigint; epoch: number; downtimeMs: number }
  /** A session began (every connect, first or after a failure) or ended (failure, removal). */
  | { type: 'sessionStarted'; target: bigint; epoch: number }
  | { type: 'sessionEnded'; target: bigint; epoch: number }
  /** The provider refused a write with FI_EAGAIN; it stays queued and goes out later. */
  | { type: 'deferred'; target: bigint };

/** Why a peer is failed when a write of it completed with an error, or could not be posted. */
export const writeFailed = (fiErrno: bigint | number): string => `write failed: fi errno ${fiErrno}`;
export const postFailed = (status: number): string => `fi_writemsg failed (${status})`;

export interface SessionsOptions {
  reconnectDelayMs: number;
  /** The completion queue's depth: writes posted to all peers together stay below it. */
  cqDepth: number;
}

export class Sessions {
  readonly peers = new Map<bigint, Peer>();
  private readonly byCtx = new Map<bigint, Peer>();
  private nextCtx = 1n;
  /** Grains whose local slot was overwritten before their transfer completed (protection off). */
  overruns = 0;
  /** Grains not published at a target because their local slot was reopened in flight (protection on). */
  tornPrevented = 0;

  constructor(
    private readonly connector: Connector,
    private readonly media: SenderMedia,
    private readonly liveness: Liveness,
    private readonly opts: SessionsOptions,
    private readonly emit: (e: InitiatorEvent) => void,
  ) {}

  /** The peer a completion context (or connection event) belongs to. */
  byContext(ctx: bigint): Peer | undefined { return this.byCtx.get(ctx); }

  /** A new peer for `info`, registered once its endpoint could be made (else it throws). */
  add(info: TargetInfo): void {
    const peer = new Peer(info, this.nextCtx++);
    let opened;
    try {
      this.media.attach(peer);
      opened = this.connector.open(peer);
    } catch (e) {
      peer.close('closed');
      throw e;
    }
    this.peers.set(info.id, peer);
    this.byCtx.set(peer.ctx, peer);
    this.opened(peer, opened);
  }

  /** A new session for `peer` with another TargetInfo (see Initiator.replaceTarget). */
  replace(peer: Peer, info: TargetInfo): void {
    const old = peer.info.id;
    this.media.abandoned(peer, peer.replace(info));
    this.peers.delete(old);
    this.peers.set(info.id, peer);
    try {
      this.media.attach(peer);
      this.opened(peer, this.connector.open(peer));
    } catch (e) {
      this.fail(peer, `cannot open the new session: ${(e as Error).message}`);
    }
  }

  /** Connection events, retries and liveness: one pass. */
  progress(): void {
    this.connector.poll((ctx) => this.byCtx.get(ctx), { connected: (p) => this.connected(p), failed: (p, r) => this.fail(p, r) });
    this.retryConnections();
  }

  /** Posts whatever waits in any peer's queue. */
  flushAll(): void {
    for (const p of this.peers.values()) if (p.writes.queued > 0) this.flush(p);
  }

  /** An endpoint was opened: MSG waits for its connection, RDM for the first probe to complete. */
  opened(peer: Peer, opened: OpenResult): void {
    peer.openedAtNs = process.hrtime.bigint();
    if (opened === 'ready') {
      if (this.liveness.probeOffset === undefined) return this.connected(peer);
      peer.state = 'connecting';
      this.liveness.probe(peer);
      this.flush(peer);
    } else if (opened !== 'connecting') this.fail(peer, opened.failed);
  }

  connected(peer: Peer): void {
    peer.state = 'connected';
    peer.probedAtNs = process.hrtime.bigint();
    this.emit({ type: 'connected', target: peer.id });
    this.emit({ type: 'sessionStarted', target: peer.id, epoch: peer.epoch });
    if (peer.resumeFrom !== undefined) {
      this.emit({ type: 'resumed', target: peer.id, previous: peer.resumeFrom, epoch: peer.epoch, downtimeMs: Date.now() - peer.downSinceMs });
      peer.resumeFrom = undefined;
    }
    peer.downSinceMs = 0;
  }

  /** A failure: tear the connection down and retry after the back-off. */
  fail(peer: Peer, reason: string): void {
    const was = peer.state;
    this.media.abandoned(peer, peer.close(was === 'connected' ? 'down' : 'backoff', { reason, retryAt: Date.now() + this.opts.reconnectDelayMs }));
    if (was === 'connected') this.emit({ type: 'sessionEnded', target: peer.id, epoch: peer.epoch });
    if (was === 'connected') this.emit({ type: 'disconnected', target: peer.id, reason });
    else this.emit({ type: 'error', target: peer.id, error: new FabricsError('MXL_ERR_NOT_READY', `target ${peer.info.printableAddress}: ${reason}`) });
  }

  remove(peer: Peer, notify: boolean): void {
    if (peer.state === 'connected') this.emit({ type: 'sessionEnded', target: peer.id, epoch: peer.epoch });
    this.media.abandoned(peer, peer.close('closed', { graceful: true }));
    this.peers.delete(peer.id);
    this.byCtx.delete(peer.ctx);
    if (notify) this.emit({ type: 'disconnected', target: peer.id, reason: 'removed' });
  }

  /** Fails peers that stopped answering or never connected; probes idle ones. */
  checkLiveness(): void {
    const now = process.hrtime.bigint();
    this.liveness.pass(now);
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

  retryConnections(): void {
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
  flush(peer: Peer): void {
    if (!peer.ep) return;
    let posted = 0;
    for (const p of this.peers.values()) posted += p.writes.inFlight;
    const deferredBefore = peer.writes.deferred;
    // shm: never write to a target whose process exited; its region's lock may be held for
    // good (connection/shm-peer.ts, docs/sessions.md).
    const proc = peer.process;
    const rc = peer.writes.flush(peer.ep, this.connector.dest(peer), peer.ctx, this.opts.cqDepth - posted, proc && (() => !proc.exited()));
    if (peer.writes.deferred !== deferredBefore) this.emit({ type: 'deferred', target: peer.id });
    if (rc === PEER_GONE) {
      peer.exitedAddress = peer.info.printableAddress;
      this.fail(peer, proc?.releasedLock ? 'the target process has exited holding its region lock (freed)' : 'the target process has exited');
    } else if (rc !== 0) this.fail(peer, postFailed(rc));
  }

  /**
   * A per-peer record of the native follow loop (engine/native-follow.ts): the same
   * counters and events as written() gives the writes JavaScript posted.
   */
  nativeRecord(peer: Peer, kind: number, ev: Float64Array, o: number, count?: number): void {
    const index = BigInt(ev[o + FollowRecord.INDEX]);
    switch (kind) {
      case FollowKind.COMPLETED:
      case FollowKind.OVERRUN:
      case FollowKind.TORN:
        peer.lastAnswerMs = Date.now();
        peer.bytes += ev[o + FollowRecord.COUNT];
        this.finished(peer, kind === FollowKind.TORN ? 'torn' : kind === FollowKind.OVERRUN ? 'overrun' : 'done', index, BigInt(ev[o + FollowRecord.EXTRA]), count);
        return;
      case FollowKind.DEFERRED:
        peer.writes.deferred++;
        this.emit({ type: 'deferred', target: peer.id });
        return;
      case FollowKind.SKIPPED:
        peer.skipped++;
        return;
    }
  }

  /** One write completed at `peer`. */
  written(peer: Peer, w: Write, doneNs: bigint): void {
    peer.lastAnswerMs = Date.now();
    if (peer.state === 'connecting') this.connected(peer); // RDM: the target answered
    if (w.probe) return;
    peer.bytes += w.bytes;
    const outcome = this.media.completed(peer, w);
    if (outcome === 'partial') {
      if (peer.writes.queued > 0) this.flush(peer);
      return;
    }
    this.finished(peer, outcome, w.index, doneNs - w.postNs, w.count ?? w.group?.endSlice);
    if (outcome === 'torn') this.flush(peer);
  }

  /** A transfer is over: the counters and events of its outcome, whichever loop carried it. */
  private finished(peer: Peer, outcome: 'done' | 'overrun' | 'torn', index: bigint, latencyNs: bigint, count?: number): void {
    if (outcome === 'torn') {
      this.tornPrevented++;
      peer.tornPrevented++;
      this.emit({ type: 'torn', target: peer.id, index });
      return;
    }
    peer.grains++;
    if (outcome === 'overrun') {
      this.overruns++;
      this.emit({ type: 'overrun', target: peer.id, index });
    }
    this.emit({ type: 'completed', target: peer.id, index, latencyNs, count });
  }
}

/**
 * Two regions naming the same remote memory (address and key) would make grains of one
 * slot land in another's memory, where the target finds a header that does not belong.
 */
export function checkDistinctRegions(info: TargetInfo): void {
  const seen = new Map<string, number>();
  info.regions.forEach((r, i) => {
    const key = `${r.addr}:${r.rkey}`;
    const j = seen.get(key);
    if (j !== undefined) throw new FabricsError('MXL_ERR_INVALID_ARG', `TargetInfo regions[${i}] is the same memory as regions[${j}] (address ${r.addr}, key ${r.rkey})`, { field: `regions[${i}]` });
    seen.set(key, i);
  });
}
