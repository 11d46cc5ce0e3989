/**
 * A destination reader of one bench stream: a worker_thread (dest-reader-worker.ts) that
 * reads the target flow as an MXL application would, times end-to-end latency when it wakes
 * with the grain complete and verifies the payload there. It stands in for the
 * application's own reader, so its thread's CPU is reported apart from what carrying the
 * flow costs (docs/bench.md, "Reading the report").
 */
import { Worker } from 'node:worker_threads';
import type { Rational } from '../../src/domain/index.js';

/** What a reader worker is given (its workerData). */
export interface DestReaderJob {
  domain: string;
  flowId: string;
  kind: 'video' | 'audio';
  rate: Rational;
  /** Audio: samples per window the source commits. */
  windowSamples?: number;
  paced: boolean;
  verify: boolean;
  /** One grain (or audio window) period in ms: above it a paced grain is late. */
  periodMs: number;
  /**
   * Paced: the first this many grains (or windows) the reader times are its warm-up: verified
   * and counted, but their latency is left out and a late one counts as lateWarmup.
   */
  warmupUnits: number;
  /** CTL_BYTES of control words, see CTL. */
  ctl: SharedArrayBuffer;
}

/** What a reader counts; its batches carry the deltas, DestReader.counts the sums. */
export interface ReaderCounts {
  verified: number; corrupt: number; unverified: number;
  /** Paced, above one period: after the warm-up (late) and in it (lateWarmup). */
  late: number; lateWarmup: number;
  /** Grains the reader found missing from the flow (never landed: lost or skipped at the source). */
  missing: number;
}
export const noReaderCounts = (): ReaderCounts => ({ verified: 0, corrupt: 0, unverified: 0, late: 0, lateWarmup: 0, missing: 0 });

/** Int32 words of the control buffer, then one BigInt64 at byte 8: the index a flush must reach. */
export const CTL = { STOP: 0, FLUSH_SEQ: 1, UNTIL_BYTE: 8 } as const;
export const CTL_BYTES = 16;
/** How often a reader posts what it counted. */
export const BATCH_MS = 100;
/** A flush the reader cannot satisfy (the grain never comes) is answered after this anyway. */
export const FLUSH_GIVE_UP_MS = 1000;

export type DestReaderMessage =
  | { type: 'ready'; tid: string }
  | (ReaderCounts & {
      type: 'batch';
      /** End-to-end samples as pairs [ms, wall time of the sample in ms since the epoch]. */
      e2e: Float64Array;
      /** Video: the same wake minus the commit stamp in the payload, same pairs. */
      commitToSeen: Float64Array;
      /** The flush request this batch answers, if any. */
      flushed?: number;
    })
  | { type: 'error'; message: string };

/** The job's fields (but the control buffer, which the reader makes) and where its figures go. */
export interface DestReaderOptions extends Omit<DestReaderJob, 'ctl'> {
  /** Each end-to-end sample: ms, and when it was taken (performance.now() of this thread). */
  onSample: (ms: number, at: number) => void;
  /** Video: each wake minus the grain's commit stamp, same arguments. */
  onCommitToSeen?: (ms: number, at: number) => void;
  log?: (s: string) => void;
}

export class DestReader {
  /** Counted by the reader so far (what its batches delivered). */
  readonly counts = noReaderCounts();
  /** The reader thread's id (for /proc/self/task/TID/stat), once ready. */
  tid?: string;
  error?: string;
  private readonly worker: Worker;
  private readonly ctl32: Int32Array;
  private readonly ctl64: BigInt64Array;
  private seq = 0;
  private readonly flushWaiters = new Map<number, () => void>();
  private readonly readyP: Promise<void>;
  private readonly exited: Promise<void>;

  constructor(private readonly o: DestReaderOptions) {
    const ctl = new SharedArrayBuffer(CTL_BYTES);
    this.ctl32 = new Int32Array(ctl, 0, 2);
    this.ctl64 = new BigInt64Array(ctl, CTL.UNTIL_BYTE, 1);
    const job: DestReaderJob = { domain: o.domain, flowId: o.flowId, kind: o.kind, rate: o.rate, windowSamples: o.windowSamples, paced: o.paced, verify: o.verify, periodMs: o.periodMs, warmupUnits: o.warmupUnits, ctl };
    this.worker = new Worker(new URL('./dest-reader-worker.js', import.meta.url), { workerData: job });
    this.exited = new Promise((r) => this.worker.once('exit', () => r()));
    this.readyP = new Promise((resolve, reject) => {
      this.worker.on('message', (m: DestReaderMessage) => {
        if (m.type === 'ready') { this.tid = m.tid; resolve(); } else if (m.type === 'error') { this.fail(m.message); reject(new Error(m.message)); } else this.batch(m);
      });
      this.worker.once('error', (e) => { this.fail(e.stack ?? String(e)); reject(e); });
      this.worker.once('exit', () => { reject(new Error(`reader of ${o.flowId} exited before ready`)); this.releaseAll(); });
    });
  }

  /** Resolves once the reader has the flow open and waits for its first grain. */
  ready(): Promise<void> { return this.readyP; }

  /**
   * Resolves once the reader has handled every grain up to `until` (video: the last complete
   * grain the main thread saw arrive; audio: its last head; -1n: none) and reported it, or
   * after the reader gave up on it; false when nothing answered within timeoutMs.
   */
  flush(until: bigint, timeoutMs = 3000): Promise<boolean> {
    if (this.error !== undefined || this.tid === undefined) return Promise.resolve(false);
    const seq = ++this.seq;
    Atomics.store(this.ctl64, 0, until);
    Atomics.store(this.ctl32, CTL.FLUSH_SEQ, seq);
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.flushWaiters.delete(seq); resolve(false); }, timeoutMs);
      this.flushWaiters.set(seq, () => { clearTimeout(t); resolve(true); });
    });
  }

  /** Stops the reader (it notices within one wait slice, at most 50 ms) and waits for its exit. */
  async stop(): Promise<void> {
    Atomics.store(this.ctl32, CTL.STOP, 1);
    const t = setTimeout(() => void this.worker.terminate(), 2000);
    await this.exited;
    clearTimeout(t);
  }

  private batch(m: Extract<DestReaderMessage, { type: 'batch' }>): void {
    for (const k of Object.keys(this.counts) as (keyof DestReader['counts'])[]) this.counts[k] += m[k];
    // Wall time (epoch ms) to this thread's performance.now().
    for (let i = 0; i + 1 < m.e2e.length; i += 2) this.o.onSample(m.e2e[i], m.e2e[i + 1] - performance.timeOrigin);
    for (let i = 0; i + 1 < m.commitToSeen.length; i += 2) this.o.onCommitToSeen?.(m.commitToSeen[i], m.commitToSeen[i + 1] - performance.timeOrigin);
    if (m.flushed !== undefined) {
      // A batch answers its request and every earlier one.
      for (const [s, done] of this.flushWaiters) if (s <= m.flushed) { this.flushWaiters.delete(s); done(); }
    }
  }

  private fail(message: string): void {
    this.error = message;
    this.o.log?.(`bench reader of flow ${this.o.flowId}: ${message}`);
    this.releaseAll();
  }

  private releaseAll(): void {
    for (const done of this.flushWaiters.values()) done();
    this.flushWaiters.clear();
  }
}
