/**
 * CPU and memory from /proc: the whole machine, one process, one thread. Ticks are
 * USER_HZ (100 per second on Linux), so ticks per second of wall time = % of one core.
 */
import fs from 'node:fs';

export const TICKS_PER_S = 100;

/** Machine-wide busy and total ticks (first line of /proc/stat; iowait counts as idle). */
export function machineTicks(): { busy: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user..steal (guest is inside user)
  const idle = f[3] + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/**
 * Machine-wide user + nice + system ticks: what processes spend themselves. softirq is
 * left out because loopback TCP spends it on our behalf and a process's stime omits it.
 */
export function machineProcessTicks(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  return f[0] + f[1] + f[2];
}

/** utime + stime ticks from a /proc/.../stat line (fields 14 and 15). */
function statTicks(text: string, withChildren: boolean): number {
  const g = text.slice(text.lastIndexOf(')') + 2).split(' ').map(Number); // g[0] = field 3
  return g[11] + g[12] + (withChildren ? g[13] + g[14] : 0);
}

/** CPU ticks of a process (all its threads); with children = also its reaped children. */
export function processTicks(pid: number | 'self' = 'self', withChildren = false): number {
  return statTicks(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'), withChildren);
}

/** CPU ticks of one thread, 0 once it is gone. */
export function threadTicks(pid: number | 'self', tid: number | string): number {
  try {
    return statTicks(fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'), false);
  } catch {
    return 0;
  }
}

/** Voluntary and involuntary context switches of one thread so far (0 once it is gone). */
export function threadSwitches(pid: number | 'self', tid: number | string): { voluntary: number; involuntary: number } {
  try {
    const text = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
    const field = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { voluntary: field('voluntary_ctxt_switches'), involuntary: field('nonvoluntary_ctxt_switches') };
  } catch {
    return { voluntary: 0, involuntary: 0 };
  }
}

/** Thread ids of a process. */
export function threadIds(pid: number | 'self' = 'self'): string[] {
  try {
    return fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
}

/** A "<Field>: N kB" line of /proc/<pid>/status in bytes, 0 when unreadable. */
function statusBytes(pid: number | 'self', field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Peak resident set size of a process in bytes (VmHWM), 0 when unreadable. */
export const peakRssBytes = (pid: number | 'self' = 'self'): number => statusBytes(pid, 'VmHWM');

/** Current resident set size of a process in bytes (VmRSS), 0 when unreadable. */
export const rssBytes = (pid: number | 'self' = 'self'): number => statusBytes(pid, 'VmRSS');

/**
 * CPU meter of a process or a set of its threads: start() then pct() gives % of one core
 * over the span (ticks at 100 Hz, so resolution is 10 ms of CPU: use spans of seconds).
 */
export class CpuMeter {
  private t0 = 0;
  private w0 = 0;
  constructor(private readonly read: () => number) {}
  static process(pid: number | 'self' = 'self'): CpuMeter { return new CpuMeter(() => processTicks(pid)); }
  static threads(pid: number | 'self', tids: string[]): CpuMeter {
    return new CpuMeter(() => tids.reduce((a, t) => a + threadTicks(pid, t), 0));
  }
  start(): this {
    this.t0 = this.read();
    this.w0 = performance.now();
    return this;
  }
  /** % of one core since start(). */
  pct(): number {
    const wallS = (performance.now() - this.w0) / 1000;
    return wallS > 0 ? (100 * (this.read() - this.t0)) / TICKS_PER_S / wallS : 0;
  }
}

/** Open file descriptors of a process, -1 when unreadable. */
export function fdCount(pid: number | 'self' = 'self'): number {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}
