/**
 * Creating a flow atomically (docs/domain-format.md §1.2): everything is built in a hidden staging directory,
 * then published with one renameat2(RENAME_NOREPLACE). Losing the race, or finding the flow
 * already there, means joining the existing flow as upstream does.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { addon } from '../native/index.js';
import { FabricsError } from '../errors.js';
import { uuidBytes, type FlowDef } from './flow-def.js';
import { FlowHeader, GrainSlot } from './flow-header.js';
import type { FlowGeometry } from './geometry.js';
import {
  FLOW_DATA_SIZE, FLOW_DATA_VERSION, FLOW_INFO_SIZE, FlowOffset, FormatCode, GRAIN_HEADER_VERSION, GRAIN_INFO_SIZE,
  GRAIN_PAYLOAD_OFFSET, INODE_U64, STAGING_PREFIX,
} from './layout.js';
import { MappedFile } from './mapped-file.js';
import { closeFlowFiles, flowDir, grainPath, openFlowFiles, type FlowFiles } from './flow-files.js';
import { sysFail } from './fail.js';
import { taiNow } from './time.js';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** mkdtemp with upstream's 16 random characters, mode 0700. */
function makeStagingDir(domain: string): string {
  for (let attempt = 0; ; attempt++) {
    let name = STAGING_PREFIX;
    for (let i = 0; i < 16; i++) name += ALPHABET[randomInt(ALPHABET.length)];
    const p = path.join(domain, name);
    try {
      fs.mkdirSync(p, { mode: 0o700 });
      return p;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 100) throw sysFail(e, 'mkdir', p);
    }
  }
}

/** O_CREAT|O_EXCL|O_RDWR file, fallocated (committed tmpfs pages, ENOSPC now rather than SIGBUS later). */
function createSizedFile(p: string, size: number, prefault = false): MappedFile {
  let fd: number;
  try {
    fd = fs.openSync(p, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_RDWR, 0o664);
  } catch (e) {
    throw sysFail(e, 'open', p);
  }
  try {
    addon().fallocate(fd, 0, size);
    return MappedFile.adopt(p, fd, { writable: true, lockShared: true, prefault });
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

function fillFlowHeader(h: FlowHeader, def: FlowDef, g: FlowGeometry, inode: bigint): void {
  const u32 = h.u32;
  u32[FlowOffset.version / 4] = FLOW_DATA_VERSION;
  u32[FlowOffset.size / 4] = FLOW_INFO_SIZE;
  h.u8.set(uuidBytes(def.id), FlowOffset.id);
  u32[FlowOffset.format / 4] = FormatCode[g.format];
  u32[FlowOffset.flags / 4] = 0;
  h.i64[FlowOffset.rateNumerator / 8] = BigInt(g.grainRate.numerator);
  h.i64[FlowOffset.rateDenominator / 8] = BigInt(g.grainRate.denominator);
  u32[FlowOffset.maxCommitBatchSizeHint / 4] = g.maxCommitBatchSizeHint;
  u32[FlowOffset.maxSyncBatchSizeHint / 4] = g.maxSyncBatchSizeHint;
  u32[FlowOffset.payloadLocation / 4] = 0;
  h.i32[FlowOffset.deviceIndex / 4] = -1;
  if (g.kind === 'continuous') {
    u32[FlowOffset.channelCount / 4] = g.channelCount;
    u32[FlowOffset.bufferLength / 4] = g.bufferLength;
  } else {
    for (let p = 0; p < 4; p++) u32[FlowOffset.sliceSizes / 4 + p] = g.sliceSizes[p];
    u32[FlowOffset.grainCount / 4] = g.grainCount;
  }
  const now = taiNow();
  h.headIndex = 0n;
  h.lastWriteTime = now;
  h.lastReadTime = now;
  Atomics.store(h.u64, INODE_U64, inode);
}

function fillGrainHeader(s: GrainSlot, g: FlowGeometry): void {
  s.u32[0] = GRAIN_HEADER_VERSION;
  s.u32[1] = GRAIN_INFO_SIZE;
  s.index = 0n;
  s.flags = 0;
  s.grainSize = g.grainSize;
  s.totalSlices = g.totalSlices;
  s.validSlices = 0;
}

export interface CreatedFlow {
  files: FlowFiles;
  /** False when an existing flow was joined. */
  created: boolean;
}

const joinOptions = (prefaultPayload: boolean) => ({ writable: true, payloadWritable: true, lockShared: true, prefaultPayload });

/** Creates the flow, or joins it when it exists (its header wins; the new definition is ignored). */
export function createOrJoinFlow(domain: string, def: FlowDef, g: FlowGeometry, prefault = false): CreatedFlow {
  const finalDir = flowDir(domain, def.id);
  if (fs.existsSync(path.join(finalDir, 'data'))) return { files: openFlowFiles(domain, def.id, joinOptions(prefault)), created: false };

  const tmp = makeStagingDir(domain);
  const opened: MappedFile[] = [];
  let files: FlowFiles | undefined;
  try {
    fs.writeFileSync(path.join(tmp, 'flow_def.json'), def.json, { mode: 0o666, flag: 'wx' });
    if (g.kind === 'discrete') fs.closeSync(fs.openSync(path.join(tmp, 'access'), 'wx', 0o666));
    const data = createSizedFile(path.join(tmp, 'data'), FLOW_DATA_SIZE);
    opened.push(data);
    const header = new FlowHeader(data.buffer);
    fillFlowHeader(header, def, g, fs.fstatSync(data.fd, { bigint: true }).ino);
    const grainFiles: MappedFile[] = [];
    const slots: GrainSlot[] = [];
    let channels: MappedFile | undefined;
    if (g.kind === 'discrete') {
      fs.mkdirSync(path.join(tmp, 'grains'), { mode: 0o777 });
      for (let s = 0; s < g.grainCount; s++) {
        const f = createSizedFile(grainPath(tmp, s), GRAIN_PAYLOAD_OFFSET + g.grainSize, prefault);
        opened.push(f);
        grainFiles.push(f);
        const slot = new GrainSlot(f.buffer, s, g.grainSize);
        fillGrainHeader(slot, g);
        slots.push(slot);
      }
    } else {
      channels = createSizedFile(path.join(tmp, 'channels'), g.channelCount * g.bufferLength * g.wordSize, prefault);
      opened.push(channels);
    }
    files = { dir: finalDir, id: def.id, data, header, geometry: g, grainFiles, slots, channels };
    // mkdtemp gives 0700; published flows are 0755 whatever the umask.
    fs.chmodSync(tmp, fs.statSync(tmp).mode | 0o055);
    const r = addon().renameNoReplace(tmp, finalDir);
    if (r === 0) {
      for (const f of opened) f.path = f.path.replace(tmp, finalDir);
      return { files, created: true };
    }
  } catch (e) {
    for (const f of opened) f.close();
    fs.rmSync(tmp, { recursive: true, force: true });
    throw sysFail(e, 'create flow', def.id);
  }
  // Another writer published first: drop our staging copy and join theirs.
  closeFlowFiles(files!);
  fs.rmSync(tmp, { recursive: true, force: true });
  try {
    return { files: openFlowFiles(domain, def.id, joinOptions(prefault)), created: false };
  } catch (e) {
    if (e instanceof FabricsError) throw e;
    throw sysFail(e, 'join flow', def.id);
  }
}
