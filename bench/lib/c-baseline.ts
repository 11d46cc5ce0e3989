/**
 * The raw C baseline (bench/c/rma_bw.c): built here with cc against pkg-config libfabric,
 * run as a target and an initiator process per stream on this host, with the same region
 * size, rate and pacing as the scenario. Returns both roles' JSON lines.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RmaBwLine } from './figures.js';

export interface BaselineRun { initiator: RmaBwLine; target: RmaBwLine }

/** Builds build/bench/rma_bw when missing or older than its source; returns its path. */
export function buildRmaBw(repo: string): string {
  const srcFile = path.join(repo, 'bench/c/rma_bw.c');
  const out = path.join(repo, 'build/bench');
  const bin = path.join(out, 'rma_bw');
  if (fs.existsSync(bin) && fs.statSync(bin).mtimeMs >= fs.statSync(srcFile).mtimeMs) return bin;
  fs.mkdirSync(out, { recursive: true });
  const flags = spawnSync('pkg-config', ['--cflags', '--libs', 'libfabric'], { encoding: 'utf8' });
  if (flags.status !== 0) throw new Error(`pkg-config libfabric failed: ${flags.stderr.trim()}`);
  const tmp = `${bin}.tmp.${process.pid}`;
  const cc = spawnSync('cc', ['-O2', '-o', tmp, srcFile, ...flags.stdout.trim().split(/\s+/)], { encoding: 'utf8' });
  if (cc.status !== 0) throw new Error(`cc rma_bw.c failed: ${cc.stderr.trim()}`);
  fs.renameSync(tmp, bin);
  return bin;
}

export interface BaselineOptions {
  provider: 'tcp' | 'shm';
  grainBytes: number;
  slots: number;
  count: number;
  /** grains/s; 0 = unpaced. */
  rate: number;
  blocking: boolean;
  window?: number;
  /** -P: stamp every 4 KiB page of a grain before it is written, check them all at the target. */
  pages?: boolean;
  /** -W: the target leaves the first this many grains out of latency and late (counted as warmupLate). */
  warmup?: number;
}

function runRole(bin: string, args: string[], timeoutS: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(bin, [...args, '-t', String(timeoutS), '-q'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    // 'close', not 'exit': 'exit' can come before the last stdout bytes are read.
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** One target/initiator pair per stream, all at once; rejects with both roles' stderr on failure. */
export async function runBaseline(bin: string, o: BaselineOptions, streams = 1): Promise<BaselineRun[]> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mxlf-bench-c-'));
  const timeoutS = Math.ceil(o.rate > 0 ? o.count / o.rate + 20 : 60);
  const common = ['-p', o.provider, '-g', String(o.grainBytes), '-k', String(o.slots), '-w', String(o.window ?? 4), '-c', String(o.count), ...(o.rate > 0 ? ['-R', String(o.rate)] : []), ...(o.blocking ? ['-B'] : []), ...(o.pages ? ['-P'] : []), ...(o.warmup ? ['-W', String(o.warmup)] : [])];
  try {
    return await Promise.all(Array.from({ length: streams }, async (_x, s) => {
      const xfile = path.join(work, `exchange-${s}`);
      const addr = o.provider === 'tcp' ? ['-n', '127.0.0.1', '-s', '0'] : ['-n', `mxlf-bench-c-${process.pid}-${s}`];
      const target = runRole(bin, ['-r', 'target', ...common, ...addr, '-x', xfile], timeoutS);
      const t0 = Date.now();
      while (!fs.existsSync(xfile) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
      const initiator = await runRole(bin, ['-r', 'initiator', ...common, ...(o.provider === 'tcp' ? ['-n', '127.0.0.1'] : []), '-x', xfile], timeoutS);
      const t = await target;
      const parse = (r: { code: number | null; stdout: string; stderr: string }, role: string): RmaBwLine => {
        try {
          return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as RmaBwLine;
        } catch {
          throw new Error(`rma_bw ${role} (exit ${r.code}) printed no result: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
        }
      };
      return { initiator: parse(initiator, 'initiator'), target: parse(t, 'target') };
    }));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}
