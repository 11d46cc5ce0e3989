// 200 grains of 1080p50 v210 from a flow writer through an initiator and a target into a
// second domain; every grain checked at a reader of the target flow.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { MxlInstance, currentIndex, type DiscreteFlowWriter, type DiscreteFlowReader } from '../../src/domain/index.js';
import { Initiator } from '../../src/fabrics/initiator.js';
import { Target } from '../../src/fabrics/target.js';
import { TargetInfo } from '../../src/fabrics/target-info.js';
import { ringFromReader, ringFromWriter } from '../../src/fabrics/flow-rings.js';
import { FabricsError } from '../../src/errors.js';

const FLOW_ID = '5fbec3b1-1b0f-417d-9059-8b94a47197ed';
const flowDef = (id = FLOW_ID, media = 'video/v210', width = 1920, height = 1080) => JSON.stringify({
  id, label: 'test', format: 'urn:x-nmos:format:video', media_type: media, description: 'fabrics test',
  tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['test:video'] }, grain_rate: { numerator: 50, denominator: 1 },
  frame_width: width, frame_height: height, interlace_mode: 'progressive', colorspace: 'BT709', components: [],
});

const domains: string[] = [];
function tempDomain(): string {
  const d = fs.mkdtempSync(path.join('/dev/shm', 'mxlf-test-'));
  domains.push(d);
  return d;
}
test.after.always(() => { for (const d of domains) fs.rmSync(d, { recursive: true, force: true }); });

function pattern(payload: Uint8Array, index: bigint): string {
  const seed = Number(index % 65521n);
  const u32 = new Uint32Array(payload.buffer, payload.byteOffset, payload.byteLength >>> 2);
  for (let i = 0; i < u32.length; i += 1024) u32[i] = (seed * 2654435761 + i) >>> 0;
  return createHash('sha1').update(payload).digest('hex');
}

function writeGrain(w: DiscreteFlowWriter, index: bigint, start = 0, end?: number): string {
  const g = w.openGrain(index);
  const sum = pattern(g.payload, index);
  w.commitGrain({ validSlices: end });
  return sum;
}

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: 200 grains of 1080p v210 arrive intact in the target flow`, (t) => {
    t.timeout(120_000);
    const src = new MxlInstance(tempDomain());
    const dst = new MxlInstance(tempDomain());
    const writer = src.createFlowWriter(flowDef()) as DiscreteFlowWriter;
    const reader = src.openDiscreteFlowReader(FLOW_ID);
    const targetWriter = dst.createFlowWriter(flowDef()) as DiscreteFlowWriter;
    const targetReader = dst.openDiscreteFlowReader(FLOW_ID);

    const target = new Target({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, ring: ringFromWriter(targetWriter) });
    const initiator = new Initiator({ provider, ring: ringFromReader(reader) });
    initiator.addTarget(TargetInfo.parse(target.info.toBase64()));
    const until = Date.now() + 5000;
    while (!initiator.idle() && Date.now() < until) { target.poll(); initiator.makeProgress(); }

    const first = currentIndex({ numerator: 50, denominator: 1 });
    let ok = 0;
    for (let k = 0n; k < 200n; k++) {
      const index = first + k;
      const sum = writeGrain(writer, index);
      t.deepEqual(initiator.transferGrain(index), { posted: 1, skipped: 0 });
      let landed = null;
      const end = Date.now() + 5000;
      while (!landed && Date.now() < end) { initiator.makeProgress(); landed = target.readGrain(); }
      if (!landed) { t.fail(`grain ${index} did not land`); break; }
      const r = targetReader.getGrainSync(index);
      if (r.status !== 'OK' || r.validSlices !== 1080 || r.index !== index) { t.fail(`grain ${index}: ${r.status} valid ${r.validSlices}`); break; }
      if (createHash('sha1').update(r.payload!).digest('hex') !== sum) { t.fail(`grain ${index} checksum`); break; }
      ok++;
    }
    t.is(ok, 200);
    t.is(targetWriter.flowHeader.headIndex, first + 199n);
    t.is(target.counters.grains, 200);
    t.is(target.counters.dropped, 0);
    initiator.close();
    target.close();
    for (const x of [reader, targetReader]) x.close();
    for (const x of [writer, targetWriter]) x.close();
  });
}

test.serial('v210a slice ranges: fill and key planes both land, validSlices grows', (t) => {
  const src = new MxlInstance(tempDomain());
  const dst = new MxlInstance(tempDomain());
  const def = flowDef(FLOW_ID, 'video/v210a', 1280, 720);
  const writer = src.createFlowWriter(def) as DiscreteFlowWriter;
  const reader = src.openDiscreteFlowReader(FLOW_ID);
  const tw = dst.createFlowWriter(def) as DiscreteFlowWriter;
  const tr = dst.openDiscreteFlowReader(FLOW_ID);
  const target = new Target({ provider: 'tcp', node: '127.0.0.1', ring: ringFromWriter(tw) });
  const initiator = new Initiator({ provider: 'tcp', ring: ringFromReader(reader) });
  initiator.addTarget(target.info);
  const until = Date.now() + 5000;
  while (!initiator.idle() && Date.now() < until) { target.poll(); initiator.makeProgress(); }
  const g = writer.geometry;
  t.deepEqual(g.sliceSizes.slice(0, 2), [3456, 1708]);
  const index = currentIndex({ numerator: 50, denominator: 1 });
  const w = writer.openGrain(index);
  const fillBase = 0, keyBase = g.planeOffsets[1];
  for (let line = 0; line < g.totalSlices; line++) {
    w.payload.fill(0xac ^ (line & 0x7f), fillBase + line * 3456, fillBase + (line + 1) * 3456);
    w.payload.fill(0xab ^ (line & 0x7f), keyBase + line * 1708, keyBase + (line + 1) * 1708);
  }
  writer.commitGrain({ validSlices: g.totalSlices });
  let prev = 0;
  for (const end of [100, 360, 719, 720]) {
    initiator.transferGrain(index, prev, end);
    let landed = null;
    const dl = Date.now() + 5000;
    while (!landed && Date.now() < dl) { initiator.makeProgress(); landed = target.readGrain(); }
    t.is(landed?.validSlices, end);
    const r = tr.getGrainSync(index, { minValidSlices: end });
    t.is(r.status, 'OK');
    t.is(r.validSlices, end);
    const p = r.payload!;
    for (const line of [prev, end - 1]) {
      t.is(p[fillBase + line * 3456], 0xac ^ (line & 0x7f), `fill line ${line}`);
      t.is(p[keyBase + line * 1708 + 1707], 0xab ^ (line & 0x7f), `key line ${line}`);
    }
    if (end < 720) {
      t.is(p[fillBase + end * 3456], 0, 'fill past the range not yet written');
      t.is(p[keyBase + end * 1708], 0, 'key past the range not yet written');
    }
    prev = end;
  }
  initiator.close(); target.close();
  reader.close(); tr.close(); writer.close(); tw.close();
});

test.serial('transferring a grain the local ring no longer holds is TOO_LATE', (t) => {
  const src = new MxlInstance(tempDomain());
  const writer = src.createFlowWriter(flowDef()) as DiscreteFlowWriter;
  const reader = src.openDiscreteFlowReader(FLOW_ID);
  const initiator = new Initiator({ provider: 'tcp', ring: ringFromReader(reader) });
  const first = currentIndex({ numerator: 50, denominator: 1 });
  for (let k = 0n; k < 12n; k++) writeGrain(writer, first + k);
  const e = t.throws(() => initiator.transferGrain(first), { instanceOf: FabricsError });
  t.is(e?.code, 'MXL_ERR_OUT_OF_RANGE_TOO_LATE');
  t.is(t.throws(() => initiator.transferGrain(first + 100n), { instanceOf: FabricsError })?.code, 'MXL_ERR_OUT_OF_RANGE_TOO_EARLY');
  initiator.close(); reader.close(); writer.close();
});
