// Audio through the worker runtime: follow mode forwards every committed sample.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { Fabrics } from '../../src/runtime/coordinator.js';
import type { TargetHandle } from '../../src/runtime/target-handle.js';
import type { InitiatorHandle } from '../../src/runtime/initiator-handle.js';
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

/** Samples of window (end, count) in `channels` (a read's views) that are not the ramp's (shifted by `salt`). */
function rampMismatches(channels: ArrayLike<number>[][], end: bigint, count: number, salt = 0n): number {
  let bad = 0;
  for (let c = 0; c < 2; c++) {
    let x = end - BigInt(count);
    for (const f of channels[c]) for (let i = 0; i < f.length; i++, x++) if (f[i] !== Math.fround(value(x + salt, c))) bad++;
  }
  return bad;
}

/** A follow-mode initiator of the source flow, connected to `target`. */
async function followInto(fx: Fabrics, provider: 'tcp' | 'shm', domain: string, target: TargetHandle, nativeFollow?: boolean): Promise<InitiatorHandle> {
  const initiator = await fx.createInitiator({ provider, domain, flowId: FLOW, follow: true, nativeFollow });
  const connected = new Promise((r) => initiator.once('connected', r));
  await initiator.addTarget(target.info);
  await connected;
  return initiator;
}

// Over tcp the addon's follow loop carries audio by default (docs/native.md); the JavaScript
// loop stays for shm and for nativeFollow: false, and must behave the same.
for (const [provider, loop] of [['tcp', 'native'], ['tcp', 'javascript'], ['shm', 'javascript']] as const) {
  test.serial(`${provider}, ${loop} follow loop: every committed sample arrives through the runtime, in order and exact`, async (t) => {
    const src = new MxlInstance(domain());
    const dstDir = domain();
    const w = src.createFlowWriter(audioDef) as ContinuousFlowWriter;
    const fx = new Fabrics();
    try {
      const target = await fx.createTarget({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, domain: dstDir, flowDef: audioDef });
      t.is(target.kind, 'samples');
      const initiator = await followInto(fx, provider, src.domain, target, loop === 'native' ? undefined : false);
      t.is((await initiator.status() as { followLoop: string }).followLoop, loop);
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
      // What the initiator reports completed, window by window, against what landed.
      const completed: string[] = [];
      const landed: string[] = [];
      void (async () => { for await (const c of initiator.completions()) completed.push(`${c.index}+${c.count}`); })();
      const consume = (async () => {
        for await (const s of target.samples()) {
          landed.push(`${s.headIndex}+${s.count}`);
          if (firstStart < 0n) firstStart = s.headIndex - BigInt(s.count);
          if (expectedNext >= 0n && s.headIndex - BigInt(s.count) !== expectedNext) gaps++;
          expectedNext = s.headIndex;
          const r = reader.getSamplesSync(s.headIndex, s.count);
          if (r.status !== 'OK') { bad++; continue; }
          bad += rampMismatches(r.channels, s.headIndex, s.count);
          received += BigInt(s.count);
          if (s.headIndex >= first + total) return;
        }
      })();
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
      // Attached before the first commit: the first committed window is the first to arrive.
      t.is(firstStart, first - 480n, `first window starts at ${firstStart - first} from the first commit's head`);
      t.is(received, first + total - firstStart, 'no sample missing after the first window');
      for (let i = 0; i < 100 && completed.length < landed.length; i++) await sleep(20);
      t.deepEqual(completed, landed, 'the initiator reports each window (end index and sample count) that landed');
      reader.close();
      dst.close();
    } finally {
      await fx.close();
      w.close();
      src.close();
    }
  });
}

/** Writes window [end − 480, end) of the ramp and commits it. */
const writeWindow = (w: ContinuousFlowWriter, end: bigint, salt = 0n): void => {
  const a = w.openSamples(end, 480);
  for (let c = 0; c < 2; c++) {
    let x = end - 480n;
    for (const f of a.channels[c]) for (let i = 0; i < f.length; i++, x++) f[i] = value(x + salt, c);
  }
  w.commitSamples();
};

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: follow mode sends the window committed before it attached, and the first window after a writer restart`, async (t) => {
    const src = new MxlInstance(domain());
    const dstDir = domain();
    const w = src.createFlowWriter(audioDef) as ContinuousFlowWriter;
    let w2: ContinuousFlowWriter | undefined;
    const fx = new Fabrics();
    try {
      const target = await fx.createTarget({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, domain: dstDir, flowDef: audioDef });
      const e0 = (currentIndex({ numerator: 48000, denominator: 1 }) / 480n + 1n) * 480n;
      writeWindow(w, e0); // committed before the initiator exists
      const initiator = await followInto(fx, provider, src.domain, target);
      const dst = new MxlInstance(dstDir);
      const reader = dst.openContinuousFlowReader(FLOW);
      const arrivals = target.samples();
      const next = async (what: string) => {
        const r = await Promise.race([arrivals.next(), sleep(5000).then(() => undefined)]);
        if (!r || r.done) throw new Error(`no window arrived: ${what}`);
        return r.value;
      };
      /** Bad samples of window (end, 480) at the destination, against the ramp with `salt`. */
      const badSamples = (end: bigint, salt = 0n): number => {
        const r = reader.getSamplesSync(end, 480);
        if (r.status !== 'OK') return 480 * 2;
        return rampMismatches(r.channels, end, 480, salt);
      };

      // Nothing new is committed: the window that was already there arrives on its own.
      const first = await next('the window committed before the attach');
      t.is(first.headIndex, e0, 'the first window is the one committed before the attach');
      t.is(first.count, 480);
      t.is(badSamples(e0), 0, 'its samples are exact at the destination');
      writeWindow(w, e0 + 480n);
      const second = await next('the window after the attach');
      t.is(second.headIndex - BigInt(second.count), e0, 'the next window follows on, no gap');
      t.is(second.headIndex, e0 + 480n);
      t.is(badSamples(e0 + 480n), 0);

      // A writer restart (a new writer of the same flow, whose clock is a second behind) moves
      // the head back: its first window arrives, not only the ones after it.
      w2 = src.createFlowWriter(audioDef) as ContinuousFlowWriter;
      const back = e0 - 48_000n;
      writeWindow(w2, back, 1n);
      const restarted = await next('the first window after the writer restart');
      t.is(restarted.headIndex, back, 'the first window after the restart is sent');
      t.is(restarted.count, 480);
      t.is(badSamples(back, 1n), 0, 'with the restarted writer\'s samples');
      writeWindow(w2, back + 480n, 1n);
      const after = await next('the window after the restart');
      t.is(after.headIndex - BigInt(after.count), back, 'and the stream goes on from there');
      t.is(badSamples(back + 480n, 1n), 0);
      await arrivals.return(undefined);
      reader.close();
      dst.close();
    } finally {
      await fx.close();
      w2?.close();
      w.close();
      src.close();
    }
  });
}

// Fan-out: one follow-mode initiator feeding two targets stages each window once and writes it
// to both (the addon's loop over tcp shares the staged copy between its lanes; the JavaScript
// loop over shm shares its staging slot): both destinations must hold every sample exactly.
for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: one follow-mode initiator into two targets: both get every window, exact`, async (t) => {
    const src = new MxlInstance(domain());
    const w = src.createFlowWriter(audioDef) as ContinuousFlowWriter;
    const fx = new Fabrics();
    try {
      const dstDirs = [domain(), domain()];
      const targets = await Promise.all(dstDirs.map((d) => fx.createTarget({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, domain: d, flowDef: audioDef })));
      const initiator = await fx.createInitiator({ provider, domain: src.domain, flowId: FLOW, follow: true });
      let connected = 0;
      const both = new Promise<void>((resolve) => initiator.on('connected', () => { if (++connected === 2) resolve(); }));
      for (const target of targets) await initiator.addTarget(target.info);
      await Promise.race([both, sleep(10_000)]);
      t.is(connected, 2, 'both targets connected');
      const e0 = (currentIndex({ numerator: 48000, denominator: 1 }) / 480n + 1n) * 480n;
      const N = 20; // 9,600 samples: within half of this flow's ring (one read checks them all)
      for (let k = 0; k < N; k++) {
        writeWindow(w, e0 + BigInt(k * 480));
        await sleep(5);
      }
      const last = e0 + BigInt((N - 1) * 480);
      for (const [i, d] of dstDirs.entries()) {
        const dst = new MxlInstance(d);
        const reader = dst.openContinuousFlowReader(FLOW);
        try {
          for (const until = Date.now() + 10_000; reader.flowHeader.headIndex < last && Date.now() < until;) await sleep(10);
          t.is(reader.flowHeader.headIndex, last, `target ${i + 1} has the last window`);
          const r = reader.getSamplesSync(last, N * 480);
          t.is(r.status, 'OK');
          t.is(rampMismatches(r.channels, last, N * 480), 0, `target ${i + 1}: every sample of the ${N} windows exact`);
        } finally {
          reader.close();
          dst.close();
        }
      }
    } finally {
      await fx.close();
      w.close();
      src.close();
    }
  });
}
