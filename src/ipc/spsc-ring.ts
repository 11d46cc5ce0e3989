/**
 * Fixed-record single-producer / single-consumer ring in a SharedArrayBuffer.
 *
 * Layout (all little-endian, byte offsets; see docs/runtime-rings.md, which C++ follows):
 *
 *   line 0, immutable after create
 *     0  u32 magic 0x52_4C_58_4D ("MXLR")      4  u32 layout version (1)
 *     8  u32 capacity (records, power of two)  12  u32 recordLength (elements per record)
 *    16  u32 element type (3 = f64, the only one) 20 u32 dataOffset (bytes, = 256)
 *   line 1 (64), written by the producer only
 *    64  u32 tail: records published, monotonic, wraps mod 2^32
 *    68  u32 overflow: records dropped because the ring was full, wraps mod 2^32
 *    72  u32 notifies: times the producer woke a sleeping consumer
 *   line 2 (128), written by the consumer only
 *   128  u32 head: records consumed, monotonic, wraps mod 2^32
 *   132  u32 sleeps: times the consumer went to sleep on the doorbell
 *   line 3 (192), doorbell: consumer sets 1 before sleeping, producer CASes 1→0 and notifies
 *   192  i32 doorbell
 *   256  records: capacity × recordLength elements, slot i at 256 + i × recordBytes
 *
 * head and tail live on different cache lines, and the doorbell on a third, so the
 * producer's per-publish doorbell check does not bounce the line the consumer writes.
 * Counters are compared with `(tail - head) >>> 0`, which is correct across the 2^32 wrap
 * as long as capacity <= 2^31. The words are stored through an Int32Array (Atomics.wait
 * needs one); the bit patterns are the u32 values.
 *
 * Publication order: producer writes the record, then `Atomics.store(tail)`; consumer
 * `Atomics.load(tail)`, reads, then `Atomics.store(head)`. A full ring never blocks the
 * producer: the record is dropped and `overflow` is incremented.
 */

import { FabricsError } from '../errors.js';
import { armDoorbell, disarmDoorbell, ringDoorbell, assertMayBlock, checkTimeout, waitAsyncRef, DOORBELL_ARMED } from './doorbell.js';

export const RING_MAGIC = 0x524c584d; // "MXLR" read as little-endian bytes M X L R
export const RING_VERSION = 1;
export const RING_HEADER_BYTES = 256;
export const RING_MAX_CAPACITY = 2 ** 30;
export const RING_MAX_RECORD_LENGTH = 1024;

/** Int32 indexes of the header words (byte offset / 4). */
export const RingWord = {
  MAGIC: 0,
  VERSION: 1,
  CAPACITY: 2,
  RECORD_LENGTH: 3,
  ELEMENT_TYPE: 4,
  DATA_OFFSET: 5,
  TAIL: 16,
  OVERFLOW: 17,
  NOTIFIES: 18,
  HEAD: 32,
  SLEEPS: 33,
  DOORBELL: 48,
} as const;

/**
 * Record words are float64: grain indices (< 2^53) and hrtime nanoseconds fit exactly.
 * The header keeps the element-type word of layout version 1; f64 (code 3) is the only one.
 */
export const RING_ELEMENT_F64 = 3;
const ELEMENT_BYTES = Float64Array.BYTES_PER_ELEMENT;

export type RingData = Float64Array;
/** Where records are copied to / from. */
export type RecordSink = { [i: number]: number; readonly length: number };
export type RecordSource = ArrayLike<number>;
/** Zero-copy visitor: the record is `data[offset] … data[offset + recordLength - 1]`. */
export type RecordVisitor = (data: RingData, offset: number) => void;

export interface RingCreateOptions {
  /** Start value for head and tail (u32). Only useful to test the 2^32 wrap. */
  initialCounter?: number;
}

export interface RingStats {
  capacity: number;
  /** Records published so far (u32, wraps). */
  tail: number;
  /** Records consumed so far (u32, wraps). */
  head: number;
  /** Records currently in the ring. */
  size: number;
  /** Records dropped on a full ring (u32, wraps: take differences mod 2^32). */
  overflow: number;
  notifies: number;
  sleeps: number;
}

function invalid(message: string, field: string): FabricsError {
  return new FabricsError('MXL_ERR_INVALID_ARG', message, { field, op: 'SpscRing' });
}

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function checkGeometry(capacity: number, recordLength: number): void {
  if (!isPow2(capacity) || capacity < 2 || capacity > RING_MAX_CAPACITY) {
    throw invalid(`ring capacity must be a power of two in [2, 2^30] (got ${capacity})`, 'capacity');
  }
  if (!Number.isInteger(recordLength) || recordLength < 1 || recordLength > RING_MAX_RECORD_LENGTH) {
    throw invalid(`ring recordLength must be an integer in [1, ${RING_MAX_RECORD_LENGTH}] (got ${recordLength})`, 'recordLength');
  }
}

export class SpscRing {
  readonly sab: SharedArrayBuffer;
  readonly capacity: number;
  readonly recordLength: number;
  /** Record storage; slot `i` starts at element `i * recordLength`. */
  readonly data: RingData;
  /** Header words (for tests, metrics and tools; use the methods to move data). */
  readonly words: Int32Array;
  private readonly mask: number;

  // Producer-local state: tail including reserved-but-unpublished records, and the last
  // head seen (re-read only when the ring looks full, to keep off the consumer's line).
  private localTail: number;
  private headCache: number;
  private reserved = false;
  // Consumer-local state.
  private localHead: number;
  private tailCache: number;

  /** Bytes needed for a ring of this geometry. */
  static byteLengthFor(capacity: number, recordLength: number): number {
    checkGeometry(capacity, recordLength);
    return RING_HEADER_BYTES + capacity * recordLength * ELEMENT_BYTES;
  }

  /** Allocates and initialises a ring; send `ring.sab` to the other thread and `attach` there. */
  static create(capacity: number, recordLength: number, opts: RingCreateOptions = {}): SpscRing {
    const sab = new SharedArrayBuffer(SpscRing.byteLengthFor(capacity, recordLength));
    const w = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
    w[RingWord.MAGIC] = RING_MAGIC | 0;
    w[RingWord.VERSION] = RING_VERSION;
    w[RingWord.CAPACITY] = capacity;
    w[RingWord.RECORD_LENGTH] = recordLength;
    w[RingWord.ELEMENT_TYPE] = RING_ELEMENT_F64;
    w[RingWord.DATA_OFFSET] = RING_HEADER_BYTES;
    const start = (opts.initialCounter ?? 0) | 0;
    w[RingWord.TAIL] = start;
    w[RingWord.HEAD] = start;
    // Publish the header before the SAB can be posted to another thread.
    Atomics.store(w, RingWord.MAGIC, RING_MAGIC | 0);
    return new SpscRing(sab);
  }

  /** Attaches to a ring created elsewhere (another thread, or C++), validating the header. */
  static attach(sab: SharedArrayBuffer): SpscRing {
    return new SpscRing(sab);
  }

  private constructor(sab: SharedArrayBuffer) {
    if (!(sab instanceof SharedArrayBuffer)) throw invalid('SpscRing.attach needs a SharedArrayBuffer', 'sab');
    if (sab.byteLength < RING_HEADER_BYTES) throw invalid(`ring buffer too small for its header (${sab.byteLength} < ${RING_HEADER_BYTES} bytes)`, 'sab');
    const w = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
    if (Atomics.load(w, RingWord.MAGIC) !== (RING_MAGIC | 0)) throw invalid('not an SpscRing buffer (bad magic)', 'magic');
    if (w[RingWord.VERSION] !== RING_VERSION) throw invalid(`unsupported ring layout version ${w[RingWord.VERSION]} (expected ${RING_VERSION})`, 'version');
    const capacity = w[RingWord.CAPACITY] >>> 0;
    const recordLength = w[RingWord.RECORD_LENGTH] >>> 0;
    checkGeometry(capacity, recordLength);
    if (w[RingWord.ELEMENT_TYPE] !== RING_ELEMENT_F64) throw invalid(`unknown ring element type code ${w[RingWord.ELEMENT_TYPE]}`, 'type');
    if (w[RingWord.DATA_OFFSET] !== RING_HEADER_BYTES) throw invalid(`unsupported ring data offset ${w[RingWord.DATA_OFFSET]}`, 'dataOffset');
    const expected = RING_HEADER_BYTES + capacity * recordLength * ELEMENT_BYTES;
    if (sab.byteLength !== expected) throw invalid(`ring buffer is ${sab.byteLength} bytes but its header describes ${expected}`, 'sab');

    this.sab = sab;
    this.words = w;
    this.capacity = capacity;
    this.recordLength = recordLength;
    this.mask = capacity - 1;
    const n = capacity * recordLength;
    this.data = new Float64Array(sab, RING_HEADER_BYTES, n);
    this.localTail = Atomics.load(w, RingWord.TAIL);
    this.headCache = Atomics.load(w, RingWord.HEAD);
    this.localHead = this.headCache;
    this.tailCache = this.localTail;
  }

  // ---------------------------------------------------------------- producer side

  /**
   * Reserves the next slot and returns the element offset of its first word in
   * {@link data}, or -1 when the ring is full (the record is then counted in overflow and
   * must be dropped). Write the record, then {@link commit}.
   */
  reserve(): number {
    if (this.reserved) throw new FabricsError('MXL_ERR_INVALID_STATE', 'SpscRing.reserve called twice without commit', { op: 'reserve' });
    if (((this.localTail - this.headCache) >>> 0) >= this.capacity) {
      this.headCache = Atomics.load(this.words, RingWord.HEAD);
      if (((this.localTail - this.headCache) >>> 0) >= this.capacity) {
        Atomics.add(this.words, RingWord.OVERFLOW, 1);
        return -1;
      }
    }
    this.reserved = true;
    return (this.localTail & this.mask) * this.recordLength;
  }

  /**
   * Commits the reserved slot. With `publish` false the record stays invisible to the
   * consumer until {@link publish}: publishing every K records is several times faster.
   */
  commit(publish = true): void {
    if (!this.reserved) throw new FabricsError('MXL_ERR_INVALID_STATE', 'SpscRing.commit without reserve', { op: 'commit' });
    this.reserved = false;
    this.localTail = (this.localTail + 1) | 0;
    if (publish) this.publish();
  }

  /** Makes every committed record visible and wakes the consumer if it sleeps. */
  publish(): void {
    Atomics.store(this.words, RingWord.TAIL, this.localTail);
    ringDoorbell(this.words, RingWord.DOORBELL, RingWord.NOTIFIES);
  }

  /** Pushes one record given as arguments (convenient; allocates the rest array). */
  tryPush(...record: number[]): boolean {
    return this.tryPushFrom(record, 0);
  }

  /** Pushes one record copied from `src[srcOffset …]` and publishes it. False when dropped. */
  tryPushFrom(src: RecordSource, srcOffset = 0, publish = true): boolean {
    const off = this.reserve();
    if (off < 0) return false;
    const d = this.data;
    const n = this.recordLength;
    for (let i = 0; i < n; i++) d[off + i] = src[srcOffset + i];
    this.commit(publish);
    return true;
  }

  /**
   * Pushes `count` records laid out back to back in `src` and publishes once. Records that
   * do not fit are dropped and counted in overflow. Returns how many were pushed.
   */
  pushMany(src: RecordSource, count: number, srcOffset = 0): number {
    if (this.reserved) throw new FabricsError('MXL_ERR_INVALID_STATE', 'SpscRing.pushMany during a reservation', { op: 'pushMany' });
    const n = this.recordLength;
    let free = this.capacity - ((this.localTail - this.headCache) >>> 0);
    if (free < count) {
      this.headCache = Atomics.load(this.words, RingWord.HEAD);
      free = this.capacity - ((this.localTail - this.headCache) >>> 0);
    }
    const k = Math.min(count, free);
    const d = this.data;
    let t = this.localTail;
    let s = srcOffset;
    for (let r = 0; r < k; r++) {
      const off = (t & this.mask) * n;
      for (let i = 0; i < n; i++) d[off + i] = src[s + i];
      s += n;
      t = (t + 1) | 0;
    }
    this.localTail = t;
    if (k < count) Atomics.add(this.words, RingWord.OVERFLOW, count - k);
    if (k > 0) this.publish();
    return k;
  }

  /**
   * Free slots as the producer sees them (re-reads head). A producer that must not drop,
   * e.g. a request ring or a bench, can wait for this to be > 0 instead of overflowing.
   */
  freeSlots(): number {
    this.headCache = Atomics.load(this.words, RingWord.HEAD);
    return this.capacity - ((this.localTail - this.headCache) >>> 0);
  }

  /** Committed records not yet published (producer side). */
  get unpublished(): number {
    return (this.localTail - Atomics.load(this.words, RingWord.TAIL)) >>> 0;
  }

  // ---------------------------------------------------------------- consumer side

  /** Records available to the consumer. */
  available(): number {
    this.tailCache = Atomics.load(this.words, RingWord.TAIL);
    return (this.tailCache - this.localHead) >>> 0;
  }

  /** Pops one record into `out[outOffset …]`. False when empty. */
  tryPop(out: RecordSink, outOffset = 0): boolean {
    if (this.localHead === this.tailCache) {
      this.tailCache = Atomics.load(this.words, RingWord.TAIL);
      if (this.localHead === this.tailCache) return false;
    }
    const n = this.recordLength;
    const off = (this.localHead & this.mask) * n;
    const d = this.data;
    for (let i = 0; i < n; i++) out[outOffset + i] = d[off + i];
    this.localHead = (this.localHead + 1) | 0;
    Atomics.store(this.words, RingWord.HEAD, this.localHead);
    return true;
  }

  /**
   * Consumes up to `max` records and releases their slots once at the end. With a
   * function, each record is visited in place (zero copy; do not keep `data` views past the
   * call). With an array, records are copied to it back to back (at most
   * `out.length / recordLength`). Returns the number consumed.
   */
  drain(fnOrOut: RecordVisitor | RecordSink, max = Infinity): number {
    this.tailCache = Atomics.load(this.words, RingWord.TAIL);
    const n = this.recordLength;
    let k = (this.tailCache - this.localHead) >>> 0;
    if (k > max) k = max;
    const d = this.data;
    let h = this.localHead;
    if (typeof fnOrOut === 'function') {
      for (let r = 0; r < k; r++) {
        fnOrOut(d, (h & this.mask) * n);
        h = (h + 1) | 0;
      }
    } else {
      const fit = Math.floor(fnOrOut.length / n);
      if (k > fit) k = fit;
      let o = 0;
      for (let r = 0; r < k; r++) {
        const off = (h & this.mask) * n;
        for (let i = 0; i < n; i++) fnOrOut[o + i] = d[off + i];
        o += n;
        h = (h + 1) | 0;
      }
    }
    if (k > 0) {
      this.localHead = h;
      Atomics.store(this.words, RingWord.HEAD, h);
    }
    return k;
  }

  /**
   * Consumer, worker threads only: returns at once if records are available, otherwise
   * sleeps until the producer publishes or `timeoutMs` passes. Returns whether records are
   * available. Throws MXL_ERR_INVALID_STATE on the main thread.
   */
  waitSync(timeoutMs: number): boolean {
    assertMayBlock('SpscRing.waitSync');
    checkTimeout(timeoutMs, 'SpscRing.waitSync');
    if (this.available() > 0) return true;
    armDoorbell(this.words, RingWord.DOORBELL);
    if (this.available() === 0) {
      Atomics.add(this.words, RingWord.SLEEPS, 1);
      Atomics.wait(this.words, RingWord.DOORBELL, DOORBELL_ARMED, timeoutMs);
    }
    disarmDoorbell(this.words, RingWord.DOORBELL);
    return this.available() > 0;
  }

  /**
   * Consumer on the main thread: resolves true as soon as records are available, false on
   * timeout. Holds a ref'd timer while pending (a bare waitAsync would not keep the event
   * loop alive) and releases it on resolution.
   */
  async waitAsync(timeoutMs: number): Promise<boolean> {
    checkTimeout(timeoutMs, 'SpscRing.waitAsync');
    if (this.available() > 0) return true;
    armDoorbell(this.words, RingWord.DOORBELL);
    if (this.available() === 0) {
      Atomics.add(this.words, RingWord.SLEEPS, 1);
      try {
        await waitAsyncRef(this.words, RingWord.DOORBELL, DOORBELL_ARMED, timeoutMs);
      } finally {
        disarmDoorbell(this.words, RingWord.DOORBELL);
      }
    } else {
      disarmDoorbell(this.words, RingWord.DOORBELL);
    }
    return this.available() > 0;
  }

  /**
   * Wakes a sleeping consumer without publishing (e.g. to make it check a stop flag).
   * Safe from any thread.
   */
  wake(): boolean {
    return ringDoorbell(this.words, RingWord.DOORBELL);
  }

  // ---------------------------------------------------------------- both sides

  /** Records dropped on a full ring (u32, wraps). */
  get overflow(): number {
    return Atomics.load(this.words, RingWord.OVERFLOW) >>> 0;
  }

  stats(): RingStats {
    const tail = Atomics.load(this.words, RingWord.TAIL) >>> 0;
    const head = Atomics.load(this.words, RingWord.HEAD) >>> 0;
    return {
      capacity: this.capacity,
      tail,
      head,
      size: (tail - head) >>> 0,
      overflow: this.overflow,
      notifies: Atomics.load(this.words, RingWord.NOTIFIES) >>> 0,
      sleeps: Atomics.load(this.words, RingWord.SLEEPS) >>> 0,
    };
  }
}
