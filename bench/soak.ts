/**
 * The soak: a paced 1080p50 flow carried for a long time (default 30 minutes) over tcp and
 * over shm at once, each as its own `bench target` / `bench initiator` pair. Passes when no
 * grain was lost or corrupt and neither process kept growing: RSS and open file descriptors
 * are sampled every few seconds (see LIMITS for what counts as growth).
 *
 *   node build/bench/soak.js [--duration S] [--provider tcp|shm|both] [--format 1080p50]
 *        [--sample-s S] [--out DIR]
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runOursPair } from './lib/ours-pair.js';
import { fdCount, rssBytes } from './lib/proc-stat.js';
import { machineInfo, packageVersion, type RunFigures, type ScenarioResult } from './lib/report.js';
import { addon } from '../src/native/index.js';
import { option } from './lib/argv.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const MiB = 1024 * 1024;

/**
 * What counts as growth. V8 lets garbage pile up in its old generation until a full GC, so
 * RSS climbs for a while and then levels off; a leak keeps climbing. So the test is that the
 * last quarter of the run sets no new high above the second quarter's high (by more than
 * lateGrowthMiB), and that the open file descriptors stay within fdSpread. The trend (least
 * squares over the second half) is reported, not judged.
 */
export const LIMITS = { lateGrowthMiB: 8, fdSpread: 2 };

interface Sample { s: number; rss: number; fds: number }
interface Side { samples: Sample[]; rssFirstMiB: number; rssLastMiB: number; rssMaxMiB: number; rssSlopeMiBPerHour: number; lateGrowthMiB: number; fdMin: number; fdMax: number }
interface SoakRun { provider: string; durationS: number; counts: RunFigures['counts'] | undefined; initiator: Side; target: Side; latencyMs: { p50: number; p99: number; max: number } | null; ok: boolean; why: string[] }

function slopePerHour(xs: Sample[]): number {
  if (xs.length < 2) return 0;
  const n = xs.length;
  const mx = xs.reduce((a, x) => a + x.s, 0) / n;
  const my = xs.reduce((a, x) => a + x.rss, 0) / n;
  const num = xs.reduce((a, x) => a + (x.s - mx) * (x.rss - my), 0);
  const den = xs.reduce((a, x) => a + (x.s - mx) ** 2, 0);
  return den > 0 ? ((num / den) * 3600) / MiB : 0;
}

function side(samples: Sample[], warmupS: number, durationS: number): Side {
  const steady = samples.filter((x) => x.s >= warmupS);
  const use = steady.length >= 2 ? steady : samples;
  const rss = use.map((x) => x.rss / MiB);
  const maxIn = (from: number, to: number): number => Math.max(0, ...use.filter((x) => x.s >= from * durationS && x.s < to * durationS).map((x) => x.rss / MiB));
  const q2 = maxIn(0.25, 0.5);
  const q4 = maxIn(0.75, 1.01);
  return {
    samples, rssFirstMiB: rss[0] ?? 0, rssLastMiB: rss[rss.length - 1] ?? 0, rssMaxMiB: Math.max(0, ...rss),
    rssSlopeMiBPerHour: slopePerHour(use.filter((x) => x.s >= durationS / 2)), lateGrowthMiB: q2 > 0 && q4 > 0 ? q4 - q2 : 0,
    fdMin: Math.min(...use.map((x) => x.fds)), fdMax: Math.max(...use.map((x) => x.fds)),
  };
}

async function soakOne(provider: string, format: string, durationS: number, sampleS: number, log: (s: string) => void): Promise<SoakRun> {
  const ini: Sample[] = [];
  const tgt: Sample[] = [];
  let timer: NodeJS.Timeout | undefined;
  const t0 = performance.now();
  let result: ScenarioResult;
  try {
    result = await runOursPair({
      format, provider, streams: 1, poll: 'hybrid', paced: true, durationS,
      onStarted: ({ target, initiator }) => {
        const take = (): void => {
          const s = (performance.now() - t0) / 1000;
          const a = { s, rss: rssBytes(initiator), fds: fdCount(initiator) };
          const b = { s, rss: rssBytes(target), fds: fdCount(target) };
          if (a.rss === 0 || a.fds < 0 || b.rss === 0 || b.fds < 0) return; // a process has exited (the run's end)
          ini.push(a);
          tgt.push(b);
          const last = ini.length;
          if (last % Math.max(1, Math.round(60 / sampleS)) === 0) log(`${provider} ${Math.round(s)} s: RSS ${(ini[last - 1].rss / MiB).toFixed(0)} / ${(tgt[last - 1].rss / MiB).toFixed(0)} MiB, fds ${ini[last - 1].fds} / ${tgt[last - 1].fds}`);
        };
        take();
        timer = setInterval(take, sampleS * 1000);
      },
    });
  } finally {
    clearInterval(timer);
  }
  // Warm-up: the first tenth of the run (at most 2 minutes): V8 heaps and pools settle.
  const warmupS = Math.min(120, durationS / 10) + 3;
  // The last samples can fall after the initiator's traffic ended (process exit): drop them.
  const during = (xs: Sample[]): Sample[] => xs.filter((x) => x.s <= durationS + 2);
  const r: SoakRun = { provider, durationS, counts: result.ours?.counts, initiator: side(during(ini), warmupS, durationS), target: side(during(tgt), warmupS, durationS), latencyMs: result.ours ? { p50: result.ours.latencyMs.endToEnd.p50, p99: result.ours.latencyMs.endToEnd.p99, max: result.ours.latencyMs.endToEnd.max } : null, ok: false, why: [] };
  const c = result.ours?.counts;
  if (!c) r.why.push(`no figures: ${result.note ?? 'the run failed'}`);
  else {
    if (c.lost > 0) r.why.push(`${c.lost} lost`);
    if (c.corrupt > 0) r.why.push(`${c.corrupt} corrupt`);
    if (c.arrived === 0) r.why.push('nothing arrived');
  }
  for (const [name, s] of [['initiator', r.initiator], ['target', r.target]] as const) {
    if (s.lateGrowthMiB > LIMITS.lateGrowthMiB) r.why.push(`${name} RSS still growing: the last quarter's high is ${s.lateGrowthMiB.toFixed(1)} MiB above the second quarter's`);
    if (s.fdMax - s.fdMin > LIMITS.fdSpread) r.why.push(`${name} fds ${s.fdMin}..${s.fdMax}`);
  }
  r.ok = r.why.length === 0;
  return r;
}

function markdown(runs: SoakRun[]): string {
  const f = (x: number, d = 1): string => x.toFixed(d);
  const rows = runs.map((r) => {
    const c = r.counts;
    return `| ${r.provider} | ${f(r.durationS / 60, 1)} min | ${c ? `${c.written} / ${c.arrived} / ${c.verified}` : '—'} | ${c ? `${c.lost} / ${c.corrupt} / ${c.late}` : '—'} | ${r.latencyMs ? `${f(r.latencyMs.p50, 2)} / ${f(r.latencyMs.p99, 2)} / ${f(r.latencyMs.max, 1)}` : '—'} | ${f(r.initiator.rssFirstMiB, 0)} → ${f(r.initiator.rssLastMiB, 0)} (max ${f(r.initiator.rssMaxMiB, 0)}, late growth ${f(r.initiator.lateGrowthMiB)} MiB, 2nd-half trend ${f(r.initiator.rssSlopeMiBPerHour)} MiB/h) | ${f(r.target.rssFirstMiB, 0)} → ${f(r.target.rssLastMiB, 0)} (max ${f(r.target.rssMaxMiB, 0)}, late growth ${f(r.target.lateGrowthMiB)} MiB, 2nd-half trend ${f(r.target.rssSlopeMiBPerHour)} MiB/h) | ${r.initiator.fdMin}..${r.initiator.fdMax} / ${r.target.fdMin}..${r.target.fdMax} | ${r.ok ? 'ok' : `FAILED: ${r.why.join('; ')}`} |`;
  });
  return ['| provider | length | written / arrived / verified | lost / corrupt / late | end-to-end ms p50 / p99 / max | initiator RSS MiB | target RSS MiB | fds initiator / target | |', '|---|---|---|---|---|---|---|---|---|', ...rows].join('\n');
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log('usage: node build/bench/soak.js [--duration S (1800)] [--provider tcp|shm|both] [--format 1080p50] [--sample-s S (10)] [--out DIR]');
    return 0;
  }
  const val = (k: string, d: string): string => option(argv, k, d);
  const durationS = Number(val('--duration', '1800'));
  const sampleS = Number(val('--sample-s', '10'));
  const prov = val('--provider', 'both');
  const format = val('--format', '1080p50');
  const out = val('--out', path.join(REPO, 'build/bench/soak'));
  if (!(durationS > 0) || !(sampleS > 0) || !['tcp', 'shm', 'both'].includes(prov)) throw new Error('bad arguments (try --help)');
  const providers = prov === 'both' ? ['tcp', 'shm'] : [prov];
  console.log(`soak: ${format} paced, ${providers.join(' + ')} at once, ${durationS} s, samples every ${sampleS} s; ${new Date().toISOString()}`);
  const runs = await Promise.all(providers.map((p) => soakOne(p, format, durationS, sampleS, (s) => console.log(s))));
  fs.mkdirSync(out, { recursive: true });
  const report = {
    schema: 'mxl-fabrics-soak/1', date: new Date().toISOString(), command: process.argv.slice(1), machine: machineInfo(),
    versions: { node: process.version, mxlFabrics: packageVersion(HERE), libfabric: addon().fabricVersion() }, limits: LIMITS, runs,
  };
  fs.writeFileSync(path.join(out, 'soak.json'), JSON.stringify(report, null, 2));
  const md = `# Soak, ${report.date}\n\n${format} paced, ${providers.join(' and ')} at the same time, ${durationS} s each, RSS and fds sampled every ${sampleS} s (RSS columns: after warm-up → at the end).\n\n${markdown(runs)}\n`;
  fs.writeFileSync(path.join(out, 'soak.md'), md);
  console.log(`\n${md}\nreport: ${path.join(out, 'soak.json')}`);
  return runs.every((r) => r.ok) ? 0 : 1;
}

main().then((c) => { process.exitCode = c; }, (e) => { console.error(`soak: ${(e as Error).stack ?? e}`); process.exitCode = 1; });
