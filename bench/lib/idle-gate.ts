/**
 * Noise control for a shared machine: wait until it is idle before a run, and measure what
 * other processes used while it ran (a run during which they used much is marked noisy).
 */
import { machineProcessTicks, machineTicks, processTicks } from './proc-stat.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Busy % of the whole machine over `ms`. */
export async function busyPct(ms: number): Promise<number> {
  const a = machineTicks();
  await sleep(ms);
  const b = machineTicks();
  const dt = b.total - a.total;
  return dt > 0 ? (100 * (b.busy - a.busy)) / dt : 0;
}

export interface GateResult { busy: number; waitedS: number; noisy: boolean }

/** Waits until the machine is < pct % busy over 0.5 s; noisy when it gave up after timeoutS. */
export async function idleGate(pct: number, timeoutS: number): Promise<GateResult> {
  const t0 = Date.now();
  for (;;) {
    const busy = await busyPct(500);
    const waitedS = (Date.now() - t0) / 1000;
    if (busy < pct) return { busy, waitedS, noisy: false };
    if (waitedS >= timeoutS) return { busy, waitedS, noisy: true };
  }
}

/**
 * A mark for othersPct: the machine's user + nice + system ticks and this process's own
 * utime + stime including its reaped children (the same fields on both sides).
 */
export interface CpuMark { machine: number; self: number; wallMs: number }

export function cpuMark(): CpuMark {
  return { machine: machineProcessTicks(), self: processTicks('self', true), wallMs: Date.now() };
}

/**
 * Other processes' CPU during [a, b] as % of one core. Children still running are counted
 * as "others" (reap them before the second mark, or pass their ticks as `ownExtra`).
 */
export function othersPct(a: CpuMark, b: CpuMark, ownExtraTicks = 0): number {
  const wall = (b.wallMs - a.wallMs) / 1000;
  const ticks = b.machine - a.machine - (b.self - a.self) - ownExtraTicks;
  return wall > 0 ? Math.max(0, ticks) / wall : 0; // ticks/s at 100 Hz = % of one core
}
