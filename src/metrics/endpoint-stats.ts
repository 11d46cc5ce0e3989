/**
 * Per-endpoint statistics in a SharedArrayBuffer.
 *
 * A busy-polling endpoint worker never runs its event loop, so it cannot own prom-client
 * metrics. Instead it bumps 64-bit words in a "stats SAB" and the main thread's exporter
 * reads them when Prometheus scrapes (docs/metrics.md, "pattern B").
 *
 * Writer rules (one writer per buffer: the endpoint's worker, or its C++ poller):
 * - Every word is 64 bits, little-endian. Counters are unsigned, gauges are signed
 *   two's-complement, at the word offsets in {@link Word} and {@link STATS_LAYOUT}.
 * - The JS writer updates a word as two Int32 halves with `Atomics.store`. V8 allocates a
 *   BigInt for every `Atomics.add` on a BigUint64Array and a heap number for Uint32 values
 *   ≥ 2^31 (measured on Node 20), so Int32 halves are the only zero-allocation route.
 *   When a write changes the high half (a carry), the writer makes the sequence word odd
 *   for the duration, so a reader that saw the sequence change or odd retries.
 * - A native writer may instead update whole words with 64-bit atomics (they never tear)
 *   and ignore the sequence word.
 * The reader (main thread) loads whole words with `Atomics.load` on a BigInt64Array.
 */
import { FabricsError } from '../errors.js';
import { DROP_REASONS, type DropReason } from '../fabrics/media/drops.js';

/** 'MXLS' in the first Int32: tells a stats SAB from any other SharedArrayBuffer. */
export const STATS_MAGIC = 0x534c584d;
/** Bumped whenever a word moves; a reader refuses a buffer of another version. */
export const STATS_LAYOUT_VERSION = 4;

/** Fixed latency buckets (upper bounds, seconds): 25 µs (loopback RDMA write) to 1 s. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  25e-6, 50e-6, 100e-6, 250e-6, 500e-6,
  1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1,
]);
/** Bucket bounds in integer nanoseconds, for an exact, allocation-free search. */
const BUCKET_BOUNDS_NS = new Float64Array(LATENCY_BUCKETS_SECONDS.map((s) => Math.round(s * 1e9)));
/** Finite buckets plus the +Inf overflow slot. */
const BUCKET_SLOTS = LATENCY_BUCKETS_SECONDS.length + 1;

/**
 * Latency stages (histogram `stage` label). Numeric so the hot path passes a small integer.
 * - transfer: initiator, transfer posted → its completion reaped.
 * - commit: target, write arrival (immediate reaped) → grain committed into the local flow.
 * - source: target, the grain's source timestamp (TAI) → arrival; crosses hosts, so it
 *   includes clock offset (negative values are counted as 0).
 */
export const LatencyStage = { transfer: 0, commit: 1, source: 2 } as const;
export type LatencyStageName = keyof typeof LatencyStage;
export type LatencyStageIndex = (typeof LatencyStage)[LatencyStageName];
export const LATENCY_STAGES: readonly LatencyStageName[] = Object.freeze(['transfer', 'commit', 'source']);

/**
 * Fixed completion-error classes (label `code`). libfabric CQ error numbers map onto these
 * with {@link completionErrorSlot}; anything unknown is 'other', so the label stays bounded.
 */
export const COMPLETION_ERROR_CODES = Object.freeze([
  'canceled', 'truncated', 'remote_access', 'connection', 'timeout', 'overrun', 'io', 'other',
] as const);
export type CompletionErrorCode = (typeof COMPLETION_ERROR_CODES)[number];

/**
 * Why an initiator did not post a transfer to a target (label `reason` of
 * mxl_fabrics_transfers_skipped_total), counted per target skipped:
 * - not_connected: the target was connecting or backing off after a failure.
 * - in_flight_limit: the target already had maxInFlight writes posted or queued.
 * - source_overwritten: the grain (or samples) left the source ring before it was posted.
 * - fell_behind: follow mode fell more than the source ring behind and jumped ahead.
 * - invalid_request: an API transfer request the initiator refused (bad index or range).
 */
export const SKIP_REASONS = Object.freeze(['not_connected', 'in_flight_limit', 'source_overwritten', 'fell_behind', 'invalid_request'] as const);
export type SkipReason = (typeof SKIP_REASONS)[number];

// Why a target dropped a write (label `reason` of mxl_fabrics_immediates_dropped_total):
// the engine's DROP_REASONS (src/fabrics/media/drops.ts), one definition for both.

/**
 * Why an initiator lost (or could not reach) a target (label `reason` of
 * mxl_fabrics_peer_failures_total):
 * - connect_failed: a connection attempt failed (refused, unreachable, rejected).
 * - connection_lost: the target closed the connection or the connection broke.
 * - stall_timeout: no write completion for the stall timeout (target gone or stalled).
 * - write_error: a write completed with an error (also counted by code in completion errors).
 * - endpoint_error: a local endpoint could not be created or a post failed.
 */
export const PEER_FAILURE_REASONS = Object.freeze(['connect_failed', 'connection_lost', 'stall_timeout', 'write_error', 'endpoint_error'] as const);
export type PeerFailureReason = (typeof PEER_FAILURE_REASONS)[number];

/** Targets an initiator's stats track one by one (peer area); later ones are only counted in totals. */
export const MAX_TRACKED_PEERS = 16;

/** Word offsets (64-bit words) of the scalar fields. */
export const Word = {
  /** Int32[0] = STATS_MAGIC, Int32[1] = STATS_LAYOUT_VERSION. */
  HEADER: 0,
  /** Int32[2] = sequence (odd while a multi-half write is in progress), Int32[3] = bucket slots. */
  SEQ: 1,
  // --- counters (u64) ---
  GRAINS: 2,
  SLICES: 3,
  SAMPLES: 4,
  SAMPLE_BATCHES: 5,
  BYTES: 6,
  COMMITS: 7,
  RING_OVERFLOWS: 8,
  PEER_CONNECTS: 9,
  PEER_DISCONNECTS: 10,
  POLL_ITERATIONS: 11,
  POLL_BUSY_ITERATIONS: 12,
  // --- gauges (i64) ---
  PEERS_CONNECTED: 13,
  /** -1 until the first grain. */
  LAST_GRAIN_INDEX: 14,
  FLOW_LAG_GRAINS: 15,
  // --- fault and session counters (u64) ---
  WRITES_DEFERRED: 16,
  OVERRUNS: 17,
  TORN_GRAINS_PREVENTED: 18,
  RECONNECTS: 19,
  SESSIONS_STARTED: 20,
  SESSIONS_ENDED: 21,
  INITIATORS_REFUSED: 22,
  /** Target: copies of a grain range another connection had already landed (redundant senders). */
  DUPLICATES: 23,
  /** First of COMPLETION_ERROR_CODES.length counters, in that order. */
  COMPLETION_ERRORS: 24,
  /** First of SKIP_REASONS.length counters. */
  SKIPPED: 24 + COMPLETION_ERROR_CODES.length,
  /** First of DROP_REASONS.length counters. */
  DROPS: 24 + COMPLETION_ERROR_CODES.length + SKIP_REASONS.length,
  /** First of PEER_FAILURE_REASONS.length counters. */
  PEER_FAILURES: 24 + COMPLETION_ERROR_CODES.length + SKIP_REASONS.length + DROP_REASONS.length,
} as const;

const HIST_BASE = Word.PEER_FAILURES + PEER_FAILURE_REASONS.length;
/** Per stage: BUCKET_SLOTS non-cumulative bucket counters, then the sum in nanoseconds. */
const HIST_STRIDE = BUCKET_SLOTS + 1;
/**
 * Peer area (initiators): MAX_TRACKED_PEERS entries of PEER_STRIDE words each:
 * target id (u64, 0 = free), up (gauge 0/1, -1 = removed), completions (counter), last completion (gauge,
 * Unix time in ms).
 */
const PEER_BASE = HIST_BASE + LATENCY_STAGES.length * HIST_STRIDE;
export const PEER_STRIDE = 4;
export const PeerWord = { ID: 0, UP: 1, COMPLETIONS: 2, LAST_COMPLETION_MS: 3 } as const;
const TOTAL_WORDS = PEER_BASE + MAX_TRACKED_PEERS * PEER_STRIDE;

/** The layout in one object, for docs, tests and a native writer's static asserts. */
export const STATS_LAYOUT = Object.freeze({
  version: STATS_LAYOUT_VERSION,
  words: TOTAL_WORDS,
  bytes: TOTAL_WORDS * 8,
  histogramBase: HIST_BASE,
  histogramStride: HIST_STRIDE,
  bucketSlots: BUCKET_SLOTS,
  peerBase: PEER_BASE,
  peerStride: PEER_STRIDE,
});

/** Word of field `field` (a PeerWord) of peer entry `slot`. */
export const peerWord = (slot: number, field: number): number => PEER_BASE + slot * PEER_STRIDE + field;

/** Word of bucket `slot` (0..BUCKET_SLOTS-1, last = +Inf) of a stage's histogram. */
export const histogramBucketWord = (stage: LatencyStageIndex, slot: number): number => HIST_BASE + stage * HIST_STRIDE + slot;
/** Word holding a stage's latency sum in nanoseconds. */
export const histogramSumWord = (stage: LatencyStageIndex): number => HIST_BASE + stage * HIST_STRIDE + BUCKET_SLOTS;

const TWO32 = 4294967296;

/** Maps a libfabric / errno value (either sign) to its slot in COMPLETION_ERROR_CODES. */
export function completionErrorSlot(fiErrno: number): number {
  switch (fiErrno < 0 ? -fiErrno : fiErrno) {
    case 125: return 0; // ECANCELED
    case 265: case 90: return 1; // FI_ETRUNC, EMSGSIZE
    case 121: case 13: case 1: case 266: case 129: return 2; // EREMOTEIO, EACCES, EPERM, FI_ENOKEY, EKEYREJECTED
    case 104: case 103: case 107: case 111: case 113: return 3; // ECONNRESET, ECONNABORTED, ENOTCONN, ECONNREFUSED, EHOSTUNREACH
    case 110: return 4; // ETIMEDOUT
    case 268: return 5; // FI_EOVERRUN
    case 5: case 264: return 6; // EIO, FI_ECRC
    default: return 7;
  }
}

/** A point-in-time copy of every field, as plain numbers (exact below 2^53). */
export interface EndpointStatsSnapshot {
  grains: number;
  slices: number;
  samples: number;
  sampleBatches: number;
  bytes: number;
  commits: number;
  ringOverflows: number;
  peerConnects: number;
  peerDisconnects: number;
  pollIterations: number;
  pollBusyIterations: number;
  peersConnected: number;
  /** -1 until the first grain. */
  lastGrainIndex: number;
  flowLagGrains: number;
  writesDeferred: number;
  overruns: number;
  tornGrainsPrevented: number;
  reconnects: number;
  sessionsStarted: number;
  sessionsEnded: number;
  initiatorsRefused: number;
  duplicates: number;
  completionErrors: Record<CompletionErrorCode, number>;
  skipped: Record<SkipReason, number>;
  drops: Record<DropReason, number>;
  peerFailures: Record<PeerFailureReason, number>;
  /** Initiators: the tracked targets (target id as a decimal string). */
  peers: Array<{ targetId: string; up: boolean; completions: number; lastCompletionMs: number }>;
  latency: Record<LatencyStageName, { buckets: number[]; sumSeconds: number; count: number }>;
}

export class EndpointStats {
  /** The shared buffer: hand it to the worker (workerData / postMessage) and attach there. */
  readonly buffer: SharedArrayBuffer;
  private readonly i32: Int32Array;
  private readonly i64: BigInt64Array;
  /** Reader side: the last consistent value of each word (see read()). */
  private readonly lastGood = new Float64Array(TOTAL_WORDS);

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer, 0, TOTAL_WORDS * 2);
    this.i64 = new BigInt64Array(buffer, 0, TOTAL_WORDS);
    this.lastGood[Word.LAST_GRAIN_INDEX] = -1;
  }

  /** Allocates and initialises a zeroed stats buffer (main thread, once per endpoint). */
  static create(): EndpointStats {
    const s = new EndpointStats(new SharedArrayBuffer(STATS_LAYOUT.bytes));
    Atomics.store(s.i32, 0, STATS_MAGIC);
    Atomics.store(s.i32, 1, STATS_LAYOUT_VERSION);
    Atomics.store(s.i32, 3, BUCKET_SLOTS);
    s.setGauge(Word.LAST_GRAIN_INDEX, -1);
    return s;
  }

  /** Wraps a buffer made by {@link create} (in the worker, or again on the main thread). */
  static attach(buffer: SharedArrayBuffer): EndpointStats {
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', 'EndpointStats.attach needs a SharedArrayBuffer', { field: 'buffer' });
    }
    if (buffer.byteLength < STATS_LAYOUT.bytes) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', `stats buffer is ${buffer.byteLength} bytes, layout v${STATS_LAYOUT_VERSION} needs ${STATS_LAYOUT.bytes}`, { field: 'buffer' });
    }
    const head = new Int32Array(buffer, 0, 4);
    if (Atomics.load(head, 0) !== STATS_MAGIC || Atomics.load(head, 1) !== STATS_LAYOUT_VERSION || Atomics.load(head, 3) !== BUCKET_SLOTS) {
      throw new FabricsError('MXL_ERR_INVALID_ARG', `not an mxl-fabrics stats buffer of layout v${STATS_LAYOUT_VERSION}`, { field: 'buffer' });
    }
    return new EndpointStats(buffer);
  }

  // ------------------------------------------------------------------ writer (hot path)

  /**
   * Adds a non-negative integer to a counter word. Zero allocation for n < 2^31; larger n
   * still works (the carry path handles any n below 2^53).
   */
  add(word: number, n: number): void {
    const j = word << 1;
    const lo = (this.i32[j] >>> 0) + n;
    if (lo < TWO32) Atomics.store(this.i32, j, lo | 0);
    else this.carry(j, lo);
  }

  // Rare paths live in their own methods so add()/setGauge() stay small enough for V8 to
  // inline into the worker's loop: a double argument to a call that is not inlined is boxed.
  private carry(j: number, lo: number): void {
    const i32 = this.i32;
    const c = Math.floor(lo / TWO32);
    Atomics.add(i32, 2, 1); // sequence odd: readers retry
    Atomics.store(i32, j, (lo - c * TWO32) | 0);
    Atomics.store(i32, j + 1, ((i32[j + 1] >>> 0) + c) | 0);
    Atomics.add(i32, 2, 1);
  }

  private setBoth(j: number, lo: number, hi: number): void {
    Atomics.add(this.i32, 2, 1);
    Atomics.store(this.i32, j, lo);
    Atomics.store(this.i32, j + 1, hi);
    Atomics.add(this.i32, 2, 1);
  }

  /** Sets a gauge word to an integer in ±2^53. */
  setGauge(word: number, v: number): void {
    const j = word << 1;
    const hi = Math.floor(v / TWO32) | 0;
    const lo = (v - hi * TWO32) | 0;
    // High half unchanged (the common case): one 32-bit store cannot tear.
    if (hi === this.i32[j + 1]) Atomics.store(this.i32, j, lo);
    else this.setBoth(j, lo, hi);
  }

  /** A whole discrete grain moved (initiator: write completed; target: grain arrived). */
  grain(bytes: number): void {
    this.add(Word.GRAINS, 1);
    this.add(Word.BYTES, bytes);
  }

  /** A partial grain (slice range) moved; count the grain itself with grain(0) when it completes. */
  slice(bytes: number): void {
    this.add(Word.SLICES, 1);
    this.add(Word.BYTES, bytes);
  }

  /** A batch of `samples` audio samples (per channel) moved, carrying `bytes`. */
  samples(samples: number, bytes: number): void {
    this.add(Word.SAMPLE_BATCHES, 1);
    this.add(Word.SAMPLES, samples);
    this.add(Word.BYTES, bytes);
  }

  /** Target: one grain or sample batch committed into the local flow. */
  commit(): void { this.add(Word.COMMITS, 1); }
  /** Target: a write dropped, by reason (see DROP_REASONS). */
  dropped(reason: DropReason): void { this.add(Word.DROPS + DROP_REASONS.indexOf(reason), 1); }
  /** Initiator: `n` per-target transfers not posted, by reason (see SKIP_REASONS). */
  transferSkipped(reason: SkipReason, n = 1): void { this.add(Word.SKIPPED + SKIP_REASONS.indexOf(reason), n); }
  /** Initiator: a write the provider refused with FI_EAGAIN and that was queued for later. */
  writeDeferred(): void { this.add(Word.WRITES_DEFERRED, 1); }
  /** Initiator: a transfer completed after its source slot was overwritten (the target may hold a torn grain). */
  overrun(): void { this.add(Word.OVERRUNS, 1); }
  /** A grain that would have been torn was not delivered as valid (the session engine's guard). */
  tornGrainPrevented(): void { this.add(Word.TORN_GRAINS_PREVENTED, 1); }
  /** Initiator: a target connected again after it had been connected before. */
  reconnected(): void { this.add(Word.RECONNECTS, 1); }
  /** A session with a peer started / ended (the session engine). */
  sessionStarted(): void { this.add(Word.SESSIONS_STARTED, 1); }
  sessionEnded(): void { this.add(Word.SESSIONS_ENDED, 1); }
  /** Target: an initiator's connection request refused or failed to be accepted. */
  initiatorRefused(): void { this.add(Word.INITIATORS_REFUSED, 1); }
  /** Target: `n` more copies of grain ranges another connection had already landed. */
  duplicates(n: number): void { this.add(Word.DUPLICATES, n); }
  /** Initiator: a target failed or could not be reached, by reason. */
  peerFailed(reason: PeerFailureReason): void { this.add(Word.PEER_FAILURES + PEER_FAILURE_REASONS.indexOf(reason), 1); }

  /** Sum of the skipped-transfer counters (the CLI's progress line). */
  skippedTotal(): number {
    let n = 0;
    for (let i = 0; i < SKIP_REASONS.length; i++) n += this.read(Word.SKIPPED + i);
    return n;
  }

  /**
   * Initiator peer area: the slot of a target id, claiming a free one on first sight
   * (-1 when all MAX_TRACKED_PEERS are taken). Only the worker calls this.
   */
  peerSlot(targetId: bigint): number {
    const id = BigInt.asIntN(64, targetId);
    for (let i = 0; i < MAX_TRACKED_PEERS; i++) {
      const w = peerWord(i, PeerWord.ID);
      const v = this.i64[w];
      if (v === id) return i;
      if (v === 0n) {
        const j = w << 1;
        this.setBoth(j, Number(id & 0xffffffffn) | 0, Number((id >> 32n) & 0xffffffffn) | 0);
        return i;
      }
    }
    return -1;
  }

  /** Initiator: a tracked target is up (connected) or not. */
  peerUp(slot: number, up: boolean): void {
    if (slot >= 0) this.setGauge(peerWord(slot, PeerWord.UP), up ? 1 : 0);
  }

  /** Initiator: a tracked target was removed (its entry is kept but no longer reported). */
  peerRemoved(slot: number): void {
    if (slot >= 0) this.setGauge(peerWord(slot, PeerWord.UP), -1);
  }

  /** Initiator: a write to a tracked target completed at `nowMs` (Unix ms). */
  peerCompleted(slot: number, nowMs: number): void {
    if (slot < 0) return;
    this.add(peerWord(slot, PeerWord.COMPLETIONS), 1);
    this.setGauge(peerWord(slot, PeerWord.LAST_COMPLETION_MS), nowMs);
  }

  /** Reader: the tracked targets, in slot order. */
  peers(): EndpointStatsSnapshot['peers'] {
    const out: EndpointStatsSnapshot['peers'] = [];
    for (let i = 0; i < MAX_TRACKED_PEERS; i++) {
      const w = peerWord(i, PeerWord.ID);
      let id = 0n;
      for (let tries = 0; tries < 10_000; tries++) {
        const s1 = Atomics.load(this.i32, 2);
        if ((s1 & 1) !== 0) continue;
        id = Atomics.load(this.i64, w);
        if (Atomics.load(this.i32, 2) === s1) break;
      }
      if (id === 0n) break;
      const up = this.read(peerWord(i, PeerWord.UP));
      if (up < 0) continue; // removed
      out.push({
        targetId: BigInt.asUintN(64, id).toString(),
        up: up === 1,
        completions: this.read(peerWord(i, PeerWord.COMPLETIONS)),
        lastCompletionMs: this.read(peerWord(i, PeerWord.LAST_COMPLETION_MS)),
      });
    }
    return out;
  }
  /** Notification records the main thread did not drain in time (ring full). */
  ringOverflow(n = 1): void { this.add(Word.RING_OVERFLOWS, n); }

  /** A completion error; pass the libfabric error number (either sign). */
  completionError(fiErrno: number): void { this.add(Word.COMPLETION_ERRORS + completionErrorSlot(fiErrno), 1); }

  /** A peer connected; `connected` is the new number of connected peers. */
  peerConnected(connected: number): void {
    this.add(Word.PEER_CONNECTS, 1);
    this.setGauge(Word.PEERS_CONNECTED, connected);
  }

  /** A peer went away; `connected` is the new number of connected peers. */
  peerDisconnected(connected: number): void {
    this.add(Word.PEER_DISCONNECTS, 1);
    this.setGauge(Word.PEERS_CONNECTED, connected);
  }

  /** The latest grain index handled, and how many grains it trails the TAI clock's index (negative = ahead). */
  grainIndex(index: number, lagGrains: number): void {
    this.setGauge(Word.LAST_GRAIN_INDEX, index);
    this.setGauge(Word.FLOW_LAG_GRAINS, lagGrains);
  }

  /** One pass of the poll loop; `busy` when it reaped at least one completion. */
  /** `total` poll passes, `busy` of them with work (a native loop's batch). */
  pollIterations(total: number, busy: number): void {
    if (total > 0) this.add(Word.POLL_ITERATIONS, total);
    if (busy > 0) this.add(Word.POLL_BUSY_ITERATIONS, busy);
  }

  pollIteration(busy: boolean): void {
    this.add(Word.POLL_ITERATIONS, 1);
    if (busy) this.add(Word.POLL_BUSY_ITERATIONS, 1);
  }

  /** Records a latency sample in seconds. NaN is ignored; negative counts as 0. */
  observeLatency(stage: LatencyStageIndex, seconds: number): void {
    this.observeLatencyNs(stage, seconds * 1e9);
  }

  /** Records a latency sample in nanoseconds (same rules as observeLatency). */
  observeLatencyNs(stage: LatencyStageIndex, ns: number): void {
    if (!(ns > 0)) {
      if (ns !== ns) return; // NaN
      ns = 0;
    }
    ns = Math.round(ns);
    // Linear scan: 15 bounds, most samples land in the first few, no allocation.
    const bounds = BUCKET_BOUNDS_NS;
    let slot = 0;
    while (slot < bounds.length && ns > bounds[slot]) slot++;
    const base = HIST_BASE + stage * HIST_STRIDE;
    this.add(base + slot, 1);
    this.add(base + BUCKET_SLOTS, ns);
  }

  // ------------------------------------------------------------------ reader

  /**
   * Reads one word as a Number (signed for gauges; counters stay below 2^63). If the writer
   * keeps the sequence moving for 10 000 tries, returns the last consistent value read for
   * that word instead: slightly stale, never torn, and a scrape cannot hang on a writer.
   */
  read(word: number): number {
    for (let tries = 0; tries < 10_000; tries++) {
      const s1 = Atomics.load(this.i32, 2);
      if ((s1 & 1) !== 0) continue;
      const v = Atomics.load(this.i64, word);
      if (Atomics.load(this.i32, 2) === s1) return (this.lastGood[word] = Number(v));
    }
    return this.lastGood[word];
  }

  /** Cumulative bucket counts (length = buckets + 1, last = +Inf = count) and sum for a stage. */
  histogram(stage: LatencyStageIndex): { buckets: number[]; sumSeconds: number; count: number } {
    const base = HIST_BASE + stage * HIST_STRIDE;
    const buckets: number[] = new Array(BUCKET_SLOTS);
    let acc = 0;
    for (let i = 0; i < BUCKET_SLOTS; i++) {
      acc += this.read(base + i);
      buckets[i] = acc;
    }
    return { buckets, sumSeconds: this.read(base + BUCKET_SLOTS) / 1e9, count: acc };
  }

  /** Reads `keys.length` consecutive counters from `base` into a keyed record. */
  record<K extends string>(keys: readonly K[], base: number): Record<K, number> {
    const out = {} as Record<K, number>;
    keys.forEach((k, i) => { out[k] = this.read(base + i); });
    return out;
  }

  snapshot(): EndpointStatsSnapshot {
    const completionErrors = {} as Record<CompletionErrorCode, number>;
    COMPLETION_ERROR_CODES.forEach((c, i) => { completionErrors[c] = this.read(Word.COMPLETION_ERRORS + i); });
    const latency = {} as EndpointStatsSnapshot['latency'];
    for (const st of LATENCY_STAGES) latency[st] = this.histogram(LatencyStage[st]);
    return {
      grains: this.read(Word.GRAINS),
      slices: this.read(Word.SLICES),
      samples: this.read(Word.SAMPLES),
      sampleBatches: this.read(Word.SAMPLE_BATCHES),
      bytes: this.read(Word.BYTES),
      commits: this.read(Word.COMMITS),
      ringOverflows: this.read(Word.RING_OVERFLOWS),
      peerConnects: this.read(Word.PEER_CONNECTS),
      peerDisconnects: this.read(Word.PEER_DISCONNECTS),
      pollIterations: this.read(Word.POLL_ITERATIONS),
      pollBusyIterations: this.read(Word.POLL_BUSY_ITERATIONS),
      peersConnected: this.read(Word.PEERS_CONNECTED),
      lastGrainIndex: this.read(Word.LAST_GRAIN_INDEX),
      flowLagGrains: this.read(Word.FLOW_LAG_GRAINS),
      writesDeferred: this.read(Word.WRITES_DEFERRED),
      overruns: this.read(Word.OVERRUNS),
      tornGrainsPrevented: this.read(Word.TORN_GRAINS_PREVENTED),
      reconnects: this.read(Word.RECONNECTS),
      sessionsStarted: this.read(Word.SESSIONS_STARTED),
      sessionsEnded: this.read(Word.SESSIONS_ENDED),
      initiatorsRefused: this.read(Word.INITIATORS_REFUSED),
      duplicates: this.read(Word.DUPLICATES),
      completionErrors,
      skipped: this.record(SKIP_REASONS, Word.SKIPPED),
      drops: this.record(DROP_REASONS, Word.DROPS),
      peerFailures: this.record(PEER_FAILURE_REASONS, Word.PEER_FAILURES),
      peers: this.peers(),
      latency,
    };
  }
}
