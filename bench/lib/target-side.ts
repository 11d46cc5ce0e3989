/**
 * The bench's receiving side: N targets (one per stream) in this process through the
 * public runtime API. The main thread counts arrivals and times transfers from the
 * targets' records; a destination reader per stream (dest-reader.ts, a worker_thread of
 * its own, like an application's reader of the destination flow) times end-to-end latency
 * and verifies every grain (docs/bench.md, "Reading the report"). It serves its TargetInfos
 * and its figures over HTTP (/targetinfo, /targetinfos, /stats, /stop) and/or writes them
 * to a file, so the initiator can run on another host.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Fabrics, MxlInstance, indexToTimestamp, taiNow, type DiscreteFlowReader, type PollMode, type ProviderName, type TargetHandle } from '../../src/index.js';
import { DestReader, noReaderCounts } from './dest-reader.js';
import { commitTimeOf } from './grain-stamp.js';
import { WindowedLatency, type LatencySummary } from './percentiles.js';
import { CpuMeter, peakRssBytes, threadIds } from './proc-stat.js';
import { flowDefOf, unitsPerSecond, type BenchFormat } from './scenarios.js';

export interface TargetSideOptions {
  provider: ProviderName;
  node?: string;
  format: BenchFormat;
  streams: number;
  pollMode: PollMode;
  /** Paced source: end-to-end latency is measured from each grain's own timestamp. */
  paced: boolean;
  verify: boolean;
  /**
   * Paced: each stream's first warmupS x rate grains (audio: windows) are carried, verified
   * and counted but left out of the latency figures, a late one counted as lateWarmup (default 0; docs/bench.md, "Reading the report").
   */
  warmupS?: number;
  /** host:port to serve on (port 0 = any). */
  http?: { host: string; port: number };
  infoFile?: string;
  log?: (s: string) => void;
}

/** What the target side reports (served at /stats). */
export interface TargetStats {
  arrived: number;
  verified: number;
  corrupt: number;
  unverified: number;
  late: number;
  /** Late grains of the warm-up (TargetSideOptions.warmupS), not in `late`. */
  lateWarmup: number;
  warmupS: number;
  /** Grains the readers found missing from the flow (never landed there). */
  readerMissing: number;
  /** commitToSeen (video): the reader's wake minus the commit stamp, end-to-end without the source's own lateness. */
  latencyMs: { transfer: LatencySummary; endToEnd: LatencySummary; commitToSeen: LatencySummary };
  /**
   * processPct: the whole process; endpointPct: the targets' worker and libfabric threads;
   * readerPct: the bench's destination reader threads; carryPct = processPct − readerPct.
   */
  cpu: { processPct: number; endpointPct: number; readerPct: number; carryPct: number };
  peakRssBytes: number;
  firstArrivalS: number;
  lastArrivalS: number;
}

export class TargetSide {
  readonly infos: string[] = [];
  url?: string;
  private readonly fx = new Fabrics();
  private readonly dir = fs.mkdtempSync(path.join('/dev/shm', 'mxlf-bench-dst-'));
  private readonly targets: TargetHandle[] = [];
  private readonly transfer = new WindowedLatency();
  private readonly e2e = new WindowedLatency();
  private readonly commitToSeen = new WindowedLatency();
  private readonly readers: DestReader[] = [];
  /** Per stream: the last complete grain (video) or head (audio) the main thread saw arrive; -1n none. */
  private readonly lastArrived: bigint[] = [];
  /** Per stream: complete grains (audio: windows) seen so far, for the warm-up. */
  private readonly seen: number[] = [];
  private arrived = 0;
  private processCpu = CpuMeter.process();
  private endpointCpu = CpuMeter.process();
  private readerCpu = CpuMeter.process();
  private endpointTids: string[] = [];
  private started = false;
  private first = 0;
  private last = 0;
  private server?: http.Server;
  private readonly stopped: Promise<void>;
  private stop!: () => void;
  /** TAI ns minus hrtime ns (arrival times come as hrtime from the worker). */
  private readonly taiOffset = taiNow() - process.hrtime.bigint();

  constructor(private readonly o: TargetSideOptions) {
    this.stopped = new Promise((r) => (this.stop = r));
  }

  async start(): Promise<void> {
    const before = new Set(threadIds());
    const dst = new MxlInstance(this.dir);
    const ids: string[] = [];
    for (let s = 0; s < this.o.streams; s++) {
      const def = flowDefOf(this.o.format, s);
      const t = await this.fx.createTarget({ name: `bench-target-${s}`, provider: this.o.provider, node: this.o.node, domain: this.dir, flowDef: def, pollMode: this.o.pollMode });
      this.targets.push(t);
      this.infos.push(t.info);
      ids.push((JSON.parse(def) as { id: string }).id);
      this.lastArrived.push(-1n);
      this.seen.push(0);
    }
    // The endpoint threads: the workers (and libfabric's threads) that appeared meanwhile.
    this.endpointTids = threadIds().filter((t) => !before.has(t));
    this.endpointCpu = CpuMeter.threads('self', this.endpointTids);
    // Then the readers, each waiting for its flow's first grain before the initiator connects.
    const f = this.o.format;
    for (const id of ids) {
      this.readers.push(new DestReader({
        domain: this.dir, flowId: id, kind: f.kind, rate: f.rate, windowSamples: f.windowSamples, paced: this.o.paced, verify: this.o.verify,
        periodMs: 1000 / unitsPerSecond(f), warmupUnits: this.warmupUnits, onSample: (ms, at) => this.e2e.add(ms, at), onCommitToSeen: (ms, at) => this.commitToSeen.add(ms, at), log: this.o.log ?? ((m) => console.error(m)),
      }));
    }
    await Promise.all(this.readers.map((r) => r.ready()));
    this.readerCpu = CpuMeter.threads('self', this.readers.map((r) => r.tid!));
    for (let s = 0; s < this.o.streams; s++) {
      if (f.kind === 'audio') void this.consumeAudio(s, this.targets[s]);
      else void this.consume(s, this.targets[s], dst.openDiscreteFlowReader(ids[s]));
    }
    if (this.o.infoFile) fs.writeFileSync(this.o.infoFile, JSON.stringify({ infos: this.infos }) + '\n');
    if (this.o.http) await this.serve(this.o.http.host, this.o.http.port);
  }

  /** Resolves when /stop was requested (or stopNow called). */
  waitStopped(): Promise<void> { return this.stopped; }
  /** Stops once the readers reported every grain that arrived (see flush). */
  stopNow(): void { void this.flush().finally(() => this.stop()); }

  /**
   * Waits until each reader has handled (and reported) every grain this thread saw arrive
   * on its stream, so the counts and samples in stats() are complete.
   */
  async flush(): Promise<void> {
    // Batched records (paced): the consume loops read the ring at most batchMs after a
    // record landed. A timer that expires after theirs runs after their drain (timers fire
    // in expiry order, the drain's records are handled in promise jobs before the next
    // timer), so the arrivals counted here include every record already in the ring.
    if (this.batchMs > 0) await new Promise((r) => setTimeout(r, 2 * this.batchMs));
    await Promise.all(this.readers.map((r, s) => r.flush(this.lastArrived[s])));
  }

  stats(): TargetStats {
    const c = noReaderCounts();
    for (const r of this.readers) for (const k of Object.keys(c) as (keyof typeof c)[]) c[k] += r.counts[k];
    const processPct = this.started ? this.processCpu.pct() : 0;
    const readerPct = this.started ? this.readerCpu.pct() : 0;
    return {
      arrived: this.arrived, verified: c.verified, corrupt: c.corrupt, unverified: c.unverified, late: c.late, lateWarmup: c.lateWarmup, warmupS: this.o.paced ? this.o.warmupS ?? 0 : 0, readerMissing: c.missing,
      latencyMs: { transfer: this.transfer.summary(), endToEnd: this.e2e.summary(), commitToSeen: this.commitToSeen.summary() },
      cpu: { processPct, endpointPct: this.started ? this.endpointCpu.pct() : 0, readerPct, carryPct: Math.max(0, processPct - readerPct) },
      peakRssBytes: peakRssBytes(),
      firstArrivalS: this.first / 1000,
      lastArrivalS: this.last / 1000,
    };
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections?.();
    await Promise.all(this.readers.map((r) => r.stop()));
    await this.fx.close().catch(() => {});
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Arrival counting and transfer latency, from a target's record (the worker's clock). */
  /** Grains (video) or windows (audio) of each stream's warm-up; 0 unpaced. */
  private get warmupUnits(): number {
    return this.o.paced ? Math.round((this.o.warmupS ?? 0) * unitsPerSecond(this.o.format)) : 0;
  }

  /** Whether the grain (audio: window) stream s just delivered is one of its first warmupUnits. */
  private warm(s: number): boolean {
    return this.seen[s]++ < this.warmupUnits;
  }

  private arrivedOne(arrivalHr: bigint, sent: bigint | undefined): void {
    // The worker's arrival time, not this thread's: paced records come in batches.
    const now = Number(arrivalHr) / 1e6;
    if (!this.started) {
      this.started = true;
      this.processCpu.start();
      this.endpointCpu.start();
      this.readerCpu.start();
      this.first = now;
    }
    this.last = now;
    this.arrived++;
    if (sent !== undefined) this.transfer.add(Number(arrivalHr + this.taiOffset - sent) / 1e6, now);
  }

  /**
   * Paced, the main thread only counts and times records (the readers see the grains), so it
   * reads them in 50 ms batches, as an application would (docs/runtime.md §1). Unpaced, at
   * once: the commit stamp is read from the ring, which a fast source laps in ~20 ms.
   */
  private get batchMs(): number { return this.o.paced ? 50 : 0; }

  private async consume(s: number, t: TargetHandle, reader: DiscreteFlowReader): Promise<void> {
    for await (const g of t.grains({ batchMs: this.batchMs })) {
      if (g.validSlices !== g.totalSlices) continue; // a slice range; the grain counts once complete
      // The commit stamp, for the transfer time (non-blocking; gone if the ring wrapped over it).
      const r = reader.getGrainSync(g.index);
      const commit = r.status === 'OK' && r.payload ? commitTimeOf(r.payload) : undefined;
      const warm = this.warm(s);
      this.arrivedOne(g.arrivalNs, warm ? undefined : commit ?? (this.o.paced ? g.sourceTimestampNs : undefined));
      if (g.index > this.lastArrived[s]) this.lastArrived[s] = g.index;
    }
  }

  private async consumeAudio(s: number, t: TargetHandle): Promise<void> {
    const rate = this.o.format.rate;
    for await (const w of t.samples({ batchMs: this.batchMs })) {
      // Audio carries no stamp: its transfer is timed from the window's own timestamp (paced only).
      const warm = this.warm(s);
      this.arrivedOne(w.arrivalNs, this.o.paced && !warm ? indexToTimestamp(w.headIndex - 1n, rate) : undefined);
      if (w.headIndex > this.lastArrived[s]) this.lastArrived[s] = w.headIndex;
    }
  }

  private serve(host: string, port: number): Promise<void> {
    this.server = http.createServer((req, res) => {
      const json = (code: number, body: unknown): void => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const url = req.url ?? '/';
      if (url === '/targetinfo') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(this.infos[0]);
      } else if (url === '/targetinfos') json(200, { infos: this.infos });
      else if (url === '/stats') void this.flush().then(() => json(200, this.stats()));
      else if (url === '/stop') void this.flush().then(() => { json(200, this.stats()); this.stop(); });
      else json(404, { error: 'try /targetinfo, /targetinfos, /stats or /stop' });
    });
    return new Promise((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => {
        const a = this.server!.address();
        if (a && typeof a === 'object') this.url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
        resolve();
      });
    });
  }
}
