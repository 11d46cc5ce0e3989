/**
 * Prefaulted payloads: writers and readers that ask (targets and initiators do) have every
 * page of the grain files and channels mapped when the flow opens, so the first pass over
 * the ring takes no page faults; others map pages as they touch them.
 * Checked from the kernel's side: the resident size of each mapping in /proc/self/smaps.
 */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { MxlInstance } from '../../src/domain/index.js';
import { makeDomain, removeDomains, videoDef, audioDef, json } from './helpers.js';

test.after.always(removeDomains);

/** Resident KiB of each mapping of `file` in this process, smallest first. */
function residentKiB(file: string): number[] {
  const out: number[] = [];
  let inFile = false;
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inFile = line.trimEnd().endsWith(` ${file}`);
    else if (inFile && line.startsWith('Rss:')) out.push(Number(line.split(/\s+/)[1]));
  }
  return out.sort((a, b) => a - b);
}

test('a prefaulting writer and reader map every page of a grain at open; plain ones map only what they touched', (t) => {
  const d = makeDomain();
  const id = '6a1f0c2e-9d4b-4e8a-b7c3-2f5e8d1a4b90';
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(json(videoDef(id, { frame_width: 640, frame_height: 480 })), { prefault: true });
  const grain = path.join(d, `${id}.mxl-flow`, 'grains', 'data.0');
  const fileKiB = Math.ceil(fs.statSync(grain).size / 4096) * 4;
  t.true(fileKiB > 500, 'a 640x480 v210 grain is several hundred KiB');
  t.deepEqual(residentKiB(grain), [fileKiB], 'the writer\'s mapping is fully resident');
  const plain = inst.openFlowReader(id);
  const pre = inst.openFlowReader(id, { prefault: true });
  const rss = residentKiB(grain);
  t.is(rss.length, 3);
  // The kernel maps up to 64 KiB around each read fault (fault_around_bytes).
  t.true(rss[0] <= 128, `the plain reader's mapping holds only what was mapped around the header it read (${rss[0]} KiB)`);
  t.deepEqual(rss.slice(1), [fileKiB, fileKiB], 'writer and prefaulting reader');
  plain.close();
  pre.close();
  w.close();
  // A plain writer creating the flow anew: only the grain headers it wrote are mapped.
  const w2 = inst.createFlowWriter(json(videoDef(id, { frame_width: 640, frame_height: 480 })));
  const only = residentKiB(grain);
  t.is(only.length, 1);
  t.true(only[0] <= 128, `a plain writer maps what it wrote (${only[0]} KiB)`);
  t.throws(() => inst.createFlowWriter(json(videoDef('8c3f2e4a-1b6d-4a0c-9e5f-4b7a0f3c6d12')), { prefault: 'yes' as unknown as boolean }), { code: 'MXL_ERR_INVALID_ARG' });
  w2.close();
  inst.close();
});

test('a prefaulting audio writer maps all of its channels file', (t) => {
  const d = makeDomain();
  const id = '7b2e1d3f-0a5c-4f9b-98d4-3a6f9e2b5c01';
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(json(audioDef(id, { channel_count: 16 })), { prefault: true });
  const channels = path.join(d, `${id}.mxl-flow`, 'channels');
  const fileKiB = Math.ceil(fs.statSync(channels).size / 4096) * 4;
  t.deepEqual(residentKiB(channels), [fileKiB]);
  w.close();
  inst.close();
});
