// Audio through the CLI: `mxl-fabrics target` on an audio flow definition and
// `mxl-fabrics initiator` following an audio flow that this test writes (as any MXL
// application would); every sample that reaches the target flow is checked.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { MxlInstance, currentIndex, type ContinuousFlowWriter } from '../../src/domain/index.js';
import { AUDIO_FLOW_ID, audioDef } from './fixtures/pattern.js';
import { alive, cleanupAll, roomyDomain, sleep, startCli, tempDir } from './fixtures/cli.js';

test.after.always(cleanupAll);

const value = (s: bigint, c: number) => Math.fround(Number((s * 3n + BigInt(c) * 104729n) % 65536n) / 65536);

test.serial('tcp: audio target and initiator from the CLI carry every sample exactly; SIGINT stops both', async (t) => {
  t.timeout(60_000);
  const src = roomyDomain();
  const dst = roomyDomain();
  const work = tempDir();
  const defFile = path.join(work, 'audio_flow.json');
  fs.writeFileSync(defFile, audioDef());
  const infoFile = path.join(work, 'target.json');
  const srcInst = new MxlInstance(src);
  const w = srcInst.createFlowWriter(audioDef()) as ContinuousFlowWriter;
  const target = startCli(['target', '-d', dst, '-f', defFile, '-p', 'tcp', '-n', '127.0.0.1', '-t', `@${infoFile}`]);
  try {
    await target.waitFor(/Target info:/);
    const info = JSON.parse(fs.readFileSync(infoFile, 'utf8'));
    t.truthy(info.bounceBufferInfo, 'an audio TargetInfo carries bounceBufferInfo');
    const initiator = startCli(['initiator', '-d', src, '-f', AUDIO_FLOW_ID, '-t', `@${infoFile}`]);
    await initiator.waitFor(/connected|added target/);
    let end = (currentIndex({ numerator: 48000, denominator: 1 }) / 480n) * 480n;
    const writeWindow = () => {
      end += 480n;
      const a = w.openSamples(end, 480);
      for (let c = 0; c < 2; c++) {
        let x = end - 480n;
        for (const f of a.channels[c]) for (let i = 0; i < f.length; i++, x++) f[i] = value(x, c);
      }
      w.commitSamples();
    };
    // Until the target flow shows samples (connection set-up), then 100 windows more.
    const dstInst = new MxlInstance(dst);
    const deadline = Date.now() + 20_000;
    let reader;
    while (!reader && Date.now() < deadline) {
      writeWindow();
      await sleep(10);
      try { reader = dstInst.openContinuousFlowReader(AUDIO_FLOW_ID); if (reader.flowHeader.headIndex === 0n) { reader.close(); reader = undefined; } } catch { /* not created yet */ }
    }
    t.truthy(reader, 'samples reached the target flow');
    const startHead = reader!.flowHeader.headIndex;
    for (let k = 0; k < 100; k++) { writeWindow(); await sleep(10); }
    const until = Date.now() + 10_000;
    while (reader!.flowHeader.headIndex < end && Date.now() < until) await sleep(10);
    t.is(reader!.flowHeader.headIndex, end, 'the target flow caught up with the source');
    // Check the newest 100 windows that fit in half the target ring.
    const span = Math.min(Number(end - startHead), Math.floor(reader!.geometry.bufferLength / 2));
    const r = reader!.getSamplesSync(end, span);
    t.is(r.status, 'OK');
    let bad = 0;
    for (let c = 0; c < 2; c++) {
      let x = end - BigInt(span);
      for (const f of r.channels[c]) for (let i = 0; i < f.length; i++, x++) if (f[i] !== value(x, c)) bad++;
    }
    t.is(bad, 0, `every one of the last ${span} samples per channel exact`);
    reader!.close();
    dstInst.close();
    for (const [p, what] of [[initiator, 'initiator'], [target, 'target']] as const) {
      const res = await p.stop('SIGINT');
      t.is(res.code, 0, `${what} exits 0 on SIGINT`);
      t.false(alive(p.proc.pid));
    }
    t.regex(target.stderr.join('\n'), /windows/);
  } finally {
    await target.stop('SIGKILL');
    w.close();
    srcInst.close();
  }
});
