/**
 * Runtime notification bench: how long a landed grain takes to reach the main thread, per
 * poll mode, next to raw thread hand-offs measured in the same run; and the CPU an idle,
 * connected endpoint costs per poll mode.
 *
 *   node build/bench/runtime/notify-latency.js [--quick] [--rounds 3] [--grains 600]
 *        [--burst 200] [--providers tcp,shm] [--modes busy,hybrid,blocking] [--idle-s 5]
 *        [--idle-pct 10] [--idle-timeout 60] [--others-pct 15] [--no-spin-probe]
 *        [--initiator-mode blocking|same] [--json FILE]
 *
 * Notification latency = `process.hrtime.bigint() - g.arrivalNs` on the main thread for each
 * grain of `target.grains()`; arrivalNs is stamped in the target worker when it read the
 * completion (hrtime is process-wide monotonic). The path measured: rest of the completion
 * handling, event-ring publish (+ doorbell notify), the main thread waking in
 * `Atomics.waitAsync`, and the async generator hand-over.
 *
 * Setup per (provider, mode): a real target and initiator from `new Fabrics()`, both in that
 * poll mode, on loopback (the idle-CPU phase runs with both in that mode; for the latency
 * phases the initiator is switched to 'blocking' unless --initiator-mode same: on a 2-vCPU
 * loopback a busy initiator would take the vCPU a remote host would not); the source flow is a `video/smpte291` data flow (4096-byte grains,
 * 200 grains/s) written by a *sender worker* of this file, and the initiator runs in follow
 * mode, so the main thread does nothing but consume. Phases: idle CPU (connected, no
 * traffic, `--idle-s` s), paced (`--grains` grains, gaps 2.5–7.5 ms, mean 200/s), burst
 * (`--burst` grains back to back, in batches of 8 with 20 ms between batches so the
 * 200-slot flow ring is never lapped).
 *
 * Raw baselines, same pacing and sample count, each round: a worker stamps hrtime into a SAB
 * and stores a sequence word; the main thread either spins on it (raw spin; the worker spins
 * through its gaps too, like a busy-mode worker) or sleeps in `Atomics.waitAsync` and the
 * worker, which sleeps through its gaps, `Atomics.notify`s (raw sleep).
 *
 * Spin probe (bench-local experiment, not a library feature): busy mode, but the main thread
 * spins on the target's event ring itself instead of awaiting `grains()`; shows what a
 * spinning consumer would get.
 *
 * Idle CPU is attributed per thread: /proc/self/task tids that appear while the target (then
 * the initiator) starts are that endpoint's threads; their CPU time comes from
 * /proc/self/task/<tid>/schedstat (ns on CPU).
 *
 * Gating: before every segment, wait until the machine is < --idle-pct % busy over 0.5 s (up
 * to --idle-timeout s; the gate's last reading is printed); during the segment, measure other
 * processes' CPU. A segment during which others used more than --others-pct % of one CPU is
 * NOISY and left out of the medians (what counts is the load while it ran, not before).
 */
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';
import fs from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { pathToFileURL } from 'node:url';
import { Fabrics } from '../../src/runtime/coordinator.js';
import type { PollMode } from '../../src/ipc/control-block.js';
import type { SpscRing, RingData } from '../../src/ipc/spsc-ring.js';
import { EventKind, EventRecord } from '../../src/ipc/event-records.js';
import type { TargetHandle } from '../../src/runtime/target-handle.js';
import { MxlInstance, currentIndex, type DiscreteFlowWriter } from '../../src/domain/index.js';
import { cpuMark, idleGate, othersPct } from '../lib/idle-gate.js';
import { median } from '../lib/percentiles.js';
import { option } from '../lib/argv.js';

const SELF = new URL(import.meta.url);
const FLOW = '7b0d4a52-2d61-4c8e-9a3f-4f1c5b6e8d21';
const RATE = { numerator: 200, denominator: 1 };
const flowDef = JSON.stringify({
  id: FLOW, label: 'notify-latency bench', format: 'urn:x-nmos:format:data', media_type: 'video/smpte291',
  tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['bench:data'] }, grain_rate: RATE,
});
const GAP_MS = 5; // mean gap, jittered 0.5–1.5 ×
const BATCH = 8;

// Shared command words between main and a sender/raw worker.
const CMD = 0; // 0 wait, 1 paced, 2 burst, 9 stop
const DONE = 1; // phases completed by the worker
const SEQ = 2; // raw: sequence
const STAMP_BYTE = 64; // raw: Float64 stamp

interface SenderJob { role: 'sender'; domain: string; shared: SharedArrayBuffer; grains: number; burst: number }
interface RawJob { role: 'raw'; kind: 'spin' | 'notify'; shared: SharedArrayBuffer; n: number }
type Job = SenderJob | RawJob;

const hr = (): number => Number(process.hrtime.bigint());
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const napMs = (ms: number): void => { Atomics.wait(sleeper, 0, 0, ms); };
const jitter = (): number => GAP_MS * (0.5 + Math.random());

/** Waits (worker side) until CMD becomes `want` or stop; false on stop or deadline. */
function awaitCmd(w: Int32Array, want: number, deadlineMs: number): boolean {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const c = Atomics.load(w, CMD);
    if (c === want) return true;
    if (c === 9 || Date.now() > end) return false;
    Atomics.wait(w, CMD, c, 200);
  }
}

function sender(job: SenderJob): void {
  const w = new Int32Array(job.shared, 0, 16);
  const inst = new MxlInstance(job.domain);
  const writer = inst.createFlowWriter(flowDef) as DiscreteFlowWriter;
  try {
    parentPort!.postMessage('ready');
    let index = currentIndex(RATE);
    const put = (): void => {
      writer.openGrain(index);
      writer.commitGrain({});
      index++;
    };
    if (!awaitCmd(w, 1, 120_000)) return;
    for (let i = 0; i < job.grains && Atomics.load(w, CMD) !== 9; i++) { napMs(jitter()); put(); }
    Atomics.store(w, DONE, 1);
    if (!awaitCmd(w, 2, 60_000)) return;
    for (let i = 0; i < job.burst && Atomics.load(w, CMD) !== 9; i++) {
      if (i > 0 && i % BATCH === 0) napMs(20);
      put();
    }
    Atomics.store(w, DONE, 2);
    awaitCmd(w, 9, 60_000);
  } finally {
    writer.close();
    inst.close();
  }
}

function rawProducer(job: RawJob): void {
  const w = new Int32Array(job.shared, 0, 16);
  const stamp = new Float64Array(job.shared, STAMP_BYTE, 1);
  if (!awaitCmd(w, 1, 60_000)) return;
  for (let i = 1; i <= job.n && Atomics.load(w, CMD) !== 9; i++) {
    if (job.kind === 'notify') napMs(jitter());
    else {
      // A busy-mode worker never sleeps: the spinning producer spins through its gap too.
      const until = performance.now() + jitter();
      while (performance.now() < until);
    }
    stamp[0] = hr();
    Atomics.store(w, SEQ, i);
    if (job.kind === 'notify') Atomics.notify(w, SEQ);
  }
  Atomics.store(w, DONE, 1);
}

// --------------------------------------------------------------------------- main side

interface Opts {
  quick: boolean; rounds: number; grains: number; burst: number; providers: Array<'tcp' | 'shm'>; modes: PollMode[];
  idleS: number; idlePct: number; idleTimeoutS: number; othersPct: number; spinProbe: boolean; json?: string;
  /** Poll mode of the initiator during the latency phases: 'blocking' (default) or 'same' as the target. */
  initiatorMode: 'blocking' | 'same';
}

function parseArgs(argv: string[]): Opts {
  const quick = argv.includes('--quick');
  const val = (k: string): string | undefined => option(argv, k);
  const num = (k: string, d: number): number => {
    const v = val(k);
    if (v === undefined) return d;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${k}: not a number: ${v}`);
    return n;
  };
  return {
    quick,
    rounds: num('--rounds', quick ? 1 : 3),
    grains: num('--grains', quick ? 300 : 600),
    burst: num('--burst', quick ? 96 : 200),
    providers: (val('--providers') ?? 'tcp,shm').split(',') as Array<'tcp' | 'shm'>,
    modes: (val('--modes') ?? 'busy,hybrid,blocking').split(',') as PollMode[],
    idleS: num('--idle-s', quick ? 3 : 5),
    idlePct: num('--idle-pct', 10),
    idleTimeoutS: num('--idle-timeout', 60),
    othersPct: num('--others-pct', 15),
    spinProbe: !argv.includes('--no-spin-probe'),
    json: val('--json'),
    initiatorMode: val('--initiator-mode') === 'same' ? 'same' : 'blocking',
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const tids = (): Set<string> => new Set(fs.readdirSync('/proc/self/task'));
/** ns on CPU of a thread (schedstat field 1); 0 once it is gone. */
function threadNs(tid: string): number {
  try {
    return Number(fs.readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return 0;
  }
}
const sumNs = (ts: string[]): number => ts.reduce((s, t) => s + threadNs(t), 0);
/** Context switches (voluntary + involuntary) of a thread: one per sleep/wake-up, roughly. */
function threadCtx(tid: string): number {
  try {
    const st = fs.readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
    const m = /voluntary_ctxt_switches:\s+(\d+)\s+nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st);
    return m ? Number(m[1]) + Number(m[2]) : 0;
  } catch {
    return 0;
  }
}
const sumCtx = (ts: string[]): number => ts.reduce((s, t) => s + threadCtx(t), 0);

interface Lat { p50: number; p90: number; p99: number; max: number; n: number }
function lat(samplesNs: number[], skip = 20): Lat {
  const s = Float64Array.from(samplesNs.slice(Math.min(skip, Math.floor(samplesNs.length / 10)))).sort();
  const p = (q: number) => (s.length ? s[Math.min(s.length - 1, Math.floor(q * s.length))] / 1000 : NaN);
  return { p50: p(0.5), p90: p(0.9), p99: p(0.99), max: s.length ? s[s.length - 1] / 1000 : NaN, n: s.length };
}

interface Segment {
  round: number; name: string; provider?: string; mode?: string; phase: 'paced' | 'burst' | 'idle';
  lat?: Lat; cpu?: { targetPct: number; initiatorPct: number; processPct: number; mainPct: number; targetWakePerS: number; initiatorWakePerS: number };
  others: number; gateBusy: number; noisy: boolean; note?: string;
}

const dirs: string[] = [];
function tmpDomain(): string {
  const d = fs.mkdtempSync(path.join('/dev/shm', 'mxlf-nlat-'));
  dirs.push(d);
  // 1 s of history (200 slots): the burst never laps the source or the target ring.
  fs.writeFileSync(path.join(d, 'options.json'), JSON.stringify({ 'urn:x-mxl:option:history_duration/v1.0': 1_000_000_000 }));
  return d;
}
function cleanup(): void {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** Raw baseline: worker → main, main spinning on the word or sleeping in waitAsync. */
async function rawRun(kind: 'spin' | 'sleep', n: number): Promise<number[]> {
  const shared = new SharedArrayBuffer(128);
  const w = new Int32Array(shared, 0, 16);
  const stamp = new Float64Array(shared, STAMP_BYTE, 1);
  const worker = new Worker(SELF, { workerData: { role: 'raw', kind: kind === 'spin' ? 'spin' : 'notify', shared, n } satisfies RawJob });
  const out: number[] = [];
  try {
    await withDeadline(once(worker, 'online'), 10_000, 'raw worker online');
    Atomics.store(w, CMD, 1);
    Atomics.notify(w, CMD);
    const end = Date.now() + n * GAP_MS * 2 + 10_000;
    let last = 0;
    if (kind === 'spin') {
      let spins = 0;
      while (last < n) {
        const s = Atomics.load(w, SEQ);
        if (s !== last) {
          const t = hr();
          if (s === last + 1) out.push(t - stamp[0]);
          last = s;
        } else if (++spins % 4096 === 0 && (Date.now() > end || Atomics.load(w, DONE) === 1)) break;
      }
    } else {
      while (last < n && Date.now() < end) {
        const r = Atomics.waitAsync(w, SEQ, last, 1000);
        if (r.async) await r.value;
        const s = Atomics.load(w, SEQ);
        if (s === last) { if (Atomics.load(w, DONE) === 1) break; continue; }
        const t = hr();
        if (s === last + 1) out.push(t - stamp[0]);
        last = s;
      }
    }
  } finally {
    Atomics.store(w, CMD, 9);
    Atomics.notify(w, CMD);
    await worker.terminate();
  }
  return out;
}

type Consumer = 'grains' | 'spin';

/** One (provider, mode) setup: idle CPU, paced latency, burst latency. */
async function endpointRun(o: Opts, round: number, provider: 'tcp' | 'shm', mode: PollMode, consumer: Consumer, gate: { busy: number; noisy: boolean }): Promise<Segment[]> {
  const name = consumer === 'spin' ? `${mode} + spinning consumer (probe)` : mode;
  const segs: Segment[] = [];
  const srcDir = tmpDomain();
  const dstDir = tmpDomain();
  const shared = new SharedArrayBuffer(128);
  const w = new Int32Array(shared, 0, 16);
  const sender = new Worker(SELF, { workerData: { role: 'sender', domain: srcDir, shared, grains: o.grains, burst: o.burst } satisfies SenderJob });
  const fx = new Fabrics();
  try {
    await withDeadline(once(sender, 'message'), 10_000, 'sender ready');
    const t0 = tids();
    const target = await fx.createTarget({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, domain: dstDir, flowDef, pollMode: mode });
    const t1 = tids();
    const initiator = await fx.createInitiator({ provider, domain: srcDir, flowId: FLOW, follow: true, pollMode: mode });
    const t2 = tids();
    const targetTids = [...t1].filter((t) => !t0.has(t));
    const initTids = [...t2].filter((t) => !t1.has(t));
    const connected = once(initiator, 'connected');
    await withDeadline(initiator.addTarget(target.info), 10_000, 'addTarget');
    await withDeadline(connected, 10_000, 'connected');

    if (consumer === 'grains' && o.idleS > 0) {
      await sleep(1000); // let hybrid's spin window run out after the connect
      const m0 = cpuMark();
      const c0 = process.cpuUsage();
      const mainTid = String(process.pid);
      const a = { t: sumNs(targetTids), i: sumNs(initTids), m: threadNs(mainTid), tc: sumCtx(targetTids), ic: sumCtx(initTids), w: performance.now() };
      await sleep(o.idleS * 1000);
      const b = { t: sumNs(targetTids), i: sumNs(initTids), m: threadNs(mainTid), tc: sumCtx(targetTids), ic: sumCtx(initTids), w: performance.now() };
      const c1 = process.cpuUsage(c0);
      const others = othersPct(m0, cpuMark());
      const wallNs = (b.w - a.w) * 1e6;
      segs.push({
        round, name, provider, mode, phase: 'idle', gateBusy: gate.busy, others, noisy: others > o.othersPct,
        cpu: { targetPct: (100 * (b.t - a.t)) / wallNs, initiatorPct: (100 * (b.i - a.i)) / wallNs, mainPct: (100 * (b.m - a.m)) / wallNs, processPct: (100 * (c1.user + c1.system) * 1000) / wallNs,
          targetWakePerS: ((b.tc - a.tc) * 1e9) / wallNs, initiatorWakePerS: ((b.ic - a.ic) * 1e9) / wallNs },
        note: `target tids ${targetTids.length}, initiator tids ${initTids.length}`,
      });
    }
    if (o.initiatorMode === 'blocking') initiator.pollMode = 'blocking';

    const phase = async (cmd: 1 | 2, count: number, label: 'paced' | 'burst'): Promise<void> => {
      const m0 = cpuMark();
      const samples: number[] = [];
      const deadline = Date.now() + (cmd === 1 ? count * GAP_MS * 2 : count * 5) + 15_000;
      Atomics.store(w, CMD, cmd);
      Atomics.notify(w, CMD);
      let note: string | undefined;
      // A grain the initiator skipped never arrives: once the sender is done and nothing new
      // came for 2 s, stop and report the shortfall instead of waiting for the deadline.
      let lastProgress = Date.now();
      const stalled = (): boolean => Atomics.load(w, DONE) >= cmd && Date.now() - lastProgress > 2000;
      if (consumer === 'grains') {
        const it = target.grains();
        let stop = false;
        const consume = (async () => {
          while (!stop) {
            const r = await it.next();
            if (r.done) return;
            samples.push(hr() - Number(r.value.arrivalNs));
            lastProgress = Date.now();
            if (samples.length >= count) return;
          }
        })();
        const watchdog = setInterval(() => {
          if (stalled()) { stop = true; note = `stalled: ${samples.length}/${count} grains`; }
        }, 250);
        try {
          await withDeadline(Promise.race([consume, new Promise<void>((r) => { const t = setInterval(() => { if (stop) { clearInterval(t); r(); } }, 100); })]), deadline - Date.now(), `${label} grains`);
        } catch (e) {
          note = (e as Error).message;
        } finally {
          clearInterval(watchdog);
          stop = true; // also ends the stop-poller below the race
        }
        // A generator parked in waitAsync(100) finishes its wait first, then returns.
        await withDeadline(it.return(undefined), 2000, 'grains().return()').catch(() => undefined);
      } else {
        // Bench-local probe: spin on the target's event ring on the main thread.
        const ring = (target as unknown as { events: SpscRing }).events;
        const visit = (d: RingData, off: number): void => {
          const t = hr();
          if (d[off + EventRecord.KIND] === EventKind.GRAIN) samples.push(t - d[off + EventRecord.TIME_NS]);
        };
        let spins = 0;
        let had = 0;
        while (samples.length < count) {
          if (ring.drain(visit) === 0 && ++spins % 65536 === 0) {
            if (samples.length !== had) { had = samples.length; lastProgress = Date.now(); }
            if (stalled()) { note = `stalled: ${samples.length}/${count} grains`; break; }
            if (Date.now() > deadline) { note = `timed out: ${label} spin`; break; }
          }
        }
      }
      const others = othersPct(m0, cpuMark());
      segs.push({ round, name, provider, mode, phase: label, lat: lat(samples), gateBusy: gate.busy, others, noisy: others > o.othersPct || note !== undefined, note: note ?? (samples.length < count ? `${samples.length}/${count}` : undefined) });
    };
    await phase(1, o.grains, 'paced');
    // Let the sender finish its paced phase (it may be behind the consumer by a grain).
    const end = Date.now() + 5000;
    while (Atomics.load(w, DONE) < 1 && Date.now() < end) await sleep(5);
    if (o.burst > 0) await phase(2, o.burst, 'burst');
    if (target.overflow > 0) segs.at(-1)!.note = `${segs.at(-1)!.note ?? ''} ring overflow ${target.overflow}`;
  } finally {
    Atomics.store(w, CMD, 9);
    Atomics.notify(w, CMD);
    await withDeadline(fx.close(), 15_000, 'Fabrics.close').catch((e) => console.error(String(e)));
    await sender.terminate();
    fs.rmSync(srcDir, { recursive: true, force: true });
    fs.rmSync(dstDir, { recursive: true, force: true });
  }
  return segs;
}

const f = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : '—');
const range = (xs: number[], d = 1): string => (xs.length ? `${f(Math.min(...xs), d)}–${f(Math.max(...xs), d)}` : '—');

async function main(o: Opts): Promise<void> {
  const all: Segment[] = [];
  const log = (s: Segment): void => {
    all.push(s);
    const l = s.lat ? `p50 ${f(s.lat.p50, 2)} µs p99 ${f(s.lat.p99, 2)} µs max ${f(s.lat.max, 0)} n ${s.lat.n}` : '';
    const c = s.cpu ? `target ${f(s.cpu.targetPct, 2)} % (${f(s.cpu.targetWakePerS, 0)} ctxsw/s) initiator ${f(s.cpu.initiatorPct, 2)} % (${f(s.cpu.initiatorWakePerS, 0)} ctxsw/s) main ${f(s.cpu.mainPct, 2)} % process ${f(s.cpu.processPct, 2)} %` : '';
    console.log(`round ${s.round} ${s.provider ?? ''} ${s.name} ${s.phase}: ${l}${c} | others ${f(s.others, 0)} % gate ${f(s.gateBusy, 0)} %${s.noisy ? ' NOISY' : ''}${s.note ? ` (${s.note})` : ''}`);
  };
  for (let round = 1; round <= o.rounds; round++) {
    // Alternate the order of the raw rows and the endpoint rows between rounds.
    const raw = async (): Promise<void> => {
      for (const kind of ['spin', 'sleep'] as const) {
        const gate = await idleGate(o.idlePct, o.idleTimeoutS);
        const m0 = cpuMark();
        const samples = await rawRun(kind, o.grains);
        const others = othersPct(m0, cpuMark());
        log({ round, name: kind === 'spin' ? 'raw spin handoff' : 'raw sleep handoff (notify → waitAsync)', phase: 'paced', lat: lat(samples), gateBusy: gate.busy, others, noisy: others > o.othersPct });
      }
    };
    if (round % 2 === 1) await raw();
    for (const provider of o.providers) {
      const runs: Array<[PollMode, Consumer]> = o.modes.map((m) => [m, 'grains']);
      if (o.spinProbe && o.modes.includes('busy')) runs.push(['busy', 'spin']);
      for (const [mode, consumer] of round % 2 === 1 ? runs : [...runs].reverse()) {
        const gate = await idleGate(o.idlePct, o.idleTimeoutS);
        for (const s of await endpointRun(o, round, provider, mode, consumer, gate)) log(s);
      }
    }
    if (round % 2 === 0) await raw();
  }
  report(o, all);
  if (o.json) fs.writeFileSync(o.json, JSON.stringify({ opts: o, segments: all }, null, 1));
}

function report(o: Opts, all: Segment[]): void {
  const clean = all.filter((s) => !s.noisy);
  const pick = (pool: Segment[], name: string, phase: string, provider?: string) => pool.filter((s) => s.name === name && s.phase === phase && s.provider === provider);
  const rawSpin = (pool: Segment[]) => median(pick(pool, 'raw spin handoff', 'paced').map((s) => s.lat!.p50));
  const rawSleep = (pool: Segment[]) => median(pick(pool, 'raw sleep handoff (notify → waitAsync)', 'paced').map((s) => s.lat!.p50));
  const rawSleep99 = (pool: Segment[]) => median(pick(pool, 'raw sleep handoff (notify → waitAsync)', 'paced').map((s) => s.lat!.p99));
  const noisyCount = all.length - clean.length;
  const tables = clean.length > 0 ? [{ pool: clean, title: 'clean segments only' }] : [];
  if (noisyCount > 0) tables.push({ pool: all, title: 'ALL segments, noisy included (ratios only)' });

  for (const { pool, title } of tables) {
    const spin = rawSpin(pool);
    const slp = rawSleep(pool);
    const slp99 = rawSleep99(pool);
    console.log(`\n### Notification latency, worker completion → main thread (${title}; medians over rounds of per-round percentiles, µs; range in brackets)\n`);
    console.log(`raw spin p50 ${f(spin, 2)} µs, raw sleep p50 ${f(slp, 1)} µs / p99 ${f(slp99, 1)} µs\n`);
    console.log('| row | phase | runs | p50 µs | p99 µs | max µs (worst) | p50 ratio | vs |');
    console.log('|---|---|---|---|---|---|---|---|');
    const row = (label: string, segs: Segment[], phase: string, base: number, baseName: string): void => {
      if (segs.length === 0) return;
      const p50 = segs.map((s) => s.lat!.p50);
      const p99 = segs.map((s) => s.lat!.p99);
      const mx = Math.max(...segs.map((s) => s.lat!.max));
      console.log(`| ${label} | ${phase} | ${segs.length} | ${f(median(p50), 2)} [${range(p50, 2)}] | ${f(median(p99), 1)} [${range(p99)}] | ${f(mx, 0)} | ${f(median(p50) / base, 2)} | ${baseName} |`);
    };
    row('raw spin handoff', pick(pool, 'raw spin handoff', 'paced'), 'paced', spin, 'raw spin');
    row('raw sleep handoff', pick(pool, 'raw sleep handoff (notify → waitAsync)', 'paced'), 'paced', slp, 'raw sleep');
    for (const provider of o.providers) {
      for (const mode of o.modes) {
        for (const phase of ['paced', 'burst']) {
          const base = mode === 'busy' ? spin : slp;
          row(`${provider} ${mode}`, pick(pool, mode, phase, provider), phase, base, mode === 'busy' ? 'raw spin' : 'raw sleep');
          if (mode === 'busy') row(`${provider} ${mode}`, pick(pool, mode, phase, provider), phase, slp, 'raw sleep');
        }
      }
      for (const phase of ['paced', 'burst']) row(`${provider} busy + spinning consumer (probe)`, pick(pool, 'busy + spinning consumer (probe)', phase, provider), phase, spin, 'raw spin');
    }
    console.log(`\n### Idle endpoint CPU, connected, no traffic, ${o.idleS} s (${title}; % of one core, median [range])\n`);
    console.log('| provider | mode | runs | target worker | target ctx switches/s | initiator worker | initiator ctx switches/s | main thread | whole process |');
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const provider of o.providers) {
      for (const mode of o.modes) {
        const segs = pick(pool, mode, 'idle', provider);
        if (segs.length === 0) continue;
        const col = (k: keyof NonNullable<Segment['cpu']>, d = 2) => { const xs = segs.map((s) => s.cpu![k]); return `${f(median(xs), d)} [${range(xs, d)}]`; };
        console.log(`| ${provider} | ${mode} | ${segs.length} | ${col('targetPct')} | ${col('targetWakePerS', 0)} | ${col('initiatorPct')} | ${col('initiatorWakePerS', 0)} | ${col('mainPct')} | ${col('processPct')} |`);
      }
    }
  }
  console.log(`\n${noisyCount} of ${all.length} segments NOISY (others > ${o.othersPct} % of a CPU while it ran).`);
  const bad = all.filter((s) => s.note?.startsWith('timed out'));
  if (bad.length) {
    console.error(`bench: ${bad.length} segments timed out`);
    process.exitCode = 1;
  }
}

if (isMainThread) {
  if (process.argv[1] && pathToFileURL(process.argv[1]).href === import.meta.url) {
    const onSignal = (): void => { cleanup(); process.exit(130); };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      await main(parseArgs(process.argv.slice(2)));
    } finally {
      cleanup();
    }
  }
} else {
  const job = workerData as Job;
  if (job.role === 'sender') sender(job);
  else if (job.role === 'raw') rawProducer(job);
}
