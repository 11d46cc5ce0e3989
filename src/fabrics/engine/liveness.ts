/**
 * Truthful liveness for an initiator's peers. A peer is 'connected' only once the target
 * proved it is there: the MSG connection was accepted, or (RDM, which has no connection)
 * a write to it completed. While a connected peer moves nothing, a probe goes to it every
 * `probeIntervalMs`: a one-byte write of 0, without immediate data, to a byte of region 0
 * that is zero whoever wrote it (libfabric 1.17's shm never completes a zero-byte write):
 * grains, the last byte of the grain header padding (specified as zero); audio, the top
 * byte of bounce entry 0's u64 sample count (a count is at most an entry's capacity, so
 * that byte is 0 in every header, and in an entry never written; docs/sessions.md "Audio
 * peers"). It raises no completion at the target, ours or upstream's, but needs the target
 * endpoint to answer. A peer whose oldest write has had no completion
 * for `stallTimeoutMs`, or that is still connecting after `connectTimeoutMs`, is down.
 * A gone target is thus found within probeIntervalMs + stallTimeoutMs (2 s by default) of
 * progress calls; time the application did not call makeProgress does not count.
 */
import { addon } from '../../native/index.js';
import type { NativeDomain, NativeMemoryRegion } from '../../native/fabric.js';
import { randomKey } from '../fabric-setup.js';
import { FI } from '../provider-config.js';
import type { Peer } from './peer.js';

/** Why a peer whose oldest write has had no completion for `ms` is down. */
export const stallReason = (ms: number): string => `no write completion for ${ms} ms: the target stopped responding (process gone or stalled)`;

export interface LivenessOptions {
  connectTimeoutMs: number;
  stallTimeoutMs: number;
  probeIntervalMs: number;
}

export class Liveness {
  private readonly mr: NativeMemoryRegion;
  private readonly stallNs: bigint;
  private lastCheckNs = 0n;
  /**
   * Timeouts count from here at the earliest: when the application had not driven progress
   * for a while, completions could not be read meanwhile, and that is no sign of the target.
   */
  private graceFromNs = 0n;

  /** `probeOffset`: the byte in region 0 a probe writes (undefined: this media is not probed). */
  constructor(domain: NativeDomain, readonly opts: LivenessOptions, readonly probeOffset: number | undefined) {
    const buf = new ArrayBuffer(8);
    this.mr = new (addon().MemoryRegion)(domain, buf, 0, buf.byteLength, FI.WRITE, randomKey());
    this.stallNs = BigInt(Math.ceil(opts.stallTimeoutMs * 1e6));
  }

  /** Queues a probe on `peer` (RDM: the first write after opening proves the target is there). */
  probe(peer: Peer, nowNs = process.hrtime.bigint()): void {
    if (this.probeOffset === undefined) return;
    const r = peer.info.regions[0];
    peer.writes.push({ index: -1n, postNs: nowNs, bytes: 1, segs: [[this.mr, 0, 1]], remoteAddr: r.addr + BigInt(this.probeOffset), rkey: r.rkey, immediate: -1, last: false, probe: true });
    peer.probedAtNs = nowNs;
  }

  /** Whether an idle connected peer is due a probe. */
  due(peer: Peer, nowNs: bigint): boolean {
    return this.probeOffset !== undefined && peer.state === 'connected' && peer.writes.size === 0 && nowNs - peer.probedAtNs >= BigInt(this.opts.probeIntervalMs) * 1_000_000n;
  }

  /** Called once per liveness pass, before the verdicts. */
  pass(nowNs: bigint): void {
    if (nowNs - this.lastCheckNs > this.stallNs / 2n) this.graceFromNs = nowNs;
    this.lastCheckNs = nowNs;
  }

  /** Why `peer` is down now, or undefined while it is alive or may still answer. */
  verdict(peer: Peer, nowNs: bigint): string | undefined {
    const oldest = peer.writes.oldest();
    const since = (t: bigint): bigint => nowNs - (t > this.graceFromNs ? t : this.graceFromNs);
    if (oldest && since(oldest.postNs) > this.stallNs) {
      return stallReason(this.opts.stallTimeoutMs);
    }
    if (peer.state === 'connecting' && since(peer.openedAtNs) > BigInt(this.opts.connectTimeoutMs) * 1_000_000n) {
      return `no answer from ${peer.info.printableAddress} within ${this.opts.connectTimeoutMs} ms (connectTimeoutMs): is a target running at that address?`;
    }
    return undefined;
  }

  close(): void { this.mr.close(); }
}
