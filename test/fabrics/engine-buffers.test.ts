// Target and initiator over user buffers in one process: the data path without a flow.
import test from 'ava';
import { createHash } from 'node:crypto';
import { Initiator } from '../../src/fabrics/initiator.js';
import { Target } from '../../src/fabrics/target.js';
import { TargetInfo } from '../../src/fabrics/target-info.js';
import { type GrainLayout, GRAIN_HEADER_SIZE } from '../../src/fabrics/grain-protocol.js';
import { ringFromBuffers, SlotHeader } from '../../src/fabrics/grain-ring.js';

const layout: GrainLayout = { grainSize: 64 * 1024, totalSlices: 64, sliceSizes: [1024, 0, 0, 0] };
const slotBytes = GRAIN_HEADER_SIZE + layout.grainSize;

function makeRing(count: number) {
  const bufs = Array.from({ length: count }, () => new ArrayBuffer(slotBytes));
  for (const b of bufs) {
    const u32 = new Uint32Array(b, 0, 8);
    u32[0] = 1; u32[1] = 4096; u32[5] = layout.grainSize;
    new Uint16Array(b, 0, 14)[12] = layout.totalSlices;
  }
  return bufs;
}

function fillGrain(buf: ArrayBuffer, index: bigint): string {
  new SlotHeader(buf).index = index;
  const p = new Uint8Array(buf, GRAIN_HEADER_SIZE, layout.grainSize);
  for (let i = 0; i < p.length; i++) p[i] = (Number(index % 251n) + i * 13) & 0xff;
  return createHash('sha1').update(p).digest('hex');
}

const sha = (buf: ArrayBuffer) => createHash('sha1').update(new Uint8Array(buf, GRAIN_HEADER_SIZE, layout.grainSize)).digest('hex');

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: grains land with their index, slices and bytes`, (t) => {
    const tBufs = makeRing(4);
    const target = new Target({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, ring: ringFromBuffers(tBufs, layout) });
    const info = TargetInfo.parse(target.info.toString());
    t.true(info.equals(target.info));
    const iBufs = makeRing(3);
    const initiator = new Initiator({ provider, ring: ringFromBuffers(iBufs, layout) });
    initiator.addTarget(info);
    const deadline = Date.now() + 5000;
    while (!initiator.targets.every((p) => p.state === 'connected') && Date.now() < deadline) {
      target.poll();
      initiator.makeProgress();
    }
    t.deepEqual(initiator.takeEvents().map((e) => e.type), ['connected']);

    const base = 1_000_000n;
    for (let k = 0n; k < 10n; k++) {
      const index = base + k;
      const sum = fillGrain(iBufs[Number(index % 3n)], index);
      const r = initiator.transferGrain(index);
      t.deepEqual(r, { posted: 1, skipped: 0 });
      let g = null;
      const end = Date.now() + 5000;
      while (!g && Date.now() < end) { initiator.makeProgress(); g = target.readGrain(); }
      t.truthy(g, `grain ${index} landed`);
      t.is(g!.index, index);
      t.is(g!.slot, Number(index % 4n));
      t.is(g!.validSlices, layout.totalSlices);
      t.false(g!.committed);
      const hdr = new SlotHeader(tBufs[g!.slot]);
      t.is(hdr.validSlices, layout.totalSlices);
      t.is(sha(tBufs[g!.slot]), sum, 'payload checksum');
    }
    // Slice ranges in order: validSlices grows, only the sent lines change.
    const index = base + 20n;
    fillGrain(iBufs[Number(index % 3n)], index);
    const slot = Number(index % 4n);
    new Uint8Array(tBufs[slot], GRAIN_HEADER_SIZE).fill(0);
    for (const [s, e] of [[0, 16], [16, 40], [40, 64]]) {
      initiator.transferGrain(index, s, e);
      let g = null;
      const end = Date.now() + 5000;
      while (!g && Date.now() < end) { initiator.makeProgress(); g = target.readGrain(); }
      t.is(g?.index, index);
      t.is(g?.validSlices, e);
      const lines = new Uint8Array(tBufs[slot], GRAIN_HEADER_SIZE, layout.grainSize);
      const src = new Uint8Array(iBufs[Number(index % 3n)], GRAIN_HEADER_SIZE, layout.grainSize);
      t.deepEqual(Buffer.from(lines.subarray(0, e * 1024)), Buffer.from(src.subarray(0, e * 1024)));
      if (e < 64) t.is(lines[e * 1024], 0, 'lines past the range untouched');
    }
    t.true(initiator.makeProgress(1000));
    initiator.close();
    target.close();
  });
}

test.serial('tcp: writes posted to all targets together never exceed the completion queue: a CQ of 4 carries 3 targets × 8 grains, all intact', (t) => {
  const targets = Array.from({ length: 3 }, () => {
    const bufs = makeRing(8);
    return { bufs, target: new Target({ provider: 'tcp', node: '127.0.0.1', ring: ringFromBuffers(bufs, layout) }) };
  });
  const iBufs = makeRing(8);
  const initiator = new Initiator({ provider: 'tcp', ring: ringFromBuffers(iBufs, layout), cqDepth: 4 });
  try {
    for (const x of targets) initiator.addTarget(x.target.info);
    const deadline = Date.now() + 5000;
    // shm: a target's own progress completes the writes to it (the probes here).
    while (!initiator.targets.every((p) => p.state === 'connected') && Date.now() < deadline) { for (const x of targets) x.target.poll(); initiator.makeProgress(1); }
    t.true(initiator.targets.every((p) => p.state === 'connected'));
    const base = 2_000_000n;
    const sums = new Map<bigint, string>();
    // All eight at once, without progress in between: 24 transfers, 48 writes, wait in their queues.
    for (let k = 0n; k < 8n; k++) {
      const index = base + k;
      sums.set(index, fillGrain(iBufs[Number(index % 8n)], index));
      t.deepEqual(initiator.transferGrain(index), { posted: 3, skipped: 0 });
    }
    const got = targets.map(() => new Map<bigint, string>());
    const end = Date.now() + 10_000;
    let most = 0;
    const posted = () => initiator.targets.reduce((n, p) => n + p.inFlight - p.queued, 0);
    most = Math.max(most, posted());
    while (got.some((m) => m.size < 8) && Date.now() < end) {
      initiator.makeProgress(1);
      most = Math.max(most, posted());
      targets.forEach((x, i) => { for (let g = x.target.readGrain(); g; g = x.target.readGrain()) got[i].set(g.index, sha(x.bufs[g.slot])); });
    }
    t.true(most <= 4 && most > 0, `at most 4 writes posted at once (${most})`);
    for (const [i, m] of got.entries()) {
      t.is(m.size, 8, `target ${i} got every grain`);
      for (const [index, sum] of m) t.is(sum, sums.get(index) ?? '?', `target ${i} grain ${index}`);
    }
    const idleBy = Date.now() + 5000;
    while (!initiator.idle() && Date.now() < idleBy) { for (const x of targets) x.target.poll(); initiator.makeProgress(1); }
    t.deepEqual(initiator.targets.map((p) => [p.errors, p.grains]), [[0, 8], [0, 8], [0, 8]]);
  } finally {
    initiator.close();
    for (const x of targets) x.target.close();
  }
});
