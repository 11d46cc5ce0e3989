/** Our run's figures from the two sides' stats, and the raw C baseline's from its two JSON lines. */
import type { InitiatorStats } from './initiator-side.js';
import type { LatencySummary } from './percentiles.js';
import type { RunFigures } from './report.js';
import type { TargetStats } from './target-side.js';

const gbit = (unitsPerSec: number, bytes: number): number => (unitsPerSec * bytes * 8) / 1e9;

/** Rate at the target, first to last arrival: (arrived - 1) / span (the rma_bw definition). */
export function oursFigures(i: InitiatorStats, t: TargetStats): RunFigures {
  const span = t.lastArrivalS - t.firstArrivalS;
  const gps = span > 0 && t.arrived > 1 ? (t.arrived - 1) / span : 0;
  return {
    grainsPerSec: gps,
    gbitPerSec: gbit(gps, i.unitBytes),
    counts: { written: i.written, arrived: t.arrived, verified: t.verified, unverified: t.unverified, late: t.late, lateWarmup: t.lateWarmup, lost: Math.max(0, i.written - t.arrived), corrupt: t.corrupt, initiatorSkipped: i.initiatorSkipped, tornPrevented: i.tornPrevented },
    latencyMs: t.latencyMs,
    cpu: { initiator: { processPct: i.cpu.processPct, endpointPct: i.cpu.endpointPct, sourcePct: i.cpu.sourcePct }, target: { processPct: t.cpu.processPct, endpointPct: t.cpu.endpointPct, readerPct: t.cpu.readerPct, carryPct: t.cpu.carryPct } },
    peakRssBytes: { initiator: i.peakRssBytes, target: t.peakRssBytes },
  };
}

/** The fields rma_bw prints (one JSON line per role). */
export interface RmaBwLine {
  role: string; grains: number; grainBytes: number; writeBytes: number; grainsPerSec: number; errors: number; paced: boolean; mode: string;
  cpuPct: number; peakRssBytes: number; late?: number; warmupLate?: number; latencyMs?: { count: number; p50: number; p90: number; p99: number; max: number };
}

export function baselineFigures(init: RmaBwLine, tgt: RmaBwLine, written: number): RunFigures {
  const l = tgt.latencyMs;
  const lat: LatencySummary = l ? { ...l, windows: [] } : { count: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN, windows: [] };
  return {
    grainsPerSec: tgt.grainsPerSec,
    gbitPerSec: gbit(tgt.grainsPerSec, tgt.grainBytes),
    counts: { written, arrived: tgt.grains, verified: tgt.grains - tgt.errors, unverified: 0, late: tgt.late ?? 0, lateWarmup: tgt.warmupLate ?? 0, lost: Math.max(0, written - tgt.grains), corrupt: tgt.errors },
    latencyMs: { transfer: lat, endToEnd: lat },
    cpu: { initiator: { processPct: init.cpuPct, endpointPct: null }, target: { processPct: tgt.cpuPct, endpointPct: null } },
    peakRssBytes: { initiator: init.peakRssBytes, target: tgt.peakRssBytes },
  };
}
