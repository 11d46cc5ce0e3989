/**
 * The bench's sending side: a source flow per stream in a temporary domain, written at the
 * flow's rate (paced) or as fast as the link takes it (unpaced), each grain stamped for the
 * far side's checks, and an initiator per stream through the public runtime API.
 */
import fs from 'node:fs';
import path from 'node:path';
import { FabricsError, Fabrics, MxlInstance, currentIndex, nsUntilIndex, taiNow, type ContinuousFlowWriter, type DiscreteFlowWriter, type InitiatorHandle, type PollMode, type ProviderName } from '../../src/index.js';
import { pacedStep } from '../../src/demo/paced-source.js';
import { audioSample, stampGrain } from './grain-stamp.js';
import { CpuMeter, peakRssBytes, threadIds } from './proc-stat.js';
import { flowDefOf, unitsPerSecond, type BenchFormat } from './scenarios.js';

export interface InitiatorSideOptions {
  provider: ProviderName;
  node?: string;
  format: BenchFormat;
  /** One TargetInfo per stream. */
  infos: string[];
  paced: boolean;
  durationS: number;
  pollMode: PollMode;
  writableMapping: boolean;
  /** Two-phase commit against torn grains (the library's default, true). */
  protectTorn?: boolean;
}

export interface InitiatorStats {
  written: number;
  completed: number;
  sourceSkipped: number;
  elapsedS: number;
  unitBytes: number;
  cpu: { processPct: number; endpointPct: number };
  peakRssBytes: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Stream { initiator: InitiatorHandle; video?: DiscreteFlowWriter; audio?: ContinuousFlowWriter; audioEnd: bigint }

export async function runInitiatorSide(o: InitiatorSideOptions): Promise<InitiatorStats> {
  const dir = fs.mkdtempSync(path.join('/dev/shm', 'mxlf-bench-src-'));
  const src = new MxlInstance(dir);
  const fx = new Fabrics();
  const streams: Stream[] = [];
  const counts = { written: 0, completed: 0, sourceSkipped: 0 };
  let unitBytes = 0;
  try {
    const before = new Set(threadIds());
    for (let s = 0; s < o.infos.length; s++) {
      const def = flowDefOf(o.format, s);
      const writer = src.createFlowWriter(def);
      const id = (JSON.parse(def) as { id: string }).id;
      const follow = o.format.sliceRanges === 1;
      const initiator = await fx.createInitiator({ name: `bench-initiator-${s}`, provider: o.provider, node: o.node, domain: dir, flowId: id, follow, pollMode: o.pollMode, writableMapping: o.writableMapping, protectTorn: o.protectTorn ?? true });
      const connected = new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new FabricsError('MXL_ERR_TIMEOUT', `stream ${s}: no connection to the target within 10 s`)), 10_000);
        initiator.once('connected', () => { clearTimeout(t); resolve(); });
      });
      await initiator.addTarget(o.infos[s]);
      await connected;
      // Grains completed: a grain sent as slice ranges completes once per range.
      const perGrain = 1 / o.format.sliceRanges;
      void (async () => { for await (const _c of initiator.completions()) counts.completed += perGrain; })();
      const st: Stream = { initiator, audioEnd: 0n };
      if (o.format.kind === 'audio') {
        st.audio = writer as ContinuousFlowWriter;
        unitBytes = o.format.windowSamples! * o.format.channels! * 4;
      } else {
        st.video = writer as DiscreteFlowWriter;
        unitBytes = st.video.geometry.grainSize;
      }
      streams.push(st);
    }
    const endpointTids = threadIds().filter((t) => !before.has(t));
    const processCpu = CpuMeter.process().start();
    const endpointCpu = CpuMeter.threads('self', endpointTids).start();
    const t0 = performance.now();
    if (o.format.kind === 'audio') await produceAudio(o, streams, counts);
    else await produceVideo(o, streams, counts);
    // Let the last writes complete (the far side's figures are read after this).
    const until = performance.now() + 2000;
    while (counts.completed < counts.written && performance.now() < until) await sleep(10);
    return { ...counts, completed: Math.round(counts.completed), elapsedS: (performance.now() - t0) / 1000, unitBytes, cpu: { processPct: processCpu.pct(), endpointPct: endpointCpu.pct() }, peakRssBytes: peakRssBytes() };
  } finally {
    await fx.close().catch(() => {});
    for (const st of streams) (st.video ?? st.audio)?.close();
    src.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function produceVideo(o: InitiatorSideOptions, streams: Stream[], counts: { written: number; completed: number; sourceSkipped: number }): Promise<void> {
  const rate = o.format.rate;
  const deadline = performance.now() + o.durationS * 1000;
  const ranges = o.format.sliceRanges;
  let index = currentIndex(rate);
  const write = (st: Stream, i: bigint): void => {
    const w = st.video!;
    const g = w.openGrain(i);
    stampGrain(g.payload, i, taiNow());
    w.commitGrain();
    counts.written++;
    if (ranges > 1) {
      const total = w.geometry.totalSlices;
      for (let k = 0; k < ranges; k++) st.initiator.transferGrain(i, Math.floor((k * total) / ranges), Math.floor(((k + 1) * total) / ranges));
    }
  };
  while (performance.now() < deadline) {
    if (!o.paced) {
      // As fast as the link takes it: at most two grains per stream not yet completed.
      if (counts.written - counts.completed >= streams.length * 2) { await sleep(0.2); continue; }
      for (const st of streams) write(st, index);
      index++;
      if (counts.written % 16 === 0) await sleep(0);
      continue;
    }
    const step = await pacedStep(rate, index, (i) => { for (const st of streams) write(st, i); });
    counts.sourceSkipped += step.skipped * streams.length;
    index = step.next;
  }
}

async function produceAudio(o: InitiatorSideOptions, streams: Stream[], counts: { written: number; completed: number; sourceSkipped: number }): Promise<void> {
  const n = BigInt(o.format.windowSamples!);
  const deadline = performance.now() + o.durationS * 1000;
  let end = (currentIndex(o.format.rate) / n + 1n) * n;
  while (performance.now() < deadline) {
    if (o.paced) {
      const waitMs = Number(nsUntilIndex(end, o.format.rate)) / 1e6;
      if (waitMs > 0.5) { await sleep(waitMs - 0.5); continue; }
    } else if (counts.written - counts.completed >= streams.length * 8) { await sleep(0.2); continue; }
    for (const st of streams) {
      const w = st.audio!.openSamples(end, Number(n));
      for (let c = 0; c < w.channels.length; c++) {
        let x = end - n;
        for (const f of w.channels[c]) for (let i = 0; i < f.length; i++, x++) f[i] = audioSample(x, c);
      }
      st.audio!.commitSamples();
      counts.written++;
    }
    end += n;
    if (!o.paced && counts.written % 16 === 0) await sleep(0);
  }
}

