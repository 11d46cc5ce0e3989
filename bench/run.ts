/**
 * `npm run bench`: the scenarios, each paced and unpaced, ours (`mxl-fabrics bench target`
 * and `bench initiator`, two processes over the public runtime API) next to the raw C
 * program bench/c/rma_bw.c doing the same RMA writes in the same run.
 *
 *   node build/bench/run.js [--quick] [--scenario NAME[,NAME]] [--provider tcp|shm|both]
 *        [--duration S] [--warmup S] [--poll MODE] [--rounds N] [--out DIR] [--micro] [--help]
 *
 * Scenarios: 1080p50, 2160p50, v210a-slices, audio16 (paced and unpaced each) and streams
 * (N concurrent paced 1080p50 streams, N = 1, 2, 4, 8). --quick: 2 s runs of a 320x180 flow
 * (streams N = 1, 2). --micro also runs the older micro-benches (fabrics/throughput,
 * domain/*, runtime/*) afterwards.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildRmaBw, runBaseline } from './lib/c-baseline.js';
import { runOursPair } from './lib/ours-pair.js';
import { baselineFigures } from './lib/figures.js';
import { cpuMark, idleGate, othersPct } from './lib/idle-gate.js';
import { machineInfo, packageVersion, ratios, writeReport, type BenchReport, type HighestN, type RunFigures, type ScenarioResult } from './lib/report.js';
import { foldRounds, withoutWindows } from './lib/rounds.js';
import { FORMATS, unitsPerSecond } from './lib/scenarios.js';
import { addon } from '../src/native/index.js';
import { option } from './lib/argv.js';

const HERE = path.dirname(fileURLToPath(import.meta.url)); // build/bench
const REPO = path.resolve(HERE, '../..');

const HELP = `usage: node build/bench/run.js [options]
  --quick               seconds per run, a 320x180 flow (what the test suite runs)
  --scenario LIST       comma-separated: 1080p50, 2160p50, v210a-slices, audio16, streams
  --provider P          tcp, shm or both (default both)
  --duration S          seconds of traffic per run (default 10, quick 2)
  --warmup S            paced: the first S seconds of each stream are carried and checked but
                        left out of latency and late (late ones are counted apart), ours and
                        raw C alike (default 1, quick 0.5; 0 = none)
  --poll MODE           our poll mode: busy, hybrid (default) or blocking
  --c-mode M            raw C pacing mode: blocking (default, like upstream's demo) or busy
  --streams LIST        N for the streams scenario (default 1,2,4,8; quick 1,2)
  --rounds N            run each scenario N times (ours, then raw C, each round) and report
                        per-figure medians, summed counts and each round's figures (default 1)
  --unpaced-only / --paced-only
  --out DIR             write report.json, summary.md, chart.svg (default build/bench/report)
  --micro               also run the older micro-benches afterwards`;

interface Opts { rounds: number; quick: boolean; scenarios: string[]; providers: ('tcp' | 'shm')[]; durationS: number; warmupS: number; poll: string; cBlocking: boolean; streams: number[]; pacings: boolean[]; out: string; micro: boolean }

function parse(argv: string[]): Opts {
  const val = (k: string): string | undefined => option(argv, k);
  const known = new Set(['--rounds', '--quick', '--scenario', '--provider', '--duration', '--warmup', '--poll', '--c-mode', '--streams', '--unpaced-only', '--paced-only', '--out', '--micro', '--help', '-h']);
  for (let i = 0; i < argv.length; i++) {
    if (!known.has(argv[i])) throw new Error(`unknown argument ${argv[i]} (try --help)`);
    if (['--rounds', '--scenario', '--provider', '--duration', '--warmup', '--poll', '--c-mode', '--streams', '--out'].includes(argv[i])) i++;
  }
  const quick = argv.includes('--quick');
  const prov = val('--provider') ?? 'both';
  if (!['tcp', 'shm', 'both'].includes(prov)) throw new Error(`--provider must be tcp, shm or both, got ${prov}`);
  const scenarios = (val('--scenario') ?? '1080p50,2160p50,v210a-slices,audio16,streams').split(',');
  for (const s of scenarios) if (s !== 'streams' && !FORMATS[s]) throw new Error(`unknown scenario ${s}`);
  const durationS = Number(val('--duration') ?? (quick ? 2 : 10));
  if (!(durationS > 0)) throw new Error('--duration must be > 0');
  const warmupS = Number(val('--warmup') ?? (quick ? 0.5 : 1));
  if (!(warmupS >= 0 && warmupS < durationS)) throw new Error('--warmup must be >= 0 and shorter than --duration');
  const rounds = Number(val('--rounds') ?? 1);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error('--rounds must be an integer >= 1');
  return {
    rounds, warmupS,
    quick, scenarios, providers: prov === 'both' ? ['tcp', 'shm'] : [prov as 'tcp' | 'shm'], durationS, poll: val('--poll') ?? 'hybrid',
    cBlocking: (val('--c-mode') ?? 'blocking') !== 'busy', streams: (val('--streams') ?? (quick ? '1,2' : '1,2,4,8')).split(',').map(Number),
    pacings: argv.includes('--unpaced-only') ? [false] : argv.includes('--paced-only') ? [true] : [true, false],
    out: val('--out') ?? path.join(REPO, 'build/bench/report'), micro: argv.includes('--micro'),
  };
}

/** A figure for the console, "—" when it is missing. */
const num = (x: number | null | undefined, d = 1): string => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '—');

async function scenario(o: Opts, bin: string, name: string, format: string, provider: 'tcp' | 'shm', paced: boolean, streams: number): Promise<ScenarioResult> {
  const gate = await idleGate(10, o.quick ? 2 : 20);
  const m0 = cpuMark();
  let s: ScenarioResult;
  try {
    s = await runOursPair({ format, provider, streams, poll: o.poll, paced, durationS: o.durationS, warmupS: o.warmupS });
  } catch (e) {
    const f = FORMATS[format];
    s = { name: f.name, format: f.mediaType, provider, paced, streams, pollMode: o.poll, durationS: o.durationS, grainBytes: 0, ours: null, baseline: null, ratios: null, noisy: false, othersPct: 0, ok: false, note: (e as Error).message };
  }
  s.name = name;
  const f = FORMATS[format];
  const rate = unitsPerSecond(f);
  const count = Math.max(20, Math.round(paced ? rate * o.durationS : (s.ours?.grainsPerSec ?? rate) * o.durationS * 0.5) || 50);
  if (s.grainBytes > 0) {
    try {
      // Unpaced, raw C also stamps and checks every 4 KiB page (-P), as our source and readers do
      // on the same two cores: the rate then compares the transports, not the bench's work.
      const runs = await runBaseline(bin, { provider, grainBytes: s.grainBytes, slots: 10, count, rate: paced ? rate : 0, blocking: paced && o.cBlocking, pages: !paced, warmup: paced ? Math.round(o.warmupS * rate) : 0 }, streams);
      // Several streams: sum the rates, the worst latency, CPU summed over the processes.
      const figs = runs.map((b) => baselineFigures(b.initiator, b.target, count));
      const b = figs[0];
      for (const x of figs.slice(1)) {
        b.grainsPerSec += x.grainsPerSec; b.gbitPerSec += x.gbitPerSec;
        for (const k of ['written', 'arrived', 'verified', 'unverified', 'late', 'lateWarmup', 'lost', 'corrupt'] as const) b.counts[k] += x.counts[k];
        b.cpu.initiator.processPct += x.cpu.initiator.processPct; b.cpu.target.processPct += x.cpu.target.processPct;
        for (const k of ['p50', 'p90', 'p99', 'max'] as const) b.latencyMs.transfer[k] = Math.max(b.latencyMs.transfer[k], x.latencyMs.transfer[k]);
      }
      s.baseline = { ...b, program: 'bench/c/rma_bw.c', mode: paced ? (o.cBlocking ? 'blocking' : 'busy') : 'busy, pages' };
      if (s.ours) s.ratios = ratios(s.ours, b);
    } catch (e) {
      s.baselineNote = (e as Error).message;
    }
  }
  s.othersPct = othersPct(m0, cpuMark());
  s.noisy = gate.noisy || s.othersPct > 25;
  const c = s.ours?.counts;
  const b = s.baseline;
  console.log(`${name.padEnd(26)} ${provider} ${paced ? 'paced  ' : 'unpaced'} x${streams}: ${s.ours ? `${num(s.ours.grainsPerSec, 1)} grains/s ${num(s.ours.gbitPerSec, 2)} Gbit/s, transfer p50 ${num(s.ours.latencyMs.transfer.p50, 2)} p99 ${num(s.ours.latencyMs.transfer.p99, 2)} ms, CPU ${num(s.ours.cpu.initiator.processPct, 1)}/${num(s.ours.cpu.target.processPct, 1)} % (target carry ${num(s.ours.cpu.target.carryPct, 1)}, readers ${num(s.ours.cpu.target.readerPct, 1)}), e2e p99 ${num(s.ours.latencyMs.endToEnd.p99, 2)} (from commit ${num(s.ours.latencyMs.commitToSeen?.p99, 2)}) ms, late (warm-up)/lost/corrupt ${c!.late} (${c!.lateWarmup})/${c!.lost}/${c!.corrupt}` : `FAILED ${s.note}`}` +
    ` | raw C ${b ? `${num(b.grainsPerSec, 1)} grains/s, p50 ${num(b.latencyMs.transfer.p50, 2)} p99 ${num(b.latencyMs.transfer.p99, 2)} ms, CPU ${num(b.cpu.initiator.processPct, 1)}/${num(b.cpu.target.processPct, 1)} %, late (warm-up)/lost ${b.counts.late} (${b.counts.lateWarmup})/${b.counts.lost}` : `none (${s.baselineNote})`}${s.noisy ? ' NOISY' : ''}`);
  return s;
}

/** `scenario` o.rounds times, folded into one result (bench/lib/rounds.ts). */
async function scenarioRounds(o: Opts, bin: string, name: string, format: string, provider: 'tcp' | 'shm', paced: boolean, streams: number): Promise<ScenarioResult> {
  const runs: ScenarioResult[] = [];
  for (let i = 0; i < o.rounds; i++) runs.push(await scenario(o, bin, name, format, provider, paced, streams));
  if (runs.length === 1) return runs[0];
  const ours = runs.map((r) => r.ours).filter((x): x is RunFigures => x !== null);
  const base = runs.map((r) => r.baseline).filter((x): x is NonNullable<ScenarioResult['baseline']> => x !== null);
  // A round that failed on one side leaves that side's folded figures null (and the scenario
  // not ok); the rounds that ran are still in `rounds`, the failure in `note`.
  const s: ScenarioResult = {
    ...runs[0],
    grainBytes: Math.max(...runs.map((r) => r.grainBytes)),
    ours: ours.length === runs.length ? foldRounds(ours) : null,
    baseline: base.length === runs.length ? foldRounds(base) : null,
    ratios: null,
    noisy: runs.some((r) => r.noisy),
    othersPct: Math.max(...runs.map((r) => r.othersPct)),
    ok: runs.every((r) => r.ok),
    rounds: { n: runs.length, ours: ours.map(withoutWindows), baseline: base.map(withoutWindows) },
  };
  const notes = runs.map((r, i) => (r.note ? `round ${i + 1}: ${r.note}` : '')).filter(Boolean);
  if (notes.length) s.note = notes.join('; ');
  const baseNotes = runs.map((r, i) => (r.baselineNote ? `round ${i + 1}: ${r.baselineNote}` : '')).filter(Boolean);
  if (baseNotes.length) s.baselineNote = baseNotes.join('; ');
  if (s.ours && s.baseline) s.ratios = ratios(s.ours, s.baseline);
  const so = s.ours;
  const b = s.baseline;
  const c = so?.counts;
  console.log(`${name.padEnd(26)} ${provider} ${paced ? 'paced  ' : 'unpaced'} x${streams}: median of ${runs.length} rounds: ${so ? `${num(so.grainsPerSec, 1)} grains/s, transfer p50 ${num(so.latencyMs.transfer.p50, 2)} p99 ${num(so.latencyMs.transfer.p99, 2)} ms, CPU ${num(so.cpu.initiator.processPct, 1)}/${num(so.cpu.target.processPct, 1)} % (target carry ${num(so.cpu.target.carryPct, 1)}), late/lost/corrupt in all rounds ${c!.late}/${c!.lost}/${c!.corrupt}` : 'FAILED'} | raw C ${b ? `${num(b.grainsPerSec, 1)} grains/s, p50 ${num(b.latencyMs.transfer.p50, 2)} p99 ${num(b.latencyMs.transfer.p99, 2)} ms, CPU ${num(b.cpu.initiator.processPct, 1)}/${num(b.cpu.target.processPct, 1)} %, late/lost ${b.counts.late}/${b.counts.lost}` : 'none'}`);
  return s;
}

const zeroLateLost = (c: { late: number; lost: number; arrived: number } | undefined): boolean => !!c && c.arrived > 0 && c.late === 0 && c.lost === 0;

async function main(o: Opts): Promise<number> {
  const bin = buildRmaBw(REPO);
  const results: ScenarioResult[] = [];
  const highestN: HighestN[] = [];
  console.log(`mxl-fabrics bench: ${o.durationS} s per run, providers ${o.providers.join(', ')}, poll ${o.poll}, raw C ${o.cBlocking ? 'blocking' : 'busy'}; ${new Date().toISOString()}`);
  for (const sc of o.scenarios) {
    for (const provider of o.providers) {
      if (sc === 'streams') {
        const fmt = o.quick ? 'small' : '1080p50';
        let ours = 0;
        let rawC: number | null = 0;
        for (const n of o.streams) {
          const s = await scenarioRounds(o, bin, `${FORMATS[fmt].name} x${n}`, fmt, provider, true, n);
          results.push(s);
          if (zeroLateLost(s.ours?.counts) && s.ours!.counts.corrupt === 0) ours = Math.max(ours, n);
          if (s.baseline === null) rawC = null;
          else if (rawC !== null && zeroLateLost(s.baseline.counts)) rawC = Math.max(rawC, n);
        }
        highestN.push({ provider, ours, rawC, tried: o.streams });
        continue;
      }
      const fmt = o.quick && FORMATS[sc].kind === 'video' ? 'small' : sc;
      for (const paced of o.pacings) results.push(await scenarioRounds(o, bin, o.quick && fmt !== sc ? `${sc} (quick: ${FORMATS[fmt].name})` : FORMATS[sc].name, fmt, provider, paced, 1));
    }
  }
  const report: BenchReport = {
    schema: 'mxl-fabrics-bench/1', date: new Date().toISOString(), command: process.argv.slice(1), machine: machineInfo(),
    versions: { node: process.version, mxlFabrics: packageVersion(HERE), libfabric: addon().fabricVersion() },
    method: {
      ours: `mxl-fabrics bench target and bench initiator as two processes on this host (public runtime API, poll mode ${o.poll}); the initiators follow the source flow; the source writes each grain at the flow's rate (paced; from a process of its own, as upstream's initiator reads a flow another process writes, so its CPU is not the initiator's; a slice scenario commits each grain in its ranges about 0.25 ms apart, each sent as it is committed) or keeps up to 4 grains (audio: 8 windows) per stream not yet completed, writing the next at each completion (unpaced, in the initiator process)`,
      baseline: `bench/c/rma_bw.c: the same fi_writemsg of header + payload with FI_REMOTE_CQ_DATA | FI_DELIVERY_COMPLETE, same region size, paced: ${o.cBlocking ? 'blocking (fi_cq_sread / sleep, like upstream\'s demo)' : 'busy-polling'}, unpaced: busy-polling (as the throughput bench) and, with -P, stamping the grain index into every 4 KiB page before each write and checking every page at each completion (the work our unpaced source and destination readers do on the same cores), one target and one initiator process per stream, run right after ours`,
      rate: 'grains/s at the target, (arrived - 1) / (last arrival - first arrival)',
      transferLatency: 'ours: the target worker reading the completion minus the commit time stamped in the payload; raw C: the completion at the target minus the scheduled send time',
      endToEndLatency: 'ours: a destination reader per stream (a worker_thread of the target process reading the target flow with the public reader API, blocked on the flow\'s futex) stamping TAI time when it wakes with the grain complete, minus the grain\'s own timestamp (paced) or its commit time (unpaced); the same clock on both sides here',
      cpu: 'utime + stime from /proc (ours) or getrusage (raw C) from the first grain to the end, % of one core, per process. Ours, target: processPct = the whole process; endpointPct = the targets\' worker and libfabric threads; readerPct = the bench\'s destination reader threads (per thread from /proc/self/task/TID/stat), which stand in for the application\'s own readers; carryPct = processPct - readerPct, what carrying the flow costs. The paced ratio table shows target CPU as carry / C (raw C\'s target process only receives and verifies nothing), with the whole-process figure and its ratio next to it',
      verification: 'every 4 KiB page of each grain carries its index, checked by the destination reader thread of its stream right after it took the end-to-end stamp; audio: every sample; a grain the ring overwrote before its reader got to it counts as unverified',
      rounds: o.rounds > 1 ? `each scenario ran ${o.rounds} times (ours, then raw C, each round); every figure shown is the median of the rounds' own figures (a p99 is the median of the rounds' p99s), late/lost/corrupt and the other counts are sums over the rounds, the ratios come from the medians, and each round's figures are in scenarios[].rounds` : 'one round per scenario (--rounds N for medians over N)',
      noise: 'an idle gate (< 10 % busy) before each scenario; noisy = other processes used > 25 % of a core meanwhile',
      late: 'paced: end-to-end latency (at the destination reader; raw C: transfer latency) above one grain period',
      warmup: `paced: the first ${o.warmupS} s of each stream (the first rate × S grains or audio windows that arrive) are carried and verified, and count for lost and corrupt, but are left out of the latency figures, and a late one counts as lateWarmup instead of late; the same for raw C (rma_bw -W); rates and CPU still cover the whole run. The highest N is taken on late and lost after the warm-up. Unpaced runs have no warm-up`,
    },
    scenarios: results, highestN,
  };
  const files = writeReport(o.out, report);
  console.log(`\n${fs.readFileSync(files.md, 'utf8')}\nreport: ${files.json}\nsummary: ${files.md}\nchart: ${files.svg}`);
  let code = results.every((s) => s.ours && s.ours.counts.corrupt === 0 && s.ours.counts.arrived > 0) ? 0 : 1;
  if (o.micro) code = runMicro(o.quick) || code;
  return code;
}

/** The older micro-benches, each in its own process, one after another. */
function runMicro(quick: boolean): number {
  let failed = 0;
  const files = [path.join(HERE, 'fabrics/throughput.js'), path.join(HERE, 'domain/wake-latency.js'), ...['notify-latency.js', 'ring-handoff.js'].map((f) => path.join(HERE, 'runtime', f))];
  for (const f of files.filter((x) => fs.existsSync(x))) {
    console.log(`\n=== ${path.relative(REPO, f)}\n`);
    const r = spawnSync(process.execPath, [f, ...(quick && !f.includes('domain') ? ['--quick'] : [])], { stdio: 'inherit', timeout: 30 * 60_000, killSignal: 'SIGKILL' });
    if (r.status !== 0) failed = 1;
  }
  return failed;
}

let opts: Opts;
try {
  if (process.argv.includes('--help') || process.argv.includes('-h')) { console.log(HELP); process.exit(0); }
  opts = parse(process.argv.slice(2));
} catch (e) {
  console.error(`bench: ${(e as Error).message}`);
  process.exit(2);
}
main(opts).then((c) => { process.exitCode = c; }, (e) => { console.error(`bench: ${(e as Error).stack ?? e}`); process.exitCode = 1; });
