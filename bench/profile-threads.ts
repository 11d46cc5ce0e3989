/**
 * Where the CPU of a paced run goes, per thread: runs `bench target` and `bench initiator`
 * (two processes) and samples /proc/<pid>/task/<tid>/stat of both over the steady part.
 *
 *   node build/bench/profile-threads.js [-p tcp|shm] [--format 1080p50] [--poll hybrid] [--duration 10] [--no-verify]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { TICKS_PER_S, threadIds, threadTicks } from './lib/proc-stat.js';
import { option } from './lib/argv.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(REPO, 'bin/mxl-fabrics.js');
const argv = process.argv.slice(2);
const val = (k: string, d: string): string => option(argv, k, d);
const provider = val('-p', 'tcp');
const durationS = Number(val('--duration', '10'));
const common = ['--format', val('--format', '1080p50'), '-p', provider, '--poll', val('--poll', 'hybrid'), ...(argv.includes('--no-verify') ? ['--no-verify'] : [])];

const comm = (pid: number, tid: string): string => {
  try { return fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(); } catch { return '?'; }
};
const snap = (pid: number): Map<string, number> => new Map(threadIds(pid).map((t) => [t, threadTicks(pid, t)]));

const target = spawn(process.execPath, [CLI, 'bench', 'target', ...common, '--http', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const ready = await new Promise<{ url: string }>((r) => readline.createInterface({ input: target.stdout }).once('line', (l) => r(JSON.parse(l))));
const ini = spawn(process.execPath, [CLI, 'bench', 'initiator', ...common, '--target', ready.url, '--duration', String(durationS)], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
ini.stdout.on('data', (d) => (out += d));
await new Promise((r) => setTimeout(r, 3000)); // set-up and connection done
const a = { t: snap(target.pid!), i: snap(ini.pid!), at: performance.now() };
await new Promise((r) => setTimeout(r, (durationS - 4) * 1000));
const b = { t: snap(target.pid!), i: snap(ini.pid!), at: performance.now() };
const wall = (b.at - a.at) / 1000;
for (const [side, pid, s0, s1] of [['initiator', ini.pid!, a.i, b.i], ['target', target.pid!, a.t, b.t]] as const) {
  const rows = [...s1].map(([tid, t1]) => ({ tid, name: comm(pid, tid), pct: (100 * (t1 - (s0.get(tid) ?? 0))) / TICKS_PER_S / wall })).filter((r) => r.pct > 0.05).sort((x, y) => y.pct - x.pct);
  console.log(`${side} (pid ${pid}) over ${wall.toFixed(1)} s: total ${rows.reduce((x, r) => x + r.pct, 0).toFixed(1)} % of a core`);
  for (const r of rows) console.log(`  ${r.tid.padStart(8)} ${r.name.padEnd(16)} ${r.pct.toFixed(1)} %`);
}
await new Promise((r) => ini.once('exit', r));
const rep = JSON.parse(out) as { scenarios: { ours: { latencyMs: { transfer: { p50: number; p99: number }; endToEnd: { p50: number; p99: number } }; counts: unknown } | null }[] };
const o = rep.scenarios[0].ours;
if (o) console.log(`transfer p50 ${o.latencyMs.transfer.p50.toFixed(2)} p99 ${o.latencyMs.transfer.p99.toFixed(2)} ms; end-to-end p50 ${o.latencyMs.endToEnd.p50.toFixed(2)} p99 ${o.latencyMs.endToEnd.p99.toFixed(2)} ms; ${JSON.stringify(o.counts)}`);
target.kill('SIGTERM');
