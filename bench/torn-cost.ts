/**
 * What the torn-grain protection costs: the same run with the two-phase commit (the
 * default) and without it (`--no-protect-torn`, upstream's single write), alternated in
 * rounds so drifts of a shared machine hit both alike. Paced: CPU per side and latency;
 * unpaced: grains/s. Every figure is given as protected / unprotected.
 *
 *   node build/bench/torn-cost.js [--provider tcp|shm|both] [--format 1080p50] [--rounds 3]
 *        [--duration S] [--gate S] [--out DIR]
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { idleGate } from './lib/idle-gate.js';
import { runOursPair } from './lib/ours-pair.js';
import { median } from './lib/percentiles.js';
import { machineInfo, packageVersion, type RunFigures } from './lib/report.js';
import { addon } from '../src/native/index.js';
import { option } from './lib/argv.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');

interface Cell { grainsPerSec: number; cpuInitiator: number; cpuTarget: number; transferP50: number; transferP99: number; e2eP50: number; e2eP99: number; corrupt: number; lost: number }
const cellOf = (f: RunFigures): Cell => ({
  grainsPerSec: f.grainsPerSec, cpuInitiator: f.cpu.initiator.processPct, cpuTarget: f.cpu.target.processPct,
  transferP50: f.latencyMs.transfer.p50, transferP99: f.latencyMs.transfer.p99, e2eP50: f.latencyMs.endToEnd.p50, e2eP99: f.latencyMs.endToEnd.p99,
  corrupt: f.counts.corrupt, lost: f.counts.lost,
});
const medianCell = (cs: Cell[]): Cell => Object.fromEntries((Object.keys(cs[0]) as (keyof Cell)[]).map((k) => [k, median(cs.map((c) => c[k]))])) as unknown as Cell;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log('usage: node build/bench/torn-cost.js [--provider tcp|shm|both] [--format 1080p50] [--rounds 3] [--duration S (10)] [--gate S (10)] [--out DIR]');
    return 0;
  }
  const val = (k: string, d: string): string => option(argv, k, d);
  const prov = val('--provider', 'both');
  const providers = prov === 'both' ? ['tcp', 'shm'] : [prov];
  const format = val('--format', '1080p50');
  const rounds = Number(val('--rounds', '3'));
  const durationS = Number(val('--duration', '10'));
  const out = val('--out', path.join(REPO, 'build/bench/torn-cost'));
  const gateS = Number(val('--gate', '10')); // longest wait for a quiet machine before each run
  const rows: { provider: string; paced: boolean; on: Cell; off: Cell; runs: { protect: boolean; cell: Cell }[] }[] = [];
  let failed = 0;
  for (const provider of providers) {
    for (const paced of [true, false]) {
      const runs: { protect: boolean; cell: Cell }[] = [];
      for (let r = 0; r < rounds; r++) {
        // Alternate which goes first, so a trend over the rounds favours neither.
        for (const protect of r % 2 === 0 ? [true, false] : [false, true]) {
          if (gateS > 0) await idleGate(10, gateS);
          const s = await runOursPair({ format, provider, streams: 1, poll: 'hybrid', paced, durationS, initiatorArgs: protect ? [] : ['--no-protect-torn'] });
          if (!s.ours) { console.log(`${provider} ${paced ? 'paced' : 'unpaced'} protect=${protect}: FAILED ${s.note}`); failed++; continue; }
          const cell = cellOf(s.ours);
          runs.push({ protect, cell });
          console.log(`${provider} ${paced ? 'paced  ' : 'unpaced'} ${protect ? 'protected  ' : 'unprotected'}: ${cell.grainsPerSec.toFixed(1)} grains/s, CPU ${cell.cpuInitiator.toFixed(1)}/${cell.cpuTarget.toFixed(1)} %, transfer p50 ${cell.transferP50.toFixed(2)} p99 ${cell.transferP99.toFixed(2)} ms, lost/corrupt ${cell.lost}/${cell.corrupt}`);
        }
      }
      const on = runs.filter((x) => x.protect).map((x) => x.cell);
      const off = runs.filter((x) => !x.protect).map((x) => x.cell);
      if (on.length && off.length) rows.push({ provider, paced, on: medianCell(on), off: medianCell(off), runs });
    }
  }
  const corruptOf = (runs: { protect: boolean; cell: Cell }[], protect: boolean): number => runs.filter((x) => x.protect === protect).reduce((n, x) => n + x.cell.corrupt, 0);
  const f = (a: number, b: number, d = 1): string => `${a.toFixed(d)} / ${b.toFixed(d)} (${(a / b).toFixed(2)})`;
  const md = [
    `# Cost of the torn-grain protection, ${new Date().toISOString()}`, '',
    `${format}, hybrid poll, medians of ${rounds} alternated rounds of ${durationS} s; each cell is protected / unprotected (ratio).`, '',
    '| provider | pacing | grains/s | CPU initiator % | CPU target % | transfer p50 ms | transfer p99 ms | end-to-end p50 ms | corrupt (all rounds) |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.provider} | ${r.paced ? 'paced' : 'unpaced'} | ${f(r.on.grainsPerSec, r.off.grainsPerSec)} | ${f(r.on.cpuInitiator, r.off.cpuInitiator)} | ${f(r.on.cpuTarget, r.off.cpuTarget)} | ${f(r.on.transferP50, r.off.transferP50, 2)} | ${f(r.on.transferP99, r.off.transferP99, 2)} | ${f(r.on.e2eP50, r.off.e2eP50, 2)} | ${corruptOf(r.runs, true)} / ${corruptOf(r.runs, false)} |`),
  ].join('\n');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'torn-cost.json'), JSON.stringify({ schema: 'mxl-fabrics-torn-cost/1', date: new Date().toISOString(), machine: machineInfo(), versions: { node: process.version, mxlFabrics: packageVersion(HERE), libfabric: addon().fabricVersion() }, format, rounds, durationS, rows }, null, 2));
  fs.writeFileSync(path.join(out, 'torn-cost.md'), `${md}\n`);
  console.log(`\n${md}\n\nreport: ${path.join(out, 'torn-cost.json')}`);
  return failed > 0 ? 1 : 0;
}

main().then((c) => { process.exitCode = c; }, (e) => { console.error(`torn-cost: ${(e as Error).stack ?? e}`); process.exitCode = 1; });
