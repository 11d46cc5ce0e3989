/**
 * The bench's sending side: a source flow per stream in a temporary domain, written at the
 * flow's rate (paced) or as fast as the link takes it (unpaced), each grain stamped for the
 * far side's checks, and an initiator per stream through the public runtime API, in follow
 * mode. A paced source runs in a process of its own (source-process.ts); an unpaced one
 * writes at each completion, so it stays in this process. A grain of a slice scenario is
 * committed in its slice ranges, and follow mode sends each range as it is committed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { FabricsError, Fabrics, MxlInstance, currentIndex, nsUntilIndex, taiNow, type ContinuousFlowWriter, type DiscreteFlowWriter, type InitiatorHandle, type PollMode, type ProviderName } from '../../src/index.js';
import { pacedStep } from '../../src/demo/paced-source.js';
import { stampAudio, stampGrain } from './grain-stamp.js';
import { CpuMeter, peakRssBytes, threadIds } from './proc-stat.js';
import { flowDefOf, type BenchFormat } from './scenarios.js';

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
  /** false: the JavaScript follow loop (default: the addon's where it applies). */
  nativeFollow?: boolean;
  /** Write the source flow in this process even when paced (default: its own process). */
  inProcessSource?: boolean;
}

export interface InitiatorStats {
  written: number;
  completed: number;
  sourceSkipped: number;
  /** Grains the initiators did not send (their target slot still busy: a stall of a whole ring), from their status. */
  initiatorSkipped: number;
  /** Grains whose source slot was reopened before their payload write completed, sent as INVALID (torn protection). */
  tornPrevented: number;
  elapsedS: number;
  unitBytes: number;
  /** sourcePct: the source writer's own process (paced follow runs), else null (it ran in this process). */
  cpu: { processPct: number; endpointPct: number; sourcePct: number | null };
  peakRssBytes: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Stream { initiator: InitiatorHandle; video?: DiscreteFlowWriter; audio?: ContinuousFlowWriter; audioEnd: bigint }

/**
 * The source of a paced follow-mode run, in its own process (bench/lib/source-process.ts):
 * start() creates the flows, run() writes them for the run's duration.
 */
class SourceProcess {
  private readonly child: ChildProcess;
  private readonly lines: readline.Interface;
  private readonly exited: Promise<void>;
  constructor(domain: string, format: BenchFormat, flowDefs: string[], durationS: number) {
    this.child = spawn(process.execPath, [fileURLToPath(new URL('./source-process.js', import.meta.url)), JSON.stringify({ domain, format, flowDefs, durationS })], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = readline.createInterface({ input: this.child.stdout! });
    this.exited = new Promise((r) => this.child.once('exit', () => r()));
  }
  private next<T>(timeoutMs: number): Promise<T> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('bench source process: no answer')), timeoutMs);
      const gone = (): void => { clearTimeout(t); reject(new Error(`bench source process exited (${this.child.exitCode ?? this.child.signalCode})`)); };
      this.child.once('exit', gone);
      this.lines.once('line', (l) => { clearTimeout(t); this.child.off('exit', gone); try { resolve(JSON.parse(l) as T); } catch (e) { reject(e); } });
    });
  }
  start(): Promise<{ unitBytes: number }> { return this.next(20_000); }
  run(durationS: number): Promise<{ written: number; sourceSkipped: number; cpuPct: number }> {
    const done = this.next<{ written: number; sourceSkipped: number; cpuPct: number }>((durationS + 30) * 1000);
    this.child.stdin!.write('go\n');
    return done;
  }
  async close(): Promise<void> {
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

export async function runInitiatorSide(o: InitiatorSideOptions): Promise<InitiatorStats> {
  const dir = fs.mkdtempSync(path.join('/dev/shm', 'mxlf-bench-src-'));
  const src = new MxlInstance(dir);
  const fx = new Fabrics();
  const streams: Stream[] = [];
  const gate = new CompletionGate();
  const counts: SourceCounts = { written: 0, completed: 0, sourceSkipped: 0, gate };
  let unitBytes = 0;
  let sourcePct: number | null = null;
  // Paced, the source writes from its own process (as upstream's demo is fed).
  const defs = o.infos.map((_i, s) => flowDefOf(o.format, s));
  const source = o.paced && !o.inProcessSource ? new SourceProcess(dir, o.format, defs, o.durationS) : undefined;
  try {
    if (source) unitBytes = (await source.start()).unitBytes;
    const before = new Set(threadIds());
    for (let s = 0; s < o.infos.length; s++) {
      const def = defs[s];
      const writer = source ? undefined : src.createFlowWriter(def);
      const id = (JSON.parse(def) as { id: string }).id;
      const initiator = await fx.createInitiator({ name: `bench-initiator-${s}`, provider: o.provider, node: o.node, domain: dir, flowId: id, follow: true, pollMode: o.pollMode, writableMapping: o.writableMapping, protectTorn: o.protectTorn ?? true, nativeFollow: o.nativeFollow });
      const connected = new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new FabricsError('MXL_ERR_TIMEOUT', `stream ${s}: no connection to the target within 10 s`)), 10_000);
        initiator.once('connected', () => { clearTimeout(t); resolve(); });
      });
      await initiator.addTarget(o.infos[s]);
      await connected;
      // Grains completed: a grain sent as slice ranges completes once per range, the last
      // with its end slice at the grain's total (ranges committed back to back may go as one).
      const whole = o.format.kind === 'audio' ? 0 : totalSlicesOf(o.format);
      // Unpaced, each completion lets the source write the next grain: read them at once.
      // Paced, they are only counted: in batches, as an application that logs them would.
      void (async () => {
        for await (const c of initiator.completions({ batchMs: o.paced ? 50 : 0 })) {
          if (c.endSlice === whole) counts.completed++;
          gate.notify();
        }
      })();
      const st: Stream = { initiator, audioEnd: 0n };
      if (writer && o.format.kind === 'audio') {
        st.audio = writer as ContinuousFlowWriter;
        unitBytes = o.format.windowSamples! * o.format.channels! * 4;
      } else if (writer) {
        st.video = writer as DiscreteFlowWriter;
        unitBytes = st.video.geometry.grainSize;
      }
      streams.push(st);
    }
    const endpointTids = threadIds().filter((t) => !before.has(t));
    const processCpu = CpuMeter.process().start();
    const endpointCpu = CpuMeter.threads('self', endpointTids).start();
    const t0 = performance.now();
    if (source) {
      const r = await source.run(o.durationS);
      counts.written = r.written;
      counts.sourceSkipped = r.sourceSkipped;
      sourcePct = r.cpuPct;
    } else if (o.format.kind === 'audio') await produceAudio(o.format, o.paced, o.durationS, streams.map((st) => st.audio!), counts);
    else await produceVideo(o.format, o.paced, o.durationS, streams.map((st) => st.video!), counts);
    // Let the last writes complete (the far side's figures are read after this).
    const until = performance.now() + 2000;
    while (counts.completed < counts.written && performance.now() < until) await sleep(10);
    // What became of the grains that did not complete, from each initiator's own counters.
    let initiatorSkipped = 0;
    let tornPrevented = 0;
    for (const st of streams) {
      const targets = ((await st.initiator.status()) as { targets?: { skipped?: number; tornPrevented?: number }[] }).targets ?? [];
      for (const t of targets) { initiatorSkipped += t.skipped ?? 0; tornPrevented += t.tornPrevented ?? 0; }
    }
    return { ...counts, initiatorSkipped, tornPrevented, completed: Math.round(counts.completed), elapsedS: (performance.now() - t0) / 1000, unitBytes, cpu: { processPct: processCpu.pct(), endpointPct: endpointCpu.pct(), sourcePct }, peakRssBytes: peakRssBytes() };
  } finally {
    await fx.close().catch(() => {});
    await source?.close();
    for (const st of streams) (st.video ?? st.audio)?.close();
    src.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export interface SourceCounts { written: number; completed: number; sourceSkipped: number; gate?: CompletionGate }

/**
 * Unpaced flow control: the source waits for the next completion instead of polling a
 * timer (a timer's ~1 ms floor capped unpaced runs far below the link). A wait gives up
 * after `timeoutMs`, so a transfer that never completes (skipped by the engine) cannot
 * stall the source for good.
 */
export class CompletionGate {
  private waiters: (() => void)[] = [];
  notify(): void { for (const w of this.waiters.splice(0)) w(); }
  wait(timeoutMs = 20): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => { clearTimeout(t); resolve(); });
    });
  }
}

/** Unpaced: writes (grains, audio windows) a stream may have not yet completed, like raw C's -w 4. */
export const UNPACED_WINDOW = { video: 4, audio: 8 };

const waitCompletion = (c: SourceCounts): Promise<void> => (c.gate ? c.gate.wait() : sleep(0.2));

/** Slices of a grain of `format` (progressive video: its lines). */
export function totalSlicesOf(format: BenchFormat): number {
  return format.height;
}

/** Paced slice scenarios: the pause between a grain's slice range commits. */
const RANGE_GAP_MS = 0.25;
const gapWord = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes stamped grains at the flow's rate (paced) or as fast as completions allow. A slice
 * scenario commits each grain in its ranges (validSlices at each range's end); paced, about
 * RANGE_GAP_MS apart, as a producer that hands a frame over in parts, so that the initiator's
 * follow mode sees (and sends) each range on its own; unpaced, back to back.
 */
export async function produceVideo(format: BenchFormat, paced: boolean, durationS: number, writers: DiscreteFlowWriter[], counts: SourceCounts): Promise<void> {
  const rate = format.rate;
  const deadline = performance.now() + durationS * 1000;
  let index = currentIndex(rate);
  const ranges = format.sliceRanges;
  const total = totalSlicesOf(format);
  const write = (s: number, i: bigint): void => {
    const w = writers[s];
    const g = w.openGrain(i);
    stampGrain(g.payload, i, taiNow());
    for (let k = 1; k < ranges; k++) {
      w.commitGrain({ validSlices: Math.floor((k * total) / ranges) });
      if (paced) Atomics.wait(gapWord, 0, 0, RANGE_GAP_MS);
    }
    w.commitGrain();
    counts.written++;
  };
  while (performance.now() < deadline) {
    if (!paced) {
      // As fast as the link takes it: at most UNPACED_WINDOW grains per stream not yet completed.
      if (counts.written - counts.completed >= writers.length * UNPACED_WINDOW.video) { await waitCompletion(counts); continue; }
      for (let s = 0; s < writers.length; s++) write(s, index);
      index++;
      continue;
    }
    const step = await pacedStep(rate, index, (i) => { for (let s = 0; s < writers.length; s++) write(s, i); });
    counts.sourceSkipped += step.skipped * writers.length;
    index = step.next;
  }
}

/** Writes 10 ms windows of known samples at the flow's rate (paced) or as fast as completions allow. */
export async function produceAudio(format: BenchFormat, paced: boolean, durationS: number, writers: ContinuousFlowWriter[], counts: SourceCounts): Promise<void> {
  const n = BigInt(format.windowSamples!);
  const deadline = performance.now() + durationS * 1000;
  let end = (currentIndex(format.rate) / n + 1n) * n;
  while (performance.now() < deadline) {
    if (paced) {
      const waitMs = Number(nsUntilIndex(end, format.rate)) / 1e6;
      if (waitMs > 0.5) { await sleep(waitMs - 0.5); continue; }
    } else if (counts.written - counts.completed >= writers.length * UNPACED_WINDOW.audio) { await waitCompletion(counts); continue; }
    for (const wr of writers) {
      stampAudio(wr.openSamples(end, Number(n)).channels, end - n);
      wr.commitSamples();
      counts.written++;
    }
    end += n;
  }
}
