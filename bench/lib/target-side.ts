/**
 * The bench's receiving side: N targets (one per stream) in this process through the
 * public runtime API, each grain verified at a reader of the target flow and timed. It
 * serves its TargetInfos and its figures over HTTP (/targetinfo, /targetinfos, /stats,
 * /stop) and/or writes them to a file, so the initiator can run on another host.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Fabrics, MxlInstance, indexToTimestamp, taiNow, type ContinuousFlowReader, type DiscreteFlowReader, type PollMode, type ProviderName, type TargetHandle } from '../../src/index.js';
import { RAMP, audioPhase, commitTimeOf, verifyGrain } from './grain-stamp.js';
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
  latencyMs: { transfer: LatencySummary; endToEnd: LatencySummary };
  cpu: { processPct: number; endpointPct: number };
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
  private readonly counts = { arrived: 0, verified: 0, corrupt: 0, unverified: 0, late: 0 };
  private processCpu = CpuMeter.process();
  private endpointCpu = CpuMeter.process();
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
    for (let s = 0; s < this.o.streams; s++) {
      const def = flowDefOf(this.o.format, s);
      const t = await this.fx.createTarget({ name: `bench-target-${s}`, provider: this.o.provider, node: this.o.node, domain: this.dir, flowDef: def, pollMode: this.o.pollMode });
      this.targets.push(t);
      this.infos.push(t.info);
      const id = (JSON.parse(def) as { id: string }).id;
      if (this.o.format.kind === 'audio') void this.consumeAudio(t, dst.openContinuousFlowReader(id));
      else void this.consume(t, dst.openDiscreteFlowReader(id));
    }
    // The endpoint threads: the workers (and libfabric's threads) that appeared meanwhile.
    this.endpointTids = threadIds().filter((t) => !before.has(t));
    this.endpointCpu = CpuMeter.threads('self', this.endpointTids);
    if (this.o.infoFile) fs.writeFileSync(this.o.infoFile, JSON.stringify({ infos: this.infos }) + '\n');
    if (this.o.http) await this.serve(this.o.http.host, this.o.http.port);
  }

  /** Resolves when /stop was requested (or stopNow called). */
  waitStopped(): Promise<void> { return this.stopped; }
  stopNow(): void { this.stop(); }

  stats(): TargetStats {
    return {
      ...this.counts,
      latencyMs: { transfer: this.transfer.summary(), endToEnd: this.e2e.summary() },
      cpu: { processPct: this.started ? this.processCpu.pct() : 0, endpointPct: this.started ? this.endpointCpu.pct() : 0 },
      peakRssBytes: peakRssBytes(),
      firstArrivalS: this.first / 1000,
      lastArrivalS: this.last / 1000,
    };
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
    this.server?.closeAllConnections?.();
    await this.fx.close().catch(() => {});
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private arrivedOne(arrivalHr: bigint, commitTai: bigint | undefined, sourceTai: bigint): void {
    const now = performance.now();
    if (!this.started) {
      this.started = true;
      this.processCpu.start();
      this.endpointCpu.start();
      this.first = now;
    }
    this.last = now;
    this.counts.arrived++;
    const seen = taiNow();
    // Audio carries no stamp: its transfer is timed from the window's own timestamp (paced only).
    const sent = commitTai ?? (this.o.paced ? sourceTai : undefined);
    if (sent !== undefined) this.transfer.add(Number(arrivalHr + this.taiOffset - sent) / 1e6, now);
    // Unpaced audio has neither a stamp nor a meaningful timestamp: no end-to-end figure.
    const from = this.o.paced ? sourceTai : commitTai;
    if (from === undefined) return;
    const e2eMs = Number(seen - from) / 1e6;
    this.e2e.add(e2eMs, now);
    if (this.o.paced && e2eMs > 1000 / unitsPerSecond(this.o.format)) this.counts.late++;
  }

  private async consume(t: TargetHandle, reader: DiscreteFlowReader): Promise<void> {
    for await (const g of t.grains()) {
      if (g.validSlices !== g.totalSlices) continue; // a slice range; the grain counts once complete
      const r = reader.getGrainSync(g.index);
      const payload = r.status === 'OK' ? r.payload : undefined;
      this.arrivedOne(g.arrivalNs, payload ? commitTimeOf(payload) : undefined, g.sourceTimestampNs);
      const verdict = !payload ? 'overwritten' : this.o.verify ? verifyGrain(payload, g.index, reader.geometry.grainCount) : 'ok';
      this.counts[verdict === 'ok' ? 'verified' : verdict === 'overwritten' ? 'unverified' : 'corrupt']++;
    }
  }

  private async consumeAudio(t: TargetHandle, reader: ContinuousFlowReader): Promise<void> {
    const rate = this.o.format.rate;
    for await (const s of t.samples()) {
      this.arrivedOne(s.arrivalNs, undefined, indexToTimestamp(s.headIndex - 1n, rate));
      const r = reader.getSamplesSync(s.headIndex, s.count);
      if (r.status !== 'OK') { this.counts.unverified++; continue; }
      let ok = true;
      if (this.o.verify) {
        for (let c = 0; c < r.channels.length && ok; c++) {
          let p = audioPhase(s.headIndex - BigInt(s.count), c);
          for (const f of r.channels[c]) for (let i = 0; i < f.length; i++, p = (p + 1) & 0xffff) if (f[i] !== RAMP[p]) ok = false;
        }
      }
      if (ok) this.counts.verified++;
      else this.counts.corrupt++;
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
      else if (url === '/stats') json(200, this.stats());
      else if (url === '/stop') { json(200, this.stats()); this.stop(); }
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
