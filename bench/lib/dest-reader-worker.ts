/**
 * The worker entry of a destination reader (bench/lib/dest-reader.ts): one stream's target
 * flow read as an application would, with the public reader API of the domain layer, in
 * this worker_thread. It blocks in getGrainSync / getSamplesSync (a FUTEX_WAIT on the
 * flow's sync counter, docs/domain-format.md §3.4), stamps TAI time the moment it wakes with
 * the grain complete, times end-to-end from that stamp, then verifies the payload here, so
 * neither the verification nor its queueing sits on the target process's main thread
 * (docs/bench.md, "Reading the report").
 *
 * Protocol with the main thread: a SharedArrayBuffer of control words (stop, flush request
 * and the index it must reach, see CTL) and, back, postMessage batches of count deltas and
 * latency samples, about every BATCH_MS and once per flush request.
 */
import fs from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { MxlInstance, indexToTimestamp, taiNow, type ContinuousFlowReader, type DiscreteFlowReader, type GrainReadResult } from '../../src/domain/index.js';
import { STAMP_STRIDE, audioIntact, commitTimeOf, verifyGrain } from './grain-stamp.js';
import { BATCH_MS, CTL, FLUSH_GIVE_UP_MS, noReaderCounts, type DestReaderJob, type DestReaderMessage } from './dest-reader.js';

const job = workerData as DestReaderJob;
const port = parentPort!;
const ctl32 = new Int32Array(job.ctl, 0, 2);
const ctl64 = new BigInt64Array(job.ctl, CTL.UNTIL_BYTE, 1);
/** The longest single wait: how soon a stop or flush is noticed when no grain comes. */
const SLICE_MS = Math.max(1, Math.min(50, job.periodMs));

const counts = noReaderCounts();
let samples: number[] = [];
let fromCommit: number[] = [];
let lastPost = performance.now();
let ackSeq = 0;
let flushSince = 0;

function post(flushed?: number): void {
  const m: DestReaderMessage = { type: 'batch', ...counts, e2e: Float64Array.from(samples), commitToSeen: Float64Array.from(fromCommit), ...(flushed === undefined ? {} : { flushed }) };
  port.postMessage(m, [m.e2e.buffer as ArrayBuffer, m.commitToSeen.buffer as ArrayBuffer]);
  for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] = 0;
  samples = [];
  fromCommit = [];
  lastPost = performance.now();
}

/** Grains (audio: windows) timed so far: the first job.warmupUnits are the warm-up. */
let timed = 0;
const inWarmup = (): boolean => timed++ < job.warmupUnits;

/** warm: a grain of the stream's warm-up: counted apart, no latency sample. */
function sample(ms: number, atWallMs: number, warm: boolean): void {
  const late = job.paced && ms > job.periodMs;
  if (warm) { if (late) counts.lateWarmup++; return; }
  samples.push(ms, atWallMs);
  if (late) counts.late++;
}

/**
 * After each step: answer a pending flush once `reached(until)` (every grain the main thread
 * saw arrive has been handled) or after FLUSH_GIVE_UP_MS, else post every BATCH_MS.
 */
function service(reached: (until: bigint) => boolean): void {
  const seq = Atomics.load(ctl32, CTL.FLUSH_SEQ);
  const now = performance.now();
  if (seq !== ackSeq) {
    if (flushSince === 0) flushSince = now;
    const until = Atomics.load(ctl64, 0);
    if (until < 0n || reached(until) || now - flushSince > FLUSH_GIVE_UP_MS) {
      post(seq);
      ackSeq = seq;
      flushSince = 0;
    }
  } else if (now - lastPost >= BATCH_MS) post();
}

const stopped = (): boolean => Atomics.load(ctl32, CTL.STOP) !== 0;
const wallNow = (): number => performance.timeOrigin + performance.now();

/** Corrupt grains described on stderr, at most this many per reader: what the pages held. */
const CORRUPT_LOG_MAX = 3;
let corruptLogged = 0;
function logCorrupt(reader: DiscreteFlowReader, r: GrainReadResult, payload: Uint8Array, index: bigint): void {
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const pages = Math.floor(payload.byteLength / STAMP_STRIDE);
  const bad: string[] = [];
  let nbad = 0;
  for (let p = 0; p < pages; p++) {
    const got = dv.getBigUint64(p * STAMP_STRIDE, true);
    if (got !== index && nbad++ < 6) bad.push(`page ${p}: ${got}`);
  }
  const now = reader.getGrainSync(index, { minValidSlices: 0 });
  console.error(`bench reader: corrupt grain ${index} (slot ${r.slot}, valid ${r.validSlices}/${r.totalSlices}, flags ${r.flags}, flow head ${reader.flowHeader.headIndex}): ${nbad} of ${pages} pages carry another index (${bad.join(', ')}); the slot now: ${now.status}, valid ${now.validSlices}, flags ${now.flags}`);
}

function readVideo(reader: DiscreteFlowReader): void {
  const gc = BigInt(reader.geometry.grainCount);
  const head = (): bigint => reader.flowHeader.headIndex;
  let next: bigint | undefined;
  const reached = (until: bigint): boolean => next !== undefined && next > until;
  while (!stopped()) {
    service(reached);
    if (next === undefined) {
      // The start. The target created the flow with head 0: grain 1 is TOO_EARLY until the
      // first commit, after which it is far behind the head (TOO_LATE), so this waits for it.
      reader.getGrainSync(1n, { timeoutMs: SLICE_MS });
      const h = head();
      if (h === 0n) continue;
      // The first grain of the flow: the head, or earlier grains still in the ring if this
      // thread woke late (an empty slot holds an older index, TOO_EARLY, and ends the scan).
      let first = h;
      while (first > 0n && h - first + 1n < gc && reader.getGrainSync(first - 1n).status === 'OK') first--;
      next = first;
      continue;
    }
    // At or behind the head, yet the slot holds an older grain (even with no slice valid:
    // minValidSlices 0): this grain never landed (lost, or skipped by the source), move on.
    // An incomplete one (slices still coming) is waited for.
    const missing = (i: bigint): boolean => head() >= i && reader.getGrainSync(i, { minValidSlices: 0 }).status === 'TOO_EARLY';
    let r = reader.getGrainSync(next);
    if (r.status === 'TOO_EARLY') {
      if (missing(next)) { counts.missing++; next++; continue; }
      r = reader.getGrainSync(next, { timeoutMs: SLICE_MS });
    }
    const seen = taiNow();
    const seenWall = wallNow();
    if (r.status === 'FLOW_INVALID') break;
    if (r.status === 'TOO_EARLY') {
      if (missing(next)) { counts.missing++; next++; }
      continue;
    }
    if (r.status === 'TOO_LATE' || r.invalid) {
      // Overwritten before this reader got to it (or marked invalid by the writer): not checked.
      counts.unverified++;
      next++;
      continue;
    }
    const payload = r.payload!;
    const commit = commitTimeOf(payload);
    const e2eMs = Number(seen - (job.paced ? indexToTimestamp(next, job.rate) : commit)) / 1e6;
    const verdict = job.verify ? verifyGrain(payload, next, reader.geometry.grainCount) : 'ok';
    // An overwritten slot may also have lost its commit stamp: no stamp-based sample then.
    const warm = inWarmup();
    if (job.paced || verdict !== 'overwritten') sample(e2eMs, seenWall, warm);
    if (verdict !== 'overwritten' && !warm) fromCommit.push(Number(seen - commit) / 1e6, seenWall);
    counts[verdict === 'ok' ? 'verified' : verdict === 'overwritten' ? 'unverified' : 'corrupt']++;
    if (verdict === 'corrupt' && corruptLogged++ < CORRUPT_LOG_MAX) logCorrupt(reader, r, payload, next);
    next++;
  }
}

function readAudio(reader: ContinuousFlowReader): void {
  const n = job.windowSamples!;
  const w = BigInt(n);
  const head = (): bigint => reader.flowHeader.headIndex;
  /** One past the last sample of the last window handled. */
  let last: bigint | undefined;
  const reached = (until: bigint): boolean => last !== undefined && last >= until;
  while (!stopped()) {
    service(reached);
    if (last === undefined) {
      // The start: window (1, 1) is TOO_EARLY at head 0 and TOO_LATE once anything landed.
      reader.getSamplesSync(1n, 1, SLICE_MS);
      const h = head();
      if (h !== 0n) last = h - w; // the first window it sees: the one ending at the head
      continue;
    }
    const end = last + w;
    let r = reader.getSamplesSync(end, n);
    if (r.status === 'TOO_EARLY') r = reader.getSamplesSync(end, n, SLICE_MS);
    const seen = taiNow();
    const seenWall = wallNow();
    if (r.status === 'FLOW_INVALID') break;
    if (r.status === 'TOO_EARLY') continue;
    last = end;
    if (r.status === 'TOO_LATE') { counts.unverified++; continue; }
    // Unpaced audio carries no stamp and its timestamps mean nothing: no end-to-end figure.
    if (job.paced) sample(Number(seen - indexToTimestamp(end - 1n, job.rate)) / 1e6, seenWall, inWarmup());
    const ok = !job.verify || audioIntact(r.channels, end - w);
    // A mismatch in a window the writer has meanwhile reclaimed is an overwrite, not corruption.
    if (ok) counts.verified++;
    else if (reader.getSamplesSync(end, n).status === 'TOO_LATE') counts.unverified++;
    else counts.corrupt++;
  }
}

const tid = fs.readlinkSync('/proc/thread-self').split('/').pop()!;
const inst = new MxlInstance(job.domain);
try {
  if (job.kind === 'audio') {
    const reader = inst.openContinuousFlowReader(job.flowId);
    port.postMessage({ type: 'ready', tid } satisfies DestReaderMessage);
    readAudio(reader);
    reader.close();
  } else {
    const reader = inst.openDiscreteFlowReader(job.flowId, { prefault: true });
    port.postMessage({ type: 'ready', tid } satisfies DestReaderMessage);
    readVideo(reader);
    reader.close();
  }
  post(Atomics.load(ctl32, CTL.FLUSH_SEQ));
} catch (e) {
  port.postMessage({ type: 'error', message: (e as Error).stack ?? String(e) } satisfies DestReaderMessage);
} finally {
  inst.close();
}
