/**
 * The loopback demo: temporary source and destination domains, a synthetic flow per
 * stream written at the real frame rate (or unpaced), an initiator and a target per
 * stream in worker threads, every grain verified at a reader of the target flow (in a
 * piscina pool), live progress and a summary. Temporary domains are always removed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Piscina } from 'piscina';
import { MxlInstance, currentIndex, nsUntilIndex, type ContinuousFlowReader, type ContinuousFlowWriter, type DiscreteFlowWriter } from '../domain/index.js';
import { FabricsError } from '../errors.js';
import type { ProviderName } from '../fabrics/provider.js';
import { Fabrics } from '../runtime/coordinator.js';
import { pacedStep } from './paced-source.js';
import type { TargetHandle } from '../runtime/target-handle.js';
import type { InitiatorHandle } from '../runtime/initiator-handle.js';
import type { PollMode } from '../ipc/control-block.js';
import { type DemoFormat, demoFlowDef } from './demo-formats.js';
import { LatencyStats } from './latency-stats.js';
import { TestPattern } from './test-pattern.js';
import { EndpointWatchdog } from '../session/endpoint-watchdog.js';
import type { VerifyResult, VerifyTask } from './verify-task.js';

export interface DemoOptions {
  durationS: number;
  provider: ProviderName;
  /** Local address for tcp (default 127.0.0.1). */
  node?: string;
  format: DemoFormat;
  streams: number;
  unpaced: boolean;
  pollMode: PollMode;
  /** host:port for /metrics; port 0 = any free port; null = no endpoint. */
  metrics: { host: string; port: number } | null;
  /** Progress output; called about twice a second. */
  onProgress?: (p: DemoProgress) => void;
  /** Log lines (set-up, metrics URL). */
  log?: (s: string) => void;
  /** Aborts the run early (Ctrl-C); the summary still comes. */
  signal?: AbortSignal;
  /** Keep temporary domains (debugging). */
  keep?: boolean;
}

export interface DemoProgress {
  elapsedS: number;
  written: number;
  arrived: number;
  verified: number;
  grainsPerSec: number;
  gbitPerSec: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  late: number;
  lost: number;
  corrupt: number;
  bytes: number;
}

export interface DemoSummary extends DemoProgress {
  provider: string;
  format: string;
  streams: number;
  interrupted: boolean;
  /** Grains the paced source could not write on time (its own timer slipped a whole period). */
  sourceSkipped: number;
  /** Grains overwritten in the target ring before the verifier could read them (not checked). */
  unverified: number;
  /** Grains reported as arrived that the target flow did not show. */
  missing: number;
  /** Why the run stopped early: an endpoint worker died or stalled (with its error). */
  failure?: string;
  ok: boolean;
  domains: string[];
}

/** Audio streams: the tone writer and a reader of the target flow that checks every window. */
interface AudioStream {
  writer: ContinuousFlowWriter;
  reader: ContinuousFlowReader;
  dst: MxlInstance;
  sent: Map<bigint, bigint>;
  end: bigint;
}

/** Exactly representable float32 tone sample s of channel c (a different pitch per channel). */
export const toneSample = (s: bigint, c: number): number => Math.fround(Math.sin((Number(s % 48000n) * 2 * Math.PI * (440 * (c + 1))) / 48000) * 0.5);

interface Stream {
  audio?: AudioStream;
  writer: DiscreteFlowWriter;
  flowId: string;
  target: TargetHandle;
  initiator: InitiatorHandle;
  sums: Map<bigint, { commitNs: bigint }>;
  pattern: TestPattern;
  patternSpec: VerifyTask['pattern'];
  next: bigint;
}

/** Source ring: 500 ms (25 grains at 50 fps). Target ring: 1 s, so the verifier has a second to read each grain. */
const SRC_HISTORY_NS = 500_000_000;
const DST_HISTORY_NS = 1_000_000_000;
const GRACE_MS = 1500;

export async function runDemo(o: DemoOptions): Promise<DemoSummary> {
  const log = o.log ?? (() => {});
  const domains = [makeDomain('src', SRC_HISTORY_NS), makeDomain('dst', DST_HISTORY_NS)];
  const [srcDir, dstDir] = domains;
  const src = new MxlInstance(srcDir);
  const fx = new Fabrics({ metrics: o.metrics !== null });
  const pool = new Piscina<VerifyTask, VerifyResult>({
    filename: new URL('./verify-task.js', import.meta.url).href,
    minThreads: 1,
    maxThreads: Math.max(1, Math.min(4, os.availableParallelism())),
    idleTimeout: 30_000,
  });
  const latency = new LatencyStats();
  const counts = { written: 0, arrived: 0, verified: 0, corrupt: 0, late: 0, lateVerify: 0, missing: 0, bytes: 0, sourceSkipped: 0 };
  const streams: Stream[] = [];
  const verifying: Promise<void>[] = [];
  const start = performance.now();
  const periodNs = (1e9 * o.format.rate.denominator) / o.format.rate.numerator;
  let interrupted = false;
  // A dead or stalled endpoint worker ends the run at once (fail fast, with its error).
  let failure: string | undefined;
  const watchdogs: EndpointWatchdog[] = [];
  const stopped = () => o.signal?.aborted === true || failure !== undefined;
  const watch = (h: TargetHandle | InitiatorHandle) => {
    const w = new EndpointWatchdog(h);
    const fail = (e: FabricsError) => {
      if (failure !== undefined) return;
      failure = `${e.message} [${e.code}]`;
      log(`FAILED: ${failure}`);
    };
    w.on('dead', fail);
    w.on('stalled', fail);
    watchdogs.push(w);
  };
  let window = { t: start, arrived: 0, bytes: 0 };
  let rates = { grainsPerSec: 0, gbitPerSec: 0 };

  const progress = (lost = 0): DemoProgress => ({
    elapsedS: (performance.now() - start) / 1000,
    written: counts.written, arrived: counts.arrived, verified: counts.verified,
    grainsPerSec: rates.grainsPerSec, gbitPerSec: rates.gbitPerSec,
    latencyP50Ms: latency.percentileMs(50), latencyP99Ms: latency.percentileMs(99),
    late: counts.late, lost, corrupt: counts.corrupt, bytes: counts.bytes,
  });

  log(`domains: ${srcDir} -> ${dstDir} (temporary)`);
  try {
    if (o.metrics) {
      const server = await fx.serveMetrics(o.metrics.host, o.metrics.port).catch(() => fx.serveMetrics(o.metrics!.host, 0));
      log(`metrics: ${server.url}`);
    }
    for (let s = 0; s < o.streams; s++) streams.push(await openStream(s));
    log(`${o.streams} stream(s) of ${o.format.name} over ${o.provider}, ${o.unpaced ? 'unpaced' : 'at the real frame rate'}, for ${o.durationS} s`);

    const consumers = streams.map((st) => (st.audio ? consumeAudio(st, st.audio) : consume(st)));
    const ticker = setInterval(() => {
      const now = performance.now();
      const dt = (now - window.t) / 1000;
      rates = { grainsPerSec: (counts.arrived - window.arrived) / dt, gbitPerSec: ((counts.bytes - window.bytes) * 8) / dt / 1e9 };
      window = { t: now, arrived: counts.arrived, bytes: counts.bytes };
      o.onProgress?.(progress());
    }, 500);
    try {
      await produce();
      // Let the last grains arrive and be verified.
      const end = performance.now() + GRACE_MS;
      while (counts.arrived < counts.written && performance.now() < end && !stopped()) await sleep(20);
    } finally {
      clearInterval(ticker);
    }
    await Promise.allSettled(verifying);
    void consumers;
  } finally {
    interrupted = o.signal?.aborted ?? false;
    for (const w of watchdogs) w.stop();
    // Initiators first, then targets: over shm a target's endpoint going away while this
    // process's initiator still progresses writes to it crashed the demo (SIGSEGV inside
    // libfabric) on a loaded host.
    await Promise.allSettled(streams.map((st) => st.initiator.close()));
    await fx.close().catch(() => {});
    for (const st of streams) {
      st.audio?.reader.close();
      st.audio?.dst.close();
      st.writer.close();
    }
    src.close();
    await pool.destroy().catch(() => {});
    if (!o.keep) for (const d of domains) fs.rmSync(d, { recursive: true, force: true });
  }
  const lost = counts.written - counts.arrived;
  const p = progress(lost);
  return {
    ...p, provider: o.provider, format: o.format.name, streams: o.streams, interrupted, sourceSkipped: counts.sourceSkipped, unverified: counts.lateVerify, missing: counts.missing, domains, failure,
    ok: !interrupted && failure === undefined && counts.written > 0 && lost === 0 && p.corrupt === 0 && counts.verified === counts.written,
  };

  function makeDomain(role: string, historyNs: number): string {
    const d = fs.mkdtempSync(path.join('/dev/shm', `mxl-fabrics-demo-${role}-`));
    fs.writeFileSync(path.join(d, 'options.json'), JSON.stringify({ 'urn:x-mxl:option:history_duration/v1.0': historyNs }));
    return d;
  }

  async function openStream(s: number): Promise<Stream> {
    const def = demoFlowDef(o.format, s);
    if (o.format.kind === 'audio') return openAudioStream(s, def);
    const writer = src.createFlowWriter(def) as DiscreteFlowWriter;
    const g = writer.geometry;
    const pattern = TestPattern.forGeometry(g);
    const planes = pattern.planes;
    const node = o.provider === 'tcp' ? o.node ?? '127.0.0.1' : undefined;
    const target = await fx.createTarget({ name: `demo-target-${s}`, provider: o.provider, node, domain: dstDir, flowDef: def, pollMode: o.pollMode });
    const { initiator } = await connectInitiator(s, target, writer.id, node);
    return { writer, flowId: writer.id, target, initiator, sums: new Map(), pattern, patternSpec: { lineBytes: g.sliceSizes[0], lines: g.totalSlices, planes }, next: 0n };
  }

  async function connect(s: number, def: string, flowId: string): Promise<{ target: TargetHandle; initiator: InitiatorHandle }> {
    const node = o.provider === 'tcp' ? o.node ?? '127.0.0.1' : undefined;
    const target = await fx.createTarget({ name: `demo-target-${s}`, provider: o.provider, node, domain: dstDir, flowDef: def, pollMode: o.pollMode });
    return connectInitiator(s, target, flowId, node);
  }

  /** Starts the stream's initiator, adds its target, waits for the connection; both watched from here on. */
  async function connectInitiator(s: number, target: TargetHandle, flowId: string, node: string | undefined): Promise<{ target: TargetHandle; initiator: InitiatorHandle }> {
    watch(target);
    const initiator = await fx.createInitiator({ name: `demo-initiator-${s}`, provider: o.provider, node, domain: srcDir, flowId, follow: true, pollMode: o.pollMode });
    watch(initiator);
    const connected = new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new FabricsError('MXL_ERR_TIMEOUT', `stream ${s}: the initiator did not connect to its target within 10 s`)), 10_000);
      initiator.once('connected', () => { clearTimeout(t); resolve(); });
    });
    await initiator.addTarget(target.info);
    await connected;
    return { target, initiator };
  }

  async function openAudioStream(s: number, def: string): Promise<Stream> {
    const writer = src.createFlowWriter(def) as ContinuousFlowWriter;
    const { target, initiator } = await connect(s, def, writer.id);
    const dst = new MxlInstance(dstDir);
    const reader = dst.openContinuousFlowReader(writer.id);
    // Prime: one uncounted window (the initiator sends it on attach, docs/protocol.md §4.7), so
    // the counted stream starts with the flow already running.
    const n = o.format.windowSamples!;
    const end = ((currentIndex(o.format.rate) / BigInt(n)) + 1n) * BigInt(n);
    writeAudio({ writer, reader, dst, sent: new Map(), end }, end, false);
    await sleep(100);
    const audio: AudioStream = { writer, reader, dst, sent: new Map(), end: end + BigInt(n) };
    return { audio, writer: writer as unknown as DiscreteFlowWriter, flowId: writer.id, target, initiator, sums: new Map(), pattern: undefined as unknown as TestPattern, patternSpec: undefined as unknown as VerifyTask['pattern'], next: 0n };
  }

  function writeAudio(a: AudioStream, end: bigint, count = true): void {
    const n = o.format.windowSamples!;
    const w = a.writer.openSamples(end, n);
    for (let c = 0; c < w.channels.length; c++) {
      let x = end - BigInt(n);
      for (const f of w.channels[c]) for (let i = 0; i < f.length; i++, x++) f[i] = toneSample(x, c);
    }
    if (count) a.sent.set(end, process.hrtime.bigint());
    a.writer.commitSamples();
    if (count) counts.written++;
  }

  async function consumeAudio(st: Stream, a: AudioStream): Promise<void> {
    const bytesPerWindow = o.format.windowSamples! * o.format.channels! * 4;
    for await (const s of st.target.samples()) {
      const sentNs = a.sent.get(s.headIndex);
      if (sentNs === undefined) continue; // the priming window
      a.sent.delete(s.headIndex);
      counts.arrived++;
      counts.bytes += bytesPerWindow;
      const lat = Number(s.arrivalNs - sentNs);
      latency.add(lat);
      if (lat > 10_000_000) counts.late++;
      const r = a.reader.getSamplesSync(s.headIndex, s.count);
      if (r.status !== 'OK') { counts.lateVerify++; continue; }
      let ok = true;
      for (let c = 0; c < r.channels.length && ok; c++) {
        let x = s.headIndex - BigInt(s.count);
        for (const f of r.channels[c]) for (let i = 0; i < f.length; i++, x++) if (f[i] !== toneSample(x, c)) ok = false;
      }
      if (ok) counts.verified++;
      else counts.corrupt++;
    }
  }

  async function consume(st: Stream): Promise<void> {
    const grainBytes = st.writer.geometry.grainSize;
    for await (const g of st.target.grains()) {
      if (g.validSlices !== g.totalSlices) continue;
      const w = st.sums.get(g.index);
      if (!w) continue; // not one of ours (cannot happen in the demo)
      st.sums.delete(g.index);
      counts.arrived++;
      counts.bytes += grainBytes;
      const lat = Number(g.arrivalNs - w.commitNs);
      latency.add(lat);
      if (lat > periodNs) counts.late++;
      verifying.push(
        pool.run({ domain: dstDir, flowId: st.flowId, index: g.index, pattern: st.patternSpec }).then((r) => {
          if (r === 'ok') counts.verified++;
          else if (r === 'corrupt') counts.corrupt++;
          else if (r === 'late') counts.lateVerify++;
          else counts.missing++;
        }),
      );
    }
  }

  function write(st: Stream, index: bigint): void {
    const grain = st.writer.openGrain(index);
    st.pattern.paint(grain.payload, index);
    st.sums.set(index, { commitNs: process.hrtime.bigint() });
    st.writer.commitGrain({});
    counts.written++;
  }

  async function produceAudio(): Promise<void> {
    const deadline = performance.now() + o.durationS * 1000;
    const n = BigInt(o.format.windowSamples!);
    while (performance.now() < deadline && !stopped()) {
      if (o.unpaced) {
        if (counts.written - counts.arrived >= streams.length * 8) { await sleep(0.2); continue; }
      } else {
        const waitMs = Number(nsUntilIndex(streams[0].audio!.end, o.format.rate)) / 1e6;
        if (waitMs > 0.5) { await sleep(waitMs - 0.5); continue; }
      }
      for (const st of streams) {
        writeAudio(st.audio!, st.audio!.end);
        st.audio!.end += n;
      }
      if (o.unpaced && counts.written % 16 === 0) await sleep(0);
    }
  }

  async function produce(): Promise<void> {
    if (o.format.kind === 'audio') return produceAudio();
    const deadline = performance.now() + o.durationS * 1000;
    const rate = o.format.rate;
    let index = currentIndex(rate);
    for (const st of streams) st.next = index;
    while (performance.now() < deadline && !stopped()) {
      if (o.unpaced) {
        // As fast as the link and the verifier take it: a few grains per stream in flight.
        const checked = counts.verified + counts.corrupt + counts.lateVerify + counts.missing;
        if (counts.written - counts.arrived >= streams.length * 2 || counts.written - checked >= streams.length * 4) { await sleep(0.2); continue; }
        for (const st of streams) write(st, st.next++);
        if (counts.written % 16 === 0) await sleep(0);
        continue;
      }
      const step = await pacedStep(rate, index, (i) => { for (const st of streams) write(st, i); });
      counts.sourceSkipped += step.skipped * streams.length;
      index = step.next;
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
