/**
 * Turns what the fabrics engine reports (events, transfer results, counters) into the
 * fault counters of an endpoint's stats buffer. Runs in the endpoint worker, next to the
 * engine, so each worker call site is one line; the engine itself stays metrics-free.
 */
import { FabricsError } from '../errors.js';
import type { InitiatorEvent, PeerStatus } from '../fabrics/initiator.js';
import type { TargetEvent } from '../fabrics/target.js';
import { type EndpointStats, LatencyStage, type PeerFailureReason } from './endpoint-stats.js';

/**
 * Engine events the session engine is to emit (through onEvent, like 'overrun'); counted
 * here so the engine needs no metrics import. Returns true when `type` was one of them.
 */
export function countEngineEvent(stats: EndpointStats, type: string): boolean {
  switch (type) {
    case 'deferred': stats.writeDeferred(); return true; // a write refused with FI_EAGAIN and queued
    case 'sessionStarted': stats.sessionStarted(); return true;
    case 'sessionEnded': stats.sessionEnded(); return true;
    case 'torn': stats.tornGrainPrevented(); return true; // held back and sent as INVALID
    default: return false;
  }
}

/** Unix time in ms without allocating (performance.now() is a double). */
const nowMs = (): number => performance.timeOrigin + performance.now();

/** The fault class of an initiator's peer failure text (the engine's peerFailed reasons). */
export function peerFailureReason(text: string, wasConnected: boolean): PeerFailureReason | undefined {
  if (text === 'removed') return undefined;
  if (text.includes('write failed')) return 'write_error';
  if (text.includes('no write completion')) return 'stall_timeout';
  if (text.includes('fi_connect failed')) return 'connect_failed';
  if (text.includes('cannot create an endpoint') || text.includes('fi_writemsg failed')) return 'endpoint_error';
  return wasConnected ? 'connection_lost' : 'connect_failed';
}

/** The libfabric error number in a "write failed: fi errno N" reason, if any. */
export function completionErrno(text: string): number | undefined {
  const m = /fi errno (-?\d+)/.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Initiator side: feed every engine event through onEvent(). */
export class InitiatorFaults {
  private readonly everConnected = new Set<bigint>();
  /** Peer-area slot by target id (cached: reading a 64-bit word back would allocate a BigInt). */
  private readonly slots = new Map<bigint, number>();
  private readonly removed = new Set<bigint>();

  constructor(private readonly stats: EndpointStats) {}

  private slot(target: bigint): number {
    let n = this.slots.get(target);
    if (n === undefined) this.slots.set(target, (n = this.stats.peerSlot(target)));
    return n;
  }

  onEvent(e: InitiatorEvent): void {
    const s = this.stats;
    if (countEngineEvent(s, (e as { type: string }).type)) return;
    switch (e.type) {
      case 'completed':
        s.peerCompleted(this.slot(e.target), nowMs());
        return;
      case 'overrun':
        s.overrun();
        return;
      case 'connected':
        if (this.everConnected.has(e.target)) s.reconnected();
        this.everConnected.add(e.target);
        s.peerUp(this.slot(e.target), true);
        return;
      case 'disconnected':
        if (e.reason === 'removed') { s.peerRemoved(this.slot(e.target)); this.removed.add(e.target); }
        else s.peerUp(this.slot(e.target), false);
        this.failure(e.reason, true);
        return;
      case 'error':
        s.peerUp(this.slot(e.target), false);
        this.failure(e.error.message, false);
        return;
    }
  }

  /**
   * Runs `add` (the engine's addTarget) with the target tracked, shown down, before it:
   * its first connection event can come from inside addTarget. A failed add untracks it.
   */
  add(targetId: bigint, add: () => void): void {
    const fresh = !this.slots.has(targetId) || this.removed.has(targetId);
    const slot = this.slot(targetId);
    if (fresh) this.stats.peerUp(slot, false);
    try {
      add();
    } catch (e) {
      if (fresh) this.stats.peerRemoved(slot);
      throw e;
    }
    this.removed.delete(targetId);
  }

  private failure(text: string, wasConnected: boolean): void {
    const reason = peerFailureReason(text, wasConnected);
    if (!reason) return;
    this.stats.peerFailed(reason);
    if (reason === 'write_error') this.stats.completionError(completionErrno(text) ?? 0);
  }
}

/**
 * Counts the `skipped` per-target transfers of one transferGrain/transferSamples call by
 * reason, from the targets' state right after the call: a target that is not connected
 * now was skipped for that (or failed while posting); every other skip was the in-flight
 * limit. Called only when skipped > 0, so the hot path pays nothing.
 */
export function countSkipped(stats: EndpointStats, skipped: number, targets: readonly PeerStatus[]): void {
  let down = 0;
  for (const t of targets) if (t.state !== 'connected') down++;
  down = Math.min(down, skipped);
  if (down > 0) stats.transferSkipped('not_connected', down);
  if (skipped > down) stats.transferSkipped('in_flight_limit', skipped - down);
}

/** Why a transfer request threw: the grain left the source ring, or the request was bad. */
export function countRefusedTransfer(stats: EndpointStats, e: unknown): void {
  const code = e instanceof FabricsError ? e.code : '';
  stats.transferSkipped(code === 'MXL_ERR_OUT_OF_RANGE_TOO_LATE' ? 'source_overwritten' : 'invalid_request');
}

/** Target side: feed every engine event through onEvent(), and its counters through sync(). */
export class TargetFaults {
  private completionErrors = 0;
  private duplicates = 0;

  constructor(private readonly stats: EndpointStats) {}

  onEvent(e: TargetEvent): void {
    if (countEngineEvent(this.stats, (e as { type: string }).type)) return;
    if (e.type === 'dropped') this.stats.dropped(e.code);
    // The target's only error events are connection requests it could not accept.
    else if (e.type === 'error') this.stats.initiatorRefused();
  }

  /** Completion errors (the CQ gives no errno here) and duplicates the engine counted since the last call. */
  sync(counters: { completionErrors: number; duplicates: number }): void {
    const d = counters.completionErrors - this.completionErrors;
    for (let i = 0; i < d; i++) this.stats.completionError(0);
    this.completionErrors = counters.completionErrors;
    if (counters.duplicates > this.duplicates) this.stats.duplicates(counters.duplicates - this.duplicates);
    this.duplicates = counters.duplicates;
  }
}

/**
 * Wraps a ring's commit function so each call's duration (publishing the grain header or
 * sample head, and waking local readers) is recorded as the `commit` latency stage.
 */
export function timedCommits<R extends object>(ring: R, stats: EndpointStats, key: 'commitLanded' | 'commit'): R {
  const r = ring as Record<string, unknown>;
  const commit = r[key];
  if (typeof commit !== 'function') return ring;
  r[key] = function timedCommit(this: unknown, ...args: unknown[]): unknown {
    const t0 = performance.now();
    const v = (commit as (...a: unknown[]) => unknown).apply(this, args);
    stats.observeLatencyNs(LatencyStage.commit, (performance.now() - t0) * 1e6);
    return v;
  };
  return ring;
}
