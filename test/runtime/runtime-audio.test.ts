// Audio through the worker runtime: follow mode forwards every committed sample.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { Fabrics } from '../../src/runtime/coordinator.js';
import { MxlInstance, currentIndex, type ContinuousFlowWriter } from '../../src/domain/index.js';

const FLOW = 'b3bb5be7-9fe9-4324-a5bb-4c70e1084449';
const audioDef = JSON.stringify({
  id: FLOW, label: 'runtime audio', format: 'urn:x-nmos:format:audio', media_type: 'audio/float32',
  tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['test:audio'] }, sample_rate: { numerator: 48000 }, channel_count: 2, bit_depth: 32,
});
const dirs: string[] = [];
const domain = () => { const d = fs.mkdtempSync(path.join('/dev/shm', 'mxlf-test-')); dirs.push(d); return d; };
test.after.always(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });
const value = (s: bigint, c: number) => Number((s * 13n + BigInt(c) * 7919n) % 65536n) / 65536;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: every committed sample arrives through the runtime, in order and exact`, async (t) => {
    const src = new MxlInstance(domain());
    const dstDir = domain();
    const w = src.createFlowWriter(audioDef) as ContinuousFlowWriter;
    const fx = new Fabrics();
    try {
      const target = await fx.createTarget({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, domain: dstDir, flowDef: audioDef });
      t.is(target.kind, 'samples');
      const initiator = await fx.createInitiator({ provider, domain: src.domain, flowId: FLOW, follow: true });
      const connected = new Promise((r) => initiator.once('connected', r));
      await initiator.addTarget(target.info);
      await connected;
      const dst = new MxlInstance(dstDir);
      const reader = dst.openContinuousFlowReader(FLOW);
      let first = currentIndex({ numerator: 48000, denominator: 1 });
      let received = 0n;
      let expectedNext = -1n;
      let firstStart = -1n;
      let gaps = 0;
      let bad = 0;
      const N = 100;
      const total = BigInt(N * 480);
      const consume = (async () => {
        for await (const s of target.samples()) {
          if (firstStart < 0n) firstStart = s.headIndex - BigInt(s.count);
          if (expectedNext >= 0n && s.headIndex - BigInt(s.count) !== expectedNext) gaps++;
          expectedNext = s.headIndex;
          const r = reader.getSamplesSync(s.headIndex, s.count);
          if (r.status !== 'OK') { bad++; continue; }
          for (let c = 0; c < 2; c++) {
            let x = s.headIndex - BigInt(s.count);
            for (const f of r.channels[c]) for (let i = 0; i < f.length; i++, x++) if (f[i] !== Math.fround(value(x, c))) bad++;
          }
          received += BigInt(s.count);
          if (s.headIndex >= first + total) return;
        }
      })();
      // The initiator starts at the head it first sees: write one window, then the rest.
      for (let k = 0; k <= N; k++) {
        const end = first + BigInt(k * 480);
        if (k === 0) { first = end; }
        const a = w.openSamples(end === 0n ? 480n : end, 480);
        for (let c = 0; c < 2; c++) {
          let x = (end === 0n ? 480n : end) - 480n;
          for (const f of a.channels[c]) for (let i = 0; i < f.length; i++, x++) f[i] = value(x, c);
        }
        w.commitSamples();
        await sleep(5);
      }
      await Promise.race([consume, sleep(15_000).then(() => { throw new Error(`only ${received} of ${total} samples arrived`); })]);
      t.is(gaps, 0, 'windows arrive back to back');
      t.is(bad, 0, 'every sample exact');
      // Follow mode starts at the head it first sees (at most a window or two into the stream).
      t.true(firstStart >= first && firstStart <= first + 960n, `first window starts at +${firstStart - first}`);
      t.is(received, first + total - firstStart, 'no sample missing after the first window');
      reader.close();
      dst.close();
    } finally {
      await fx.close();
      w.close();
      src.close();
    }
  });
}
