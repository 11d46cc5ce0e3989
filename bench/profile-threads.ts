/**
 * Where the CPU of a paced (or, with --unpaced, unpaced) run goes, per thread: runs `bench target` and `bench initiator`
 * (two processes) and samples /proc/<pid>/task/<tid>/stat and status of both over the steady part:
 * CPU and context switches per second (voluntary: the thread slept; involuntary: preempted).
 *
 *   node build/bench/profile-threads.js [-p tcp|shm] [--format 1080p50] [--poll hybrid] [--duration 10] [--no-verify] [--js-follow] [--no-protect-torn] [--unpaced]
 */
import fs from 'node:fs';
import { option } from './lib/argv.js';
import { runOursPair } from './lib/ours-pair.js';
import { TICKS_PER_S, threadIds, threadSwitches, threadTicks } from './lib/proc-stat.js';

const argv = process.argv.slice(2);
const val = (k: string, d: string): string => option(argv, k, d);
const durationS = Number(val('--duration', '10'));

const comm = (pid: number, tid: string): string => {
  try { return fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(); } catch { return '?'; }
};
interface ThreadSnap { ticks: number; voluntary: number; involuntary: number }
const snap = (pid: number): Map<string, ThreadSnap> => new Map(threadIds(pid).map((t) => [t, { ticks: threadTicks(pid, t), ...threadSwitches(pid, t) }]));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Per-thread CPU of both processes from 3 s after the start to 1 s before the end. */
async function profile(pids: { target: number; initiator: number }): Promise<string[]> {
  await sleep(3000); // set-up and connection done
  const a = { t: snap(pids.target), i: snap(pids.initiator), at: performance.now() };
  await sleep((durationS - 4) * 1000);
  const b = { t: snap(pids.target), i: snap(pids.initiator), at: performance.now() };
  const wall = (b.at - a.at) / 1000;
  const lines: string[] = [];
  for (const [side, pid, s0, s1] of [['initiator', pids.initiator, a.i, b.i], ['target', pids.target, a.t, b.t]] as const) {
    const zero: ThreadSnap = { ticks: 0, voluntary: 0, involuntary: 0 };
    const rows = [...s1].map(([tid, t1]) => {
      const t0 = s0.get(tid) ?? zero;
      return { tid, name: comm(pid, tid), pct: (100 * (t1.ticks - t0.ticks)) / TICKS_PER_S / wall, vol: (t1.voluntary - t0.voluntary) / wall, invol: (t1.involuntary - t0.involuntary) / wall };
    }).filter((r) => r.pct > 0.05).sort((x, y) => y.pct - x.pct);
    lines.push(`${side} (pid ${pid}) over ${wall.toFixed(1)} s: total ${rows.reduce((x, r) => x + r.pct, 0).toFixed(1)} % of a core`);
    for (const r of rows) lines.push(`  ${r.tid.padStart(8)} ${r.name.padEnd(16)} ${r.pct.toFixed(1).padStart(5)} %  ${r.vol.toFixed(0).padStart(5)} sleeps/s ${r.invol.toFixed(0).padStart(4)} preempted/s`);
  }
  return lines;
}

let profiled: Promise<string[]> | undefined;
const s = await runOursPair({
  format: val('--format', '1080p50'), provider: val('-p', 'tcp'), streams: 1, poll: val('--poll', 'hybrid'), paced: !argv.includes('--unpaced'), durationS,
  targetArgs: argv.includes('--no-verify') ? ['--no-verify'] : [],
  initiatorArgs: ['--js-follow', '--no-protect-torn'].filter((f) => argv.includes(f)),
  onStarted: (pids) => { profiled = profile(pids); },
});
for (const l of await profiled!) console.log(l);
const o = s.ours;
if (o) console.log(`transfer p50 ${o.latencyMs.transfer.p50.toFixed(2)} p99 ${o.latencyMs.transfer.p99.toFixed(2)} ms; end-to-end p50 ${o.latencyMs.endToEnd.p50.toFixed(2)} p99 ${o.latencyMs.endToEnd.p99.toFixed(2)} ms; ${JSON.stringify(o.counts)}`);
