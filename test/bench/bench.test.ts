// The bench harness kept honest: a quick `npm run bench` (seconds, a 320x180 flow) writes a
// report with every field, each ratio from a raw C baseline that really ran, a well-formed
// SVG; and `mxl-fabrics bench target|initiator` across two network namespaces moves
// verified grains over tcp.
import test from 'ava';
import { makeHostPair } from '../helpers/netns.js';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { BenchReport, RunFigures } from '../../bench/lib/report.js';
import { buildRmaBw, runBaseline } from '../../bench/lib/c-baseline.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CLI = path.join(REPO, 'bin/mxl-fabrics.js');
const RUN = path.join(REPO, 'build/bench/run.js');
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'mxlf-bench-test-'));

test.after.always(() => fs.rmSync(OUT, { recursive: true, force: true }));

/** Element balance of an SVG/XML text: every open tag closed in order; returns the root name. */
function wellFormedRoot(xml: string): string {
  const stack: string[] = [];
  let root = '';
  const body = xml.replace(/<\?xml[^>]*\?>/, '');
  const text = body.replace(/<[^>]*>/g, '');
  if (/&(?!amp;|lt;|gt;|quot;|apos;|#\d+;)/.test(text)) throw new Error('an unescaped & in text');
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/g)) {
    const [, close, name, , self] = m;
    if (close) {
      if (stack.pop() !== name) throw new Error(`</${name}> closes the wrong element`);
    } else if (!self) {
      if (stack.length === 0) { if (root) throw new Error('two root elements'); root = name; }
      stack.push(name);
    } else if (stack.length === 0) throw new Error('a self-closed root');
  }
  if (stack.length) throw new Error(`unclosed: ${stack.join(', ')}`);
  const tags = body.match(/<[^>]*>/g) ?? [];
  const parsed = [...body.matchAll(/<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<]*")*)\s*(\/?)>/g)].length;
  if (tags.length !== parsed) throw new Error(`${tags.length - parsed} malformed tag(s)`);
  return root;
}

function assertFigures(t: import('ava').ExecutionContext, f: RunFigures, what: string): void {
  t.true(f.grainsPerSec > 0, `${what}: grains/s`);
  t.true(f.gbitPerSec > 0, `${what}: Gbit/s`);
  for (const k of ['written', 'arrived', 'verified', 'unverified', 'late', 'lateWarmup', 'lost', 'corrupt'] as const) t.is(typeof f.counts[k], 'number', `${what}: counts.${k}`);
  t.true(f.counts.arrived > 0, `${what}: arrived`);
  for (const k of ['p50', 'p90', 'p99', 'max'] as const) t.true(typeof f.latencyMs.transfer[k] === 'number' && f.latencyMs.transfer[k] > 0, `${what}: transfer latency ${k}`);
  // Paced, a grain is committed up to half a period before its own timestamp, so end-to-end
  // may be below 0 for a fast transfer: every figure is there, the worst one is positive.
  const e2e = f.latencyMs.endToEnd;
  t.true(e2e.count > 0, `${what}: end-to-end samples`);
  for (const k of ['p50', 'p90', 'p99', 'max'] as const) t.true(Number.isFinite(e2e[k]), `${what}: end-to-end ${k}`);
  t.true(e2e.max > 0, `${what}: end-to-end max`);
  t.true(f.cpu.initiator.processPct > 0 && f.cpu.target.processPct > 0, `${what}: CPU per side`);
  t.true(f.peakRssBytes.initiator > 0 && f.peakRssBytes.target > 0, `${what}: peak RSS`);
}

test.serial('raw C -P: the target checks every page; pages the initiator did not stamp are errors', async (t) => {
  t.timeout(60_000);
  const bin = buildRmaBw(REPO);
  const o = { provider: 'tcp' as const, grainBytes: 8192 + 64 * 4096, slots: 10, count: 200, rate: 0, blocking: false };
  const [good] = await runBaseline(bin, { ...o, pages: true });
  t.is(good.target.errors, 0, 'stamped and checked');
  t.is(good.target.grains, 200);
  // The target checks, the initiator does not stamp: every grain but those whose slot
  // happens to hold a matching value fails.
  const mixed = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const x = path.join(OUT, 'exchange-mixed');
    const common = ['-p', 'tcp', '-g', String(o.grainBytes), '-k', '10', '-w', '4', '-c', '200', '-t', '30', '-q', '-x', x];
    const tgt = spawn(bin, ['-r', 'target', ...common, '-P', '-n', '127.0.0.1', '-s', '0'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    tgt.stdout.on('data', (d) => (out += d));
    const start = Date.now();
    const go = (): void => {
      if (!fs.existsSync(x) && Date.now() - start < 10_000) { setTimeout(go, 10); return; }
      spawn(bin, ['-r', 'initiator', ...common, '-n', '127.0.0.1'], { stdio: 'ignore' });
    };
    go();
    tgt.on('close', (code) => resolve({ code, out }));
  });
  const line = JSON.parse(mixed.out.trim().split('\n').pop() ?? '{}') as { errors?: number };
  t.true((line.errors ?? 0) >= 150, `unstamped pages reported: ${line.errors} errors of 200`);
});

test.serial('a quick bench run: every field, ratios from a baseline that ran, a well-formed SVG', (t) => {
  t.timeout(90_000);
  const r = spawnSync(process.execPath, [RUN, '--quick', '--scenario', '1080p50', '--provider', 'tcp', '--duration', '2', '--out', OUT], { encoding: 'utf8', timeout: 85_000 });
  t.is(r.status, 0, r.stderr + r.stdout.slice(-2000));
  const rep = JSON.parse(fs.readFileSync(path.join(OUT, 'report.json'), 'utf8')) as BenchReport;
  t.is(rep.schema, 'mxl-fabrics-bench/1');
  t.true(rep.machine.cpus > 0 && rep.machine.instanceType.length > 0);
  t.regex(rep.versions.libfabric, /^\d+\.\d+/);
  t.regex(rep.versions.node, /^v\d+/);
  t.true(Object.keys(rep.method).length >= 5);
  t.deepEqual(rep.scenarios.map((s) => [s.provider, s.paced]), [['tcp', true], ['tcp', false]]);
  for (const s of rep.scenarios) {
    const what = `${s.name} ${s.paced ? 'paced' : 'unpaced'}`;
    t.truthy(s.ours, `${what}: ${s.note}`);
    assertFigures(t, s.ours!, `${what} ours`);
    t.is(s.ours!.counts.corrupt, 0, what);
    const { initiatorSkipped, tornPrevented, lost } = s.ours!.counts;
    t.true(Number.isInteger(initiatorSkipped) && Number.isInteger(tornPrevented), `${what}: the initiators' skipped and torn counts are reported`);
    t.true(initiatorSkipped! + tornPrevented! <= lost, `${what}: skipped ${initiatorSkipped} + torn ${tornPrevented} are part of the ${lost} lost`);
    t.true(s.ours!.counts.verified > 0, `${what}: verified grains`);
    t.is(s.ours!.counts.verified + s.ours!.counts.unverified, s.ours!.counts.arrived, `${what}: every arrived grain checked (or overwritten before it could be)`);
    t.truthy(s.baseline, `${what}: raw C ran (${s.baselineNote})`);
    const b = s.baseline!;
    t.is(b.program, 'bench/c/rma_bw.c');
    t.true(b.counts.arrived > 0 && b.counts.written > 0 && b.grainsPerSec > 0, `${what}: raw C moved grains`);
    t.is(b.counts.corrupt, 0);
    t.truthy(s.ratios);
    t.is(s.ratios!.grainsPerSec, s.ours!.grainsPerSec / b.grainsPerSec, `${what}: the throughput ratio is ours / raw C`);
    // The target's CPU split: the bench's reader threads apart from what carrying the flow costs.
    const tc = s.ours!.cpu.target;
    t.is(typeof tc.readerPct, 'number', `${what}: readerPct`);
    t.is(typeof tc.carryPct, 'number', `${what}: carryPct`);
    t.true(tc.readerPct! >= 0 && tc.carryPct! >= 0 && tc.carryPct! <= tc.processPct, `${what}: 0 <= carry <= process`);
    t.true(Math.abs(tc.carryPct! - Math.max(0, tc.processPct - tc.readerPct!)) < 1e-9, `${what}: carry = process - readers`);
    // Unpaced, the readers verify thousands of grains a second: their threads must show it.
    if (!s.paced) t.true(tc.readerPct! > 0, `${what}: the reader threads' CPU is measured`);
    t.true(b.cpu.target.processPct > 0, `${what}: raw C's target CPU was measured`);
    t.is(s.ratios!.cpuTarget, s.ours!.cpu.target.processPct / b.cpu.target.processPct, `${what}: the target ratio is ours / raw C`);
    t.is(s.ratios!.cpuTargetCarry, tc.carryPct! / b.cpu.target.processPct, `${what}: the carry ratio is our carry / raw C's target`);
    if (s.paced) {
      t.true(b.latencyMs.transfer.count > 0 && b.latencyMs.transfer.p50 > 0, `${what}: raw C measured latency`);
      t.is(s.ratios!.transferP50, s.ours!.latencyMs.transfer.p50 / b.latencyMs.transfer.p50);
      t.true(s.ours!.latencyMs.transfer.windows.length >= 1, `${what}: 1 s windows`);
      // --quick's warm-up (0.5 s of a 50 grains/s flow): the first 25 grains of each side are
      // carried and counted but not timed.
      t.regex(rep.method.warmup, /first 0\.5 s/);
      t.is(b.latencyMs.transfer.count, b.counts.arrived - 25, `${what}: raw C times every grain after the warm-up`);
      t.is(s.ours!.latencyMs.transfer.count, s.ours!.counts.arrived - 25, `${what}: ours times every grain after the warm-up`);
      // Paced whole grains come from a source process of its own: its CPU is reported apart.
      t.true(typeof s.ours!.cpu.initiator.sourcePct === 'number' && s.ours!.cpu.initiator.sourcePct > 0, `${what}: source process CPU`);
    } else {
      t.is(s.ours!.cpu.initiator.sourcePct, null, `${what}: the unpaced source runs in the initiator process`);
    }
  }
  const svg = fs.readFileSync(path.join(OUT, 'chart.svg'), 'utf8');
  t.is(wellFormedRoot(svg), 'svg');
  t.is((svg.match(/<rect [^>]*><title>/g) ?? []).length, 2, 'one throughput bar per scenario');
  t.true((svg.match(/<circle /g) ?? []).length >= 6, 'p50/p90/p99 markers');
  const md = fs.readFileSync(path.join(OUT, 'summary.md'), 'utf8');
  t.regex(md, /\| scenario \| provider \| pacing/);
  t.regex(md, /## Paced: ours against raw C/);
  t.regex(md, /CPU target carry \/ C \(ratio\) \| CPU target whole process \(ratio\)/);
  t.regex(rep.method.cpu, /carry \/ C/);
});

test('--rounds 2: the report folds two real rounds into medians and sums, keeps each round, and the summary shows their spread', (t) => {
  t.timeout(120_000);
  const out = path.join(OUT, 'rounds');
  const r = spawnSync(process.execPath, [RUN, '--quick', '--rounds', '2', '--scenario', '1080p50', '--provider', 'shm', '--paced-only', '--duration', '1.5', '--warmup', '0.3', '--out', out], { encoding: 'utf8', timeout: 110_000 });
  t.is(r.status, 0, r.stderr + r.stdout.slice(-2000));
  const rep = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as BenchReport;
  t.is(rep.scenarios.length, 1);
  const s = rep.scenarios[0];
  t.is(s.rounds?.n, 2);
  t.is(s.rounds!.ours.length, 2);
  t.is(s.rounds!.baseline.length, 2);
  const o = s.ours!;
  const b = s.baseline!;
  for (const [i, x] of s.rounds!.ours.entries()) assertFigures(t, x, `ours, round ${i + 1}`);
  for (const [i, x] of s.rounds!.baseline.entries()) assertFigures(t, x, `raw C, round ${i + 1}`);
  const mid = (xs: number[]): number => (xs[0] + xs[1]) / 2;
  const near = (x: number, y: number, what: string): void => { t.true(Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y)), `${what}: ${x} vs ${y}`); };
  near(o.grainsPerSec, mid(s.rounds!.ours.map((x) => x.grainsPerSec)), 'ours grains/s');
  near(o.latencyMs.transfer.p99, mid(s.rounds!.ours.map((x) => x.latencyMs.transfer.p99)), 'ours transfer p99');
  near(b.cpu.target.processPct, mid(s.rounds!.baseline.map((x) => x.cpu.target.processPct)), 'raw C target CPU');
  t.is(o.counts.arrived, s.rounds!.ours[0].counts.arrived + s.rounds!.ours[1].counts.arrived);
  t.is(b.counts.arrived, s.rounds!.baseline[0].counts.arrived + s.rounds!.baseline[1].counts.arrived);
  t.true(o.counts.arrived >= 2 * 50, 'two rounds of 1.5 s at 50 grains/s arrived');
  near(s.ratios!.grainsPerSec, o.grainsPerSec / b.grainsPerSec, 'ratio from the medians');
  near(s.ratios!.transferP99, o.latencyMs.transfer.p99 / b.latencyMs.transfer.p99, 'p99 ratio from the medians');
  t.deepEqual(s.rounds!.ours[0].latencyMs.transfer.windows, []);
  t.true(o.latencyMs.transfer.windows.length >= 2, 'the folded figures hold both rounds\' windows');
  t.regex(rep.method.rounds, /ran 2 times/);
  const md = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
  t.regex(md, /## Spread over the rounds/);
  t.regex(md, /\| 1080p50 \(quick: 320x180p50\) \| shm \| paced \| 1 \| 2 \| [\d.]+–[\d.]+ \/ [\d.]+–[\d.]+ \|/);
});

test('the SVG checker rejects what is not well-formed', (t) => {
  t.throws(() => wellFormedRoot('<svg><g></svg>'));
  t.throws(() => wellFormedRoot('<svg><text>a & b</text></svg>'));
  t.throws(() => wellFormedRoot('<svg><rect x="1></svg>'));
  t.is(wellFormedRoot('<svg><g><rect x="1"/></g></svg>'), 'svg');
});

// ---------------------------------------------------------------- two namespaces

const hosts = makeHostPair('mxlfb', 9);
const { ns1: NS1, ns2: NS2, a1: A1, a2: A2 } = hosts;
const nsSkip = hosts.skip;
test.after.always(() => hosts.remove());

(nsSkip ? test.skip : test.serial)(`bench target and bench initiator in two namespaces over tcp${nsSkip ? ` (skipped: ${nsSkip})` : ''}`, async (t) => {
  t.timeout(60_000);
  const common = ['--format', 'small', '-p', 'tcp'];
  const target = spawn('ip', ['netns', 'exec', NS1, process.execPath, CLI, 'bench', 'target', ...common, '-n', A1, '--http', `${A1}:0`, '--max-duration', '50'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let terr = '';
  target.stderr.on('data', (d: Buffer) => (terr += d.toString()));
  try {
    const ready = await new Promise<{ url: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`target not ready: ${terr}`)), 20_000);
      readline.createInterface({ input: target.stdout }).once('line', (l) => { clearTimeout(timer); resolve(JSON.parse(l)); });
    });
    t.regex(ready.url, new RegExp(`^http://${A1.replace(/\./g, '\\.')}:\\d+$`), 'the target serves on its namespace address');
    const r = await new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      const c = spawn('ip', ['netns', 'exec', NS2, process.execPath, CLI, 'bench', 'initiator', ...common, '-n', A2, '--target', ready.url, '--duration', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (err += d.toString()));
      c.on('close', (code) => resolve({ code, out, err }));
    });
    t.is(r.code, 0, r.err);
    const rep = JSON.parse(r.out) as BenchReport;
    const s = rep.scenarios[0];
    t.is(s.provider, 'tcp');
    t.truthy(s.ours, s.note);
    t.true(s.ours!.counts.verified > 0, 'verified grains arrived across the veth pair');
    t.is(s.ours!.counts.corrupt, 0);
    t.is(s.ours!.counts.lost, 0);
  } finally {
    if (target.exitCode === null) target.kill('SIGTERM');
  }
});
