/**
 * One run of ours: `mxl-fabrics bench target` and `bench initiator` as two processes on
 * this host. Used by the scenario runner, the torn-protection cost bench, the soak and the
 * per-thread profile.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BenchReport, ScenarioResult } from './report.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = path.join(REPO, 'bin/mxl-fabrics.js');

export interface PairOptions {
  format: string;
  provider: string;
  streams: number;
  poll: string;
  paced: boolean;
  durationS: number;
  /** Paced: seconds of each stream's start left out of latency and late (bench target --warmup). */
  warmupS?: number;
  /** Extra options for `bench initiator` (e.g. --no-protect-torn) and `bench target` (e.g. --no-verify). */
  initiatorArgs?: string[];
  targetArgs?: string[];
  /** Called once both processes run (the soak samples their /proc entries). */
  onStarted?: (pids: { target: number; initiator: number }) => void;
}

/**
 * As docs/runtime.md recommends for a paced media process ("V8's memory reducer"), plus any
 * in MXLF_BENCH_NODE_FLAGS (space-separated, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`,
 * which NODE_OPTIONS does not take).
 */
const NODE_FLAGS = ['--no-memory-reducer', ...(process.env.MXLF_BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean)];

const exited = (p: ReturnType<typeof spawn>): Promise<number | null> =>
  new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(p.exitCode) : p.once('exit', (c) => r(c))));

/** Runs the pair; returns the initiator's scenario (both sides' figures). */
export async function runOursPair(o: PairOptions): Promise<ScenarioResult> {
  const common = ['--format', o.format, '-p', o.provider, '--streams', String(o.streams), '--poll', o.poll, ...(o.paced ? [] : ['--unpaced'])];
  const target = spawn(process.execPath, [...NODE_FLAGS, CLI, 'bench', 'target', ...common, ...(o.warmupS ? ['--warmup', String(o.warmupS)] : []), ...(o.targetArgs ?? []), '--http', '127.0.0.1:0', '--max-duration', String(o.durationS + 60)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'mxlf-bench-run-'));
  try {
    const lines = readline.createInterface({ input: target.stdout! });
    const ready = await new Promise<{ url: string }>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('bench target: not ready within 30 s')), 30_000);
      // The first JSON line (node flags such as --trace-opt may print before it).
      const onLine = (l: string): void => {
        if (!l.startsWith('{')) return;
        lines.off('line', onLine);
        clearTimeout(t);
        try { resolve(JSON.parse(l)); } catch (e) { reject(e); }
      };
      lines.on('line', onLine);
      target.once('exit', (c) => reject(new Error(`bench target exited (${c}) before ready`)));
    });
    const ini = spawn(process.execPath, [...NODE_FLAGS, CLI, 'bench', 'initiator', ...common, ...(o.initiatorArgs ?? []), '--target', ready.url, '--duration', String(o.durationS), '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const keep = (d: Buffer): void => { tail = (tail + d.toString()).slice(-2000); };
    ini.stdout!.on('data', keep);
    ini.stderr!.on('data', keep);
    o.onStarted?.({ target: target.pid!, initiator: ini.pid! });
    const killer = setTimeout(() => ini.kill('SIGKILL'), (o.durationS + 60) * 1000);
    const code = await exited(ini);
    clearTimeout(killer);
    if (!fs.existsSync(path.join(out, 'report.json'))) throw new Error(`bench initiator (exit ${code ?? ini.signalCode}): ${tail.trim().split('\n').slice(-3).join(' | ')}`);
    return (JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as BenchReport).scenarios[0];
  } finally {
    if (target.exitCode === null) target.kill('SIGTERM');
    await exited(target);
    fs.rmSync(out, { recursive: true, force: true });
  }
}
