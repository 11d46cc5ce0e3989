/**
 * Where the CPU of a paced (or, with --unpaced, unpaced) run goes, per thread: runs `bench target` and `bench initiator`
 * (two processes) and samples /proc/<pid>/task/<tid>/stat of both over the steady part.
 *
 *   node build/bench/profile-threads.js [-p tcp|shm] [--format 1080p50] [--poll hybrid] [--duration 10] [--no-verify] [--js-follow] [--unpaced]
 */
import fs from 'node:fs';
import { option } from './lib/argv.js';
import { runOursPair } from './lib/ours-pair.js';
import { TICKS_PER_S, threadIds, threadTicks } from './lib/proc-stat.js';

const argv = process.argv.slice(2);
const val = (k: string, d: string): string => option(argv, k, d);
const durationS = Number(val('--duration', '10'));

const comm = (pid: number, tid: string): string => {
  try { return fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(); } catch { return '?'; }
};
const snap = (pid: number): Map<string, number> => new Map(threadIds(pid).map((t) => [t, threadTicks(pid, t)]));
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
    const rows = [...s1].map(([tid, t1]) => ({ tid, name: comm(pid, tid), pct: (100 * (t1 - (s0.get(tid) ?? 0))) / TICKS_PER_S / wall })).filter((r) => r.pct > 0.05).sort((x, y) => y.pct - x.pct);
    lines.push(`${side} (pid ${pid}) over ${wall.toFixed(1)} s: total ${rows.reduce((x, r) => x + r.pct, 0).toFixed(1)} % of a core`);
    for (const r of rows) lines.push(`  ${r.tid.padStart(8)} ${r.name.padEnd(16)} ${r.pct.toFixed(1)} %`);
  }
  return lines;
}

let profiled: Promise<string[]> | undefined;
const s = await runOursPair({
  format: val('--format', '1080p50'), provider: val('-p', 'tcp'), streams: 1, poll: val('--poll', 'hybrid'), paced: !argv.includes('--unpaced'), durationS,
  targetArgs: argv.includes('--no-verify') ? ['--no-verify'] : [],
  initiatorArgs: argv.includes('--js-follow') ? ['--js-follow'] : [],
  onStarted: (pids) => { profiled = profile(pids); },
});
for (const l of await profiled!) console.log(l);
const o = s.ours;
if (o) console.log(`transfer p50 ${o.latencyMs.transfer.p50.toFixed(2)} p99 ${o.latencyMs.transfer.p99.toFixed(2)} ms; end-to-end p50 ${o.latencyMs.endToEnd.p50.toFixed(2)} p99 ${o.latencyMs.endToEnd.p99.toFixed(2)} ms; ${JSON.stringify(o.counts)}`);
