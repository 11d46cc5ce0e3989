/**
 * The bench report: one JSON document per run (machine, versions, method, every figure),
 * and the writer of report.json / summary.md / chart.svg into an output directory.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { LatencySummary } from './percentiles.js';
import { chartSvg } from './chart-svg.js';
import { summaryMarkdown } from './summary-md.js';
import type { Rounds } from './rounds.js';

export const REPORT_SCHEMA = 'mxl-fabrics-bench/1';

export interface SideCpu {
  /** The whole process (every thread), % of one core. */
  processPct: number;
  /** The endpoint's own threads (its worker and libfabric's), % of one core; null when not separable. */
  endpointPct: number | null;
  /** Initiator side, paced whole-grain runs: the source writer's own process (not in processPct). */
  sourcePct?: number | null;
  /**
   * Target side (ours): the bench's destination reader threads, one worker_thread per stream
   * reading, timing and verifying the destination flow as an application's reader would
   * (their CPU from /proc/self/task/TID/stat); in processPct.
   */
  readerPct?: number | null;
  /** Target side (ours): processPct − readerPct, what carrying the flow costs the process. */
  carryPct?: number | null;
}

/** unverified: arrived, but the ring wrapped over the slot before the reader could check it. */
/** late: after the warm-up (paced); lateWarmup: late grains of the warm-up, counted apart (report.method.warmup). */
export interface GrainCounts {
  written: number; arrived: number; verified: number; unverified: number; late: number; lateWarmup: number; lost: number; corrupt: number;
  /** Ours: of the lost, how many the initiators skipped (target slot still busy) and sent as INVALID (torn protection). */
  initiatorSkipped?: number; tornPrevented?: number;
}

/** One measured run of one side pair: ours or the raw C baseline. */
export interface RunFigures {
  grainsPerSec: number;
  gbitPerSec: number;
  counts: GrainCounts;
  /** commitToSeen (ours, video): the destination reader's wake minus the commit stamp. */
  latencyMs: { transfer: LatencySummary; endToEnd: LatencySummary; commitToSeen?: LatencySummary };
  cpu: { initiator: SideCpu; target: SideCpu };
  peakRssBytes: { initiator: number; target: number };
}

export interface Ratios {
  grainsPerSec: number;
  cpuInitiator: number;
  /** The whole target process: ours processPct / raw C's. */
  cpuTarget: number;
  /** What carrying the flow costs: ours carryPct / raw C's target process (which only receives). */
  cpuTargetCarry: number;
  transferP50: number;
  transferP99: number;
}

export interface ScenarioResult {
  name: string;
  format: string;
  provider: string;
  paced: boolean;
  streams: number;
  pollMode: string;
  durationS: number;
  grainBytes: number;
  ours: RunFigures | null;
  /** The raw C program in the same run; null when it could not run (see baselineNote). */
  baseline: (RunFigures & { program: string; mode: string }) | null;
  baselineNote?: string;
  /** ours / baseline, every one from figures above (null without a baseline). */
  ratios: Ratios | null;
  noisy: boolean;
  othersPct: number;
  ok: boolean;
  note?: string;
  /**
   * `--rounds N` (N > 1): ours and baseline above are per-figure medians of the rounds, the
   * counts their sums, the ratios from those medians; here each round's own figures
   * (bench/lib/rounds.ts).
   */
  rounds?: Rounds<RunFigures & { program: string; mode: string }>;
}

export interface HighestN { provider: string; ours: number; rawC: number | null; tried: number[] }

export interface BenchReport {
  schema: string;
  date: string;
  command: string[];
  machine: { hostname: string; cpus: number; cpuModel: string; memBytes: number; kernel: string; instanceType: string };
  versions: { node: string; mxlFabrics: string; libfabric: string };
  method: Record<string, string>;
  scenarios: ScenarioResult[];
  highestN: HighestN[];
  /** EFA runs: whether RDMA writes were offloaded (hardware counters), else absent. */
  rdmaOffload?: { offloaded: boolean | 'unknown'; rdmaWriteBytes: number | null };
}

/** Instance type from DMI (the AWS product name, e.g. "c6in.32xlarge"), "unknown" elsewhere. */
export function instanceType(): string {
  try {
    return fs.readFileSync('/sys/devices/virtual/dmi/id/product_name', 'utf8').trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): BenchReport['machine'] {
  return {
    hostname: os.hostname(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`, instanceType: instanceType(),
  };
}

/** The package version from the repository's package.json (found upwards from `from`). */
export function packageVersion(from: string): string {
  for (let d = from; d !== path.dirname(d); d = path.dirname(d)) {
    const p = path.join(d, 'package.json');
    if (fs.existsSync(p)) {
      const j = JSON.parse(fs.readFileSync(p, 'utf8')) as { name?: string; version?: string };
      if (j.name === 'mxl-fabrics') return j.version ?? 'unknown';
    }
  }
  return 'unknown';
}

/** Writes report.json, summary.md and chart.svg into `dir`; returns their paths. */
export function writeReport(dir: string, r: BenchReport): { json: string; md: string; svg: string } {
  fs.mkdirSync(dir, { recursive: true });
  const out = { json: path.join(dir, 'report.json'), md: path.join(dir, 'summary.md'), svg: path.join(dir, 'chart.svg') };
  fs.writeFileSync(out.json, JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  fs.writeFileSync(out.md, summaryMarkdown(r));
  fs.writeFileSync(out.svg, chartSvg(r.scenarios));
  return out;
}

/** ours / baseline, NaN-safe (a zero baseline gives NaN, written as null). */
export function ratios(o: RunFigures, b: RunFigures): Ratios {
  const q = (x: number, y: number): number => (y > 0 ? x / y : NaN);
  return {
    grainsPerSec: q(o.grainsPerSec, b.grainsPerSec),
    cpuInitiator: q(o.cpu.initiator.processPct, b.cpu.initiator.processPct),
    cpuTarget: q(o.cpu.target.processPct, b.cpu.target.processPct),
    cpuTargetCarry: q(o.cpu.target.carryPct ?? NaN, b.cpu.target.processPct),
    transferP50: q(o.latencyMs.transfer.p50, b.latencyMs.transfer.p50),
    transferP99: q(o.latencyMs.transfer.p99, b.latencyMs.transfer.p99),
  };
}
