// Audio over fabrics: windows of samples from a continuous flow writer through an
// initiator and a target's bounce buffer into a second domain, checked sample by sample.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { MxlInstance, currentIndex, type ContinuousFlowWriter } from '../../src/domain/index.js';
import { Initiator } from '../../src/fabrics/initiator.js';
import { Target } from '../../src/fabrics/target.js';
import { TargetInfo } from '../../src/fabrics/target-info.js';
import { samplesFromReader, samplesFromWriter } from '../../src/fabrics/sample-ring.js';
import { ringFromBuffers } from '../../src/fabrics/grain-ring.js';
import { FabricsError } from '../../src/errors.js';

const FLOW = 'b3bb5be7-9fe9-4324-a5bb-4c70e1084449';
const audioDef = (channels = 2) => JSON.stringify({
  id: FLOW, label: 'audio test', format: 'urn:x-nmos:format:audio', media_type: 'audio/float32',
  tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['test:audio'] }, sample_rate: { numerator: 48000 }, channel_count: channels, bit_depth: 32,
});

const dirs: string[] = [];
function domain(historyNs?: number): string {
  const d = fs.mkdtempSync(path.join('/dev/shm', 'mxlf-test-'));
  if (historyNs) fs.writeFileSync(path.join(d, 'options.json'), JSON.stringify({ 'urn:x-mxl:option:history_duration/v1.0': historyNs }));
  dirs.push(d);
  return d;
}
test.after.always(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

/** Exactly representable float32 value of sample s on channel c. */
const value = (s: bigint, c: number) => Number((s * 7n + BigInt(c) * 1000003n) % 65536n) / 65536 - 0.5;

function write(w: ContinuousFlowWriter, end: bigint, count: number): void {
  const a = w.openSamples(end, count);
  for (let c = 0; c < a.channels.length; c++) {
    let s = end - BigInt(count);
    for (const frag of a.channels[c]) for (let i = 0; i < frag.length; i++, s++) frag[i] = value(s, c);
  }
  w.commitSamples();
}

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: 200 windows of 480 samples arrive exactly, across ring wraps and different ring lengths`, (t) => {
    const src = new MxlInstance(domain());
    const dst = new MxlInstance(domain(150_000_000)); // another history: another ring length at the target
    const w = src.createFlowWriter(audioDef()) as ContinuousFlowWriter;
    const reader = src.openContinuousFlowReader(FLOW);
    const tw = dst.createFlowWriter(audioDef()) as ContinuousFlowWriter;
    const tr = dst.openContinuousFlowReader(FLOW);
    t.not(w.geometry.bufferLength, tw.geometry.bufferLength);
    const target = new Target({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, samples: samplesFromWriter(tw) });
    const info = TargetInfo.parse(target.info.toString());
    t.truthy(info.bounceBufferInfo);
    t.is(Number(info.bounceBufferInfo!.entrySize), 16 + 2 * 4 * 480);
    t.is(info.regions.length, Number(info.bounceBufferInfo!.entryCount));
    const initiator = new Initiator({ provider, samples: samplesFromReader(reader) });
    initiator.addTarget(info);
    const until = Date.now() + 5000;
    while (!initiator.idle() && Date.now() < until) { target.poll(); initiator.makeProgress(); }
    t.is(initiator.maxSamplesPerTransfer(), 480);

    let end = currentIndex({ numerator: 48000, denominator: 1 });
    let bad = 0;
    for (let k = 0; k < 200; k++) {
      end += 480n;
      write(w, end, 480);
      t.deepEqual(initiator.transferSamples(end, 480), { posted: 1, skipped: 0 });
      let got = null;
      const dl = Date.now() + 5000;
      while (!got && Date.now() < dl) { initiator.makeProgress(); got = target.readSamples(); }
      if (!got) { t.fail(`window ${k} did not land`); break; }
      t.is(got.headIndex, end);
      t.is(got.count, 480);
      const r = tr.getSamplesSync(end, 480);
      if (r.status !== 'OK') { t.fail(`window ${k}: ${r.status}`); break; }
      for (let c = 0; c < 2; c++) {
        let s = end - 480n;
        for (const frag of r.channels[c]) for (let i = 0; i < frag.length; i++, s++) if (frag[i] !== value(s, c)) bad++;
      }
    }
    t.is(bad, 0, 'every sample arrived exactly');
    t.is(tw.flowHeader.headIndex, end);
    t.is(target.counters.sampleBatches, 200);
    // 200 × 480 samples wrap both rings (19456 and 14336 samples) several times.
    t.true(200 * 480 > 4 * w.geometry.bufferLength);
    initiator.close(); target.close();
    reader.close(); tr.close(); w.close(); tw.close();
  });
}

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: 16 channels, 12 windows posted back to back to two targets, each window exact at both`, (t) => {
    // Every window is staged before the first completes: each needs its own staging slot, and
    // one slot serves both targets (docs/protocol.md §4.7).
    const src = new MxlInstance(domain());
    const w = src.createFlowWriter(audioDef(16)) as ContinuousFlowWriter;
    const reader = src.openContinuousFlowReader(FLOW);
    const sides = [domain(), domain(150_000_000)].map((d) => {
      const dst = new MxlInstance(d);
      const tw = dst.createFlowWriter(audioDef(16)) as ContinuousFlowWriter;
      const target = new Target({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, samples: samplesFromWriter(tw) });
      return { dst, tw, tr: dst.openContinuousFlowReader(FLOW), target, landed: [] as bigint[] };
    });
    const initiator = new Initiator({ provider, samples: samplesFromReader(reader) });
    for (const sd of sides) initiator.addTarget(TargetInfo.parse(sd.target.info.toString()));
    const pump = (done: () => boolean) => {
      const dl = Date.now() + 5000;
      while (!done() && Date.now() < dl) {
        initiator.makeProgress();
        for (const sd of sides) {
          sd.target.poll();
          for (let r = sd.target.readSamples(); r; r = sd.target.readSamples()) sd.landed.push(r.headIndex);
        }
      }
    };
    pump(() => initiator.idle());
    const N = 12; // all still readable at both targets: half the shorter ring is 14 windows
    t.true(N * 480 <= Math.min(...sides.map((sd) => sd.tr.maxReadLength)));
    t.true(N < Number(TargetInfo.parse(sides[0].target.info.toString()).bounceBufferInfo!.entryCount), 'no bounce entry is reused within the burst');
    const first = (currentIndex({ numerator: 48000, denominator: 1 }) / 480n + 1n) * 480n;
    for (let k = 0; k < N; k++) {
      const end = first + BigInt(k * 480);
      write(w, end, 480);
      t.deepEqual(initiator.transferSamples(end, 480), { posted: 2, skipped: 0 });
    }
    pump(() => sides.every((sd) => sd.landed.length >= N) && initiator.idle());
    for (const [i, sd] of sides.entries()) {
      t.deepEqual(sd.landed, Array.from({ length: N }, (_, k) => first + BigInt(k * 480)), `target ${i}: every window, in order`);
      let bad = 0;
      for (let k = 0; k < N; k++) {
        const end = first + BigInt(k * 480);
        const r = sd.tr.getSamplesSync(end, 480);
        if (r.status !== 'OK') { bad += 480 * 16; continue; }
        for (let c = 0; c < 16; c++) {
          let x = end - 480n;
          for (const frag of r.channels[c]) for (let i = 0; i < frag.length; i++, x++) if (frag[i] !== value(x, c)) bad++;
        }
      }
      t.is(bad, 0, `target ${i}: every sample of every window exact`);
    }
    initiator.close();
    for (const sd of sides) { sd.target.close(); sd.tr.close(); sd.tw.close(); sd.dst.close(); }
    reader.close(); w.close(); src.close();
  });
}

test.serial('audio and grain endpoints refuse each other with typed errors', (t) => {
  const src = new MxlInstance(domain());
  const w = src.createFlowWriter(audioDef()) as ContinuousFlowWriter;
  const reader = src.openContinuousFlowReader(FLOW);
  const audioTarget = new Target({ provider: 'tcp', node: '127.0.0.1', samples: samplesFromWriter(w) });
  t.is(t.throws(() => audioTarget.readGrain(), { instanceOf: FabricsError })?.code, 'MXL_ERR_INVALID_STATE');
  const layout = { grainSize: 4096, totalSlices: 4096, sliceSizes: [1, 0, 0, 0] };
  const grainTarget = new Target({ provider: 'tcp', node: '127.0.0.1', ring: ringFromBuffers([new ArrayBuffer(8192 + 4096)], layout) });
  t.is(t.throws(() => grainTarget.readSamples(), { instanceOf: FabricsError })?.code, 'MXL_ERR_INVALID_STATE');
  const audioInit = new Initiator({ provider: 'tcp', samples: samplesFromReader(reader) });
  const e = t.throws(() => audioInit.addTarget(grainTarget.info), { instanceOf: FabricsError });
  t.is(e?.code, 'MXL_ERR_INVALID_ARG');
  t.is(e?.field, 'bounceBufferInfo');
  const grainInit = new Initiator({ provider: 'tcp', ring: ringFromBuffers([new ArrayBuffer(8192 + 4096)], layout) });
  t.is(t.throws(() => grainInit.addTarget(audioTarget.info), { instanceOf: FabricsError })?.field, 'bounceBufferInfo');
  t.is(t.throws(() => audioInit.transferGrain(1n), { instanceOf: FabricsError })?.code, 'MXL_ERR_INVALID_STATE');
  audioInit.addTarget(audioTarget.info);
  t.is(t.throws(() => audioInit.transferSamples(10_000n, 0), { instanceOf: FabricsError })?.code, 'MXL_ERR_INVALID_ARG');
  t.is(t.throws(() => audioInit.transferSamples(10_000n, 481), { instanceOf: FabricsError })?.code, 'MXL_ERR_INVALID_ARG');
  t.is(t.throws(() => audioInit.transferSamples(10_000n, 480), { instanceOf: FabricsError })?.code, 'MXL_ERR_OUT_OF_RANGE_TOO_EARLY');
  for (const x of [audioInit, grainInit]) x.close();
  for (const x of [audioTarget, grainTarget]) x.close();
  reader.close(); w.close();
});
