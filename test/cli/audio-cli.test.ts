// Audio through the CLI: `mxl-fabrics target` on an audio flow definition and
// `mxl-fabrics initiator` following an audio flow that this test writes (as any MXL
// application would); every sample that reaches the target flow is checked.
import test, { type ExecutionContext } from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { MxlInstance, currentIndex, type ContinuousFlowWriter } from '../../src/domain/index.js';
import { AUDIO_FLOW_ID, audioDef } from './fixtures/pattern.js';
import { alive, cleanupAll, roomyDomain, sleep, startCli, tempDir, type Proc } from './fixtures/cli.js';

test.after.always(cleanupAll);

const value = (s: bigint, c: number) => Math.fround(Number((s * 3n + BigInt(c) * 104729n) % 65536n) / 65536);

/** Writes the ramp into window [end − 480, end) of both channels and commits it. */
function writeRamp(w: ContinuousFlowWriter, end: bigint): void {
  const a = w.openSamples(end, 480);
  for (let c = 0; c < 2; c++) {
    let x = end - 480n;
    for (const f of a.channels[c]) for (let i = 0; i < f.length; i++, x++) f[i] = value(x, c);
  }
  w.commitSamples();
}

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
      writeRamp(w, end);
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

/**
 * A live audio source for the fault tests: writes the ramp at its real rate until stop(),
 * and reads the destination flow (its head, and whether a span of samples is exact).
 */
function liveAudio(src: string, dst: string) {
  const srcInst = new MxlInstance(src);
  const w = srcInst.createFlowWriter(audioDef()) as ContinuousFlowWriter;
  const rate = { numerator: 48000, denominator: 1 };
  let end = (currentIndex(rate) / 480n) * 480n;
  const timer = setInterval(() => {
    const now = currentIndex(rate);
    while (end + 480n <= now) {
      end += 480n;
      writeRamp(w, end);
    }
  }, 5);
  const d = audioDestination(dst);
  return {
    /** The source's newest committed sample index. */
    get end() { return end; },
    headPast: d.headPast,
    badSamples: d.badSamples,
    close(): void {
      clearInterval(timer);
      d.close();
      w.close();
      srcInst.close();
    },
  };
}

/** A destination domain of the ramp: its head, and whether a span of its samples is exact. */
function audioDestination(dst: string) {
  const dstInst = new MxlInstance(dst);
  return {
    /** The destination head once it is `windows` windows past `from` (within 10 s), else undefined. */
    async headPast(from: bigint, windows: number): Promise<bigint | undefined> {
      const until = Date.now() + 10_000;
      while (Date.now() < until) {
        try {
          const r = dstInst.openContinuousFlowReader(AUDIO_FLOW_ID);
          const h = r.flowHeader.headIndex;
          r.close();
          if (h >= from + BigInt(windows * 480)) return h;
        } catch { /* the flow is not there yet */ }
        await sleep(10);
      }
      return undefined;
    },
    /** Samples of [head − span, head) at the destination that are not the ramp's. */
    badSamples(head: bigint, span: number): number {
      const r = dstInst.openContinuousFlowReader(AUDIO_FLOW_ID);
      try {
        const s = r.getSamplesSync(head, span);
        if (s.status !== 'OK') return 2 * span;
        let bad = 0;
        for (let c = 0; c < 2; c++) {
          let x = head - BigInt(span);
          for (const f of s.channels[c]) for (let i = 0; i < f.length; i++, x++) if (f[i] !== value(x, c)) bad++;
        }
        return bad;
      } finally {
        r.close();
      }
    },
    close(): void {
      dstInst.close();
    },
  };
}

/** Source and destination domains, the flow definition file, and the TargetInfo file. */
function audioRig() {
  const work = tempDir();
  const defFile = path.join(work, 'audio_flow.json');
  fs.writeFileSync(defFile, audioDef());
  return { src: roomyDomain(), dst: roomyDomain(), defFile, infoFile: path.join(work, 'target.json') };
}

interface AudioFault {
  live: ReturnType<typeof liveAudio>;
  initiator: Proc;
  target: Proc;
  /** Starts another target on the same TargetInfo file (a restart). */
  startTarget: () => Promise<Proc>;
}

/**
 * A CLI target and a CLI follow-mode initiator carrying the live ramp; `fault` runs once 20
 * exact windows arrived. Then the initiator must still run and stop cleanly on SIGINT.
 */
async function audioFault(t: ExecutionContext, provider: 'tcp' | 'shm', fault: (f: AudioFault) => Promise<void>): Promise<void> {
  t.timeout(90_000);
  const rig = audioRig();
  const procs: Proc[] = [];
  const startTarget = async (): Promise<Proc> => {
    const p = startCli(['target', '-d', rig.dst, '-f', rig.defFile, '-p', provider, ...(provider === 'tcp' ? ['-n', '127.0.0.1'] : []), '-t', `@${rig.infoFile}`, '-q']);
    procs.push(p);
    await p.waitFor(/Target info:/);
    return p;
  };
  const live = liveAudio(rig.src, rig.dst);
  try {
    const target = await startTarget();
    const initiator = startCli(['initiator', '-d', rig.src, '-f', AUDIO_FLOW_ID, '-t', `@${rig.infoFile}`]);
    procs.push(initiator);
    await initiator.waitFor(/connected to target #1/, 20_000);
    // The addon's follow loop over tcp, the JavaScript one over shm, and the initiator says which.
    t.regex(initiator.stderr.join('\n'), provider === 'tcp' ? /following flow .*native loop/ : /following flow .*JavaScript loop/);
    // Samples land from the window before the attach on: check 20 windows after the first.
    const first = await live.headPast(0n, 1);
    t.truthy(first, 'samples reached the target flow');
    const steady = await live.headPast(first!, 20);
    t.truthy(steady, '20 more windows arrived');
    t.is(live.badSamples(steady!, 20 * 480), 0, 'exact before the fault');
    await fault({ live, initiator, target, startTarget });
    t.true(initiator.proc.exitCode === null, 'the initiator kept running');
    const r = await initiator.stop('SIGINT');
    t.is(r.code, 0, initiator.stderr.join('\n'));
  } finally {
    live.close();
    for (const p of procs) await p.stop('SIGKILL');
  }
}

// A peer that vanishes, for audio: the initiator's follow loop (the addon's, over tcp) must
// see the target die, report it, take the new TargetInfo the restarted target writes to the
// same file, and carry exact samples again, without being restarted itself.
test.serial('tcp: an audio target killed (SIGKILL) and restarted with a new TargetInfo: the initiator reports the loss, resumes by itself, samples exact', (t) =>
  audioFault(t, 'tcp', async ({ live, initiator, target, startTarget }) => {
    target.proc.kill('SIGKILL');
    await target.exit;
    const killedAt = live.end;
    await initiator.waitFor(/disconnected|lost|failed|stalled/i, 15_000);
    await sleep(300); // the target stays down a little while the source goes on
    await startTarget();
    // The restarted target's first window is newer than anything the dead one got.
    const resumed = await live.headPast(killedAt, 1);
    if (!resumed) t.log(initiator.stderr.slice(-20).join('\n'));
    t.truthy(resumed, 'the initiator resumed into the restarted target by itself');
    const after = await live.headPast(resumed!, 20);
    t.truthy(after, '20 more windows arrived after the resumption');
    t.is(live.badSamples(after!, 20 * 480), 0, 'the samples after the resumption are exact');
    t.regex(initiator.stderr.join('\n'), /resumed/, 'the initiator reported the resumption');
  }));

// The initiator itself frozen past what its source ring holds (half of 1 s of history): on
// SIGCONT the samples it missed are gone, so it must skip to what the ring still holds, say
// so, never send a window the writer lapped, and carry exact samples again. Over tcp the
// addon's follow loop runs, over shm the JavaScript one (docs/native.md).
for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: an audio initiator stopped (SIGSTOP) longer than half its source ring skips what was lost, says so, and carries exact samples again`, (t) =>
    audioFault(t, provider, async ({ live, initiator, target }) => {
      initiator.proc.kill('SIGSTOP');
      await sleep(1200);
      const stoppedTill = live.end;
      initiator.proc.kill('SIGCONT');
      const after = await live.headPast(stoppedTill, 20);
      t.truthy(after, 'windows arrive again after SIGCONT');
      // The 20 windows either side of the SIGCONT: the end of the catch-up burst (the half
      // ring the source still held) and the first live windows. More windows than the
      // initiator keeps in flight go out at once there; none may be skipped (a hole of zeros).
      t.is(live.badSamples(stoppedTill + 20n * 480n, 40 * 480), 0, 'the samples either side of the resumption are exact');
      await initiator.waitFor(/skipped/, 5000);
      t.true(target.proc.exitCode === null, 'the target keeps running');
    }));

  // The target frozen for less than the initiator's stall timeout (1.75 s) and its source's
  // half ring (1 s): the initiator's writes back up (its in-flight bound is reached after
  // 0.64 s of windows), and on SIGCONT everything held back must follow, in order, with no hole.
  test.serial(`${provider}: an audio target stopped (SIGSTOP) for 800 ms gets every window once it continues, exact and without a hole`, (t) =>
    audioFault(t, provider, async ({ live, target }) => {
      const stoppedAt = live.end;
      target.proc.kill('SIGSTOP');
      await sleep(800);
      target.proc.kill('SIGCONT');
      const after = await live.headPast(stoppedAt, 85);
      t.truthy(after, 'windows arrive again after SIGCONT');
      // From 5 windows before the stop to the head now: the ~80 held back through the stop
      // included (as much as the destination's half ring lets one read check).
      const span = Math.min(Number(after! - stoppedAt) + 5 * 480, 48_000);
      t.true(span > 85 * 480, `the check covers the stop (${span} samples)`);
      t.is(live.badSamples(after!, span), 0, 'every sample around the stop arrived, exact');
      t.true(target.proc.exitCode === null, 'the target keeps running');
    }));
}

// Fan-out with a stalled receiver: one follow-mode initiator feeds two targets and one of them
// is frozen (SIGSTOP) for 1.2 s, past the initiator's in-flight bound (64 windows, 0.64 s)
// but within its stall timeout (1.75 s) and the source's half ring (1 s). Each target has its
// own cursor (docs/protocol.md §4.7), so the other target must keep getting windows all
// through the stop, and the frozen one everything it missed once it continues. With one
// shared cursor both stopped once the frozen target's writes reached the bound.
for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: one audio initiator into two targets, one frozen (SIGSTOP) for 1.2 s: the other keeps getting every window through the stop, the frozen one all it missed after`, async (t) => {
    t.timeout(90_000);
    const rig = audioRig();
    const infoB = path.join(path.dirname(rig.infoFile), 'target-b.json');
    const dstB = roomyDomain();
    const procs: Proc[] = [];
    const startTarget = async (dst: string, infoFile: string): Promise<Proc> => {
      const p = startCli(['target', '-d', dst, '-f', rig.defFile, '-p', provider, ...(provider === 'tcp' ? ['-n', '127.0.0.1'] : []), '-t', `@${infoFile}`, '-q']);
      procs.push(p);
      await p.waitFor(/Target info:/);
      return p;
    };
    const live = liveAudio(rig.src, rig.dst);
    const other = audioDestination(dstB);
    try {
      await startTarget(rig.dst, rig.infoFile);
      const frozen = await startTarget(dstB, infoB);
      const initiator = startCli(['initiator', '-d', rig.src, '-f', AUDIO_FLOW_ID, '-t', `@${rig.infoFile}`, '-t', `@${infoB}`]);
      procs.push(initiator);
      await initiator.waitFor(/connected to target #1/, 20_000);
      await initiator.waitFor(/connected to target #2/, 20_000);
      for (const d of [live, other]) t.truthy(await d.headPast(((await d.headPast(0n, 0)) ?? 0n) + 1n, 20), '20 windows reached each target');
      const stoppedAt = live.end;
      frozen.proc.kill('SIGSTOP');
      await sleep(750);
      const a1 = (await live.headPast(0n, 0))!;
      await sleep(400);
      const a2 = (await live.headPast(0n, 0))!;
      await sleep(50);
      frozen.proc.kill('SIGCONT');
      // 40 windows are written in those 400 ms; with a shared cursor none would have arrived.
      t.true(a2 - a1 >= 15n * 480n, `the running target got ${(a2 - a1) / 480n} windows in the last 400 ms of the stop`);
      for (const [d, which] of [[live, 'running'], [other, 'frozen']] as const) {
        const after = await d.headPast(stoppedAt, 130);
        t.truthy(after, `the ${which} target is past the stop`);
        // The newest half ring of the destination (100 windows): the stop from 0.3 s on, and
        // the catch-up; any window skipped would show as a hole.
        t.is(d.badSamples(after!, 100 * 480), 0, `${which} target: every sample of the 100 windows up to now exact`);
      }
      t.true(initiator.proc.exitCode === null, 'the initiator kept running');
      t.notRegex(initiator.stderr.join('\n'), /lost|stalled|failed/i, 'no target was given up');
      const r = await initiator.stop('SIGINT');
      t.is(r.code, 0, initiator.stderr.join('\n'));
    } finally {
      other.close();
      live.close();
      for (const p of procs) await p.stop('SIGKILL');
    }
  });
}
