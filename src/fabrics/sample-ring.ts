/**
 * The memory an audio target receives into or an audio initiator sends from: the planar
 * channels ring of a continuous MXL flow (zero copy, the `channels` file itself), or a
 * user buffer of the same layout.
 */
import { FabricsError } from '../errors.js';
import type { ContinuousFlowReader, ContinuousFlowWriter, FlowReader, FlowWriter } from '../domain/index.js';
import { ENTRY_HEADER_SIZE, type SampleLayout } from './sample-protocol.js';

export interface SampleRing {
  layout: SampleLayout;
  /** The flow's maxSyncBatchSizeHint: a target sizes its bounce entries with it. */
  syncBatch: number;
  /** channelCount × bufferLength × wordSize bytes, planar. */
  channels: ArrayBuffer;
  /** Target: publish window (headIndex, count) whose samples are already in `channels`. */
  commit?(headIndex: bigint, count: number): void;
  /** Initiator: whether window (end, count) is still in the ring. */
  status?(end: bigint, count: number): 'OK' | 'TOO_LATE' | 'TOO_EARLY' | 'FLOW_INVALID';
}

function continuous(f: { kind: string; id: string }, what: string): void {
  if (f.kind !== 'continuous') throw new FabricsError('MXL_ERR_INVALID_ARG', `flow ${f.id} is discrete: sample ${what}s need an audio flow`, { field: what });
}

export function samplesFromWriter(writer: FlowWriter): SampleRing {
  continuous(writer, 'writer');
  const w = writer as ContinuousFlowWriter;
  const g = w.geometry;
  return {
    layout: { channelCount: g.channelCount, bufferLength: g.bufferLength, wordSize: g.wordSize },
    syncBatch: g.maxSyncBatchSizeHint,
    channels: w.channelsBuffer(),
    commit: (head, count) => { w.commitWindow(head, count); },
  };
}

export function samplesFromReader(reader: FlowReader): SampleRing {
  continuous(reader, 'reader');
  const r = reader as ContinuousFlowReader;
  const g = r.geometry;
  return {
    layout: { channelCount: g.channelCount, bufferLength: g.bufferLength, wordSize: g.wordSize },
    syncBatch: g.maxSyncBatchSizeHint,
    channels: r.channelsBuffer(),
    status: (end, count) => r.samplesStatus(end, count),
  };
}

/**
 * Copies the samples of a landed bounce entry into window (head, count) of `dst` (the
 * channels buffer as bytes), using the receiver's own ring length (the sender's may differ;
 * only (head, count) are shared). Per channel one copy, or two when the window wraps.
 */
export function unpackEntry(entry: Uint8Array, layout: SampleLayout, dst: Uint8Array, head: bigint, count: number): void {
  const L = layout.bufferLength;
  const w = layout.wordSize;
  const start = Number((head - BigInt(count)) % BigInt(L));
  const first = Math.min(count, L - start) * w;
  const rest = count * w - first;
  const stride = L * w;
  let off = ENTRY_HEADER_SIZE;
  for (let c = 0; c < layout.channelCount; c++) {
    const base = c * stride;
    dst.set(entry.subarray(off, off + first), base + start * w);
    off += first;
    if (rest > 0) {
      dst.set(entry.subarray(off, off + rest), base);
      off += rest;
    }
  }
}
