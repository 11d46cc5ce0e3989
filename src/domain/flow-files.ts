/**
 * Opening the files of an existing flow (readers, and writers joining a flow, docs/domain-format.md §1.2 step 8 and
 * §1.3). Geometry comes from the binary headers only, never from flow_def.json.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FabricsError } from '../errors.js';
import { canonicalUuid } from './flow-def.js';
import { FlowHeader, GrainSlot } from './flow-header.js';
import { planeOffsetsOf, type FlowGeometry } from './geometry.js';
import { FLOW_DATA_SIZE, FLOW_DIR_SUFFIX, GRAIN_PAYLOAD_OFFSET } from './layout.js';
import { MappedFile } from './mapped-file.js';
import { badArg, badFlow } from './fail.js';

export interface FlowFiles {
  dir: string;
  id: string;
  data: MappedFile;
  header: FlowHeader;
  geometry: FlowGeometry;
  /** Discrete: one per slot. */
  grainFiles: MappedFile[];
  slots: GrainSlot[];
  /** Continuous. */
  channels?: MappedFile;
}

export const flowDir = (domain: string, id: string): string => path.join(domain, `${id}${FLOW_DIR_SUFFIX}`);
export const grainPath = (dir: string, slot: number): string => path.join(dir, 'grains', `data.${slot}`);

/** Canonical id or INVALID_ARG. */
export function checkFlowId(id: string): string {
  const c = canonicalUuid(id);
  if (!c) throw badArg(`not a flow id (UUID): ${id}`, 'flowId');
  return c;
}

export interface OpenFlowOptions {
  /** Map data read-write (writers). */
  writable: boolean;
  /** Map grain files / channels read-write (writers, or readers that register memory for RDMA). */
  payloadWritable: boolean;
  /** Hold LOCK_SH on every file (writers). */
  lockShared: boolean;
  /** Prefault the grain files / channels (MappedFile's prefault): targets' flows, initiators' registered mappings, callers that ask. */
  prefaultPayload?: boolean;
}

export function openFlowFiles(domain: string, flowId: string, opts: OpenFlowOptions): FlowFiles {
  const id = checkFlowId(flowId);
  const dir = flowDir(domain, id);
  if (!fs.existsSync(path.join(dir, 'data'))) {
    throw new FabricsError('MXL_ERR_FLOW_NOT_FOUND', `flow ${id} not found in ${domain}`, { op: 'open' });
  }
  const opened: MappedFile[] = [];
  try {
    const data = MappedFile.open(path.join(dir, 'data'), { writable: opts.writable, lockShared: opts.lockShared, minSize: FLOW_DATA_SIZE });
    opened.push(data);
    const header = new FlowHeader(data.buffer);
    header.check();
    if (header.payloadLocation !== 0) throw badFlow('device-memory payloads are not supported', 'data.payloadLocation');
    const rate = header.grainRate;
    const common = {
      format: header.format,
      grainRate: rate,
      maxCommitBatchSizeHint: header.maxCommitBatchSizeHint,
      maxSyncBatchSizeHint: header.maxSyncBatchSizeHint,
    };
    if (header.format === 'audio') {
      const channelCount = header.channelCount;
      const bufferLength = header.bufferLength;
      if (channelCount < 1 || bufferLength < 2) throw badFlow(`bad audio geometry: ${channelCount} channels × ${bufferLength}`, 'data.bufferLength');
      const channels = MappedFile.open(path.join(dir, 'channels'), { writable: opts.payloadWritable, lockShared: opts.lockShared, prefault: opts.prefaultPayload });
      opened.push(channels);
      // The word size is recorded only as the file size (docs/domain-format.md §2.4).
      const wordSize = channels.size / (channelCount * bufferLength);
      if (wordSize !== 4 && wordSize !== 8) throw badFlow(`channels is ${channels.size} bytes, not ${channelCount} × ${bufferLength} × 4 or 8`, 'channels');
      const geometry: FlowGeometry = {
        ...common, kind: 'continuous', grainCount: 0, grainSize: 0, totalSlices: 0, sliceSizes: [0, 0, 0, 0],
        planeOffsets: [0, 0, 0, 0], channelCount, bufferLength, wordSize,
      };
      return { dir, id, data, header, geometry, grainFiles: [], slots: [], channels };
    }
    const grainCount = header.grainCount;
    if (grainCount < 1) throw badFlow('grainCount is 0', 'data.grainCount');
    const grainFiles: MappedFile[] = [];
    const slots: GrainSlot[] = [];
    let grainSize = -1;
    let totalSlices = 0;
    for (let s = 0; s < grainCount; s++) {
      const f = MappedFile.open(grainPath(dir, s), { writable: opts.payloadWritable, lockShared: opts.lockShared, minSize: GRAIN_PAYLOAD_OFFSET, prefault: opts.prefaultPayload });
      opened.push(f);
      grainFiles.push(f);
      const probe = new Uint32Array(f.buffer, 0, 8);
      const gs = probe[5];
      const slot = new GrainSlot(f.buffer, s, gs);
      slot.check();
      if (grainSize < 0) {
        grainSize = gs;
        totalSlices = slot.totalSlices;
      } else if (gs !== grainSize || slot.totalSlices !== totalSlices) {
        throw badFlow(`grain ${s} geometry (${gs} B, ${slot.totalSlices} slices) differs from grain 0`, 'grain.grainSize');
      }
      slots.push(slot);
    }
    const sliceSizes = header.sliceSizes;
    const geometry: FlowGeometry = {
      ...common, kind: 'discrete', grainCount, grainSize, totalSlices, sliceSizes,
      planeOffsets: planeOffsetsOf(sliceSizes, totalSlices), channelCount: 0, bufferLength: 0, wordSize: 0,
    };
    return { dir, id, data, header, geometry, grainFiles, slots };
  } catch (e) {
    for (const f of opened) f.close();
    throw e;
  }
}

export function closeFlowFiles(f: FlowFiles): void {
  for (const g of f.grainFiles) g.close();
  f.channels?.close();
  f.data.close();
}
