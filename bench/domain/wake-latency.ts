/**
 * Commit-to-reader-wake latency of the domain layer, next to a C baseline doing the same
 * shared-futex hand-off on a /dev/shm page in the same run (bench/c/futex_handoff.c).
 *
 *   npx tsc -p tsconfig.json && node build/bench/domain/wake-latency.js [iterations] [gapMs]
 *
 * The writer (main thread) commits one small grain every gapMs, so the reader is asleep in
 * FUTEX_WAIT each time, as it is between real grains. Latency = TAI at the reader's return
 * − TAI stamped into the payload just before commitGrain. Not a test: prints a table.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, execFileSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { MxlInstance, taiNow, type DiscreteFlowWriter } from '../../src/domain/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const iterations = Number(process.argv[2] ?? 400);
const gapMs = Number(process.argv[3] ?? 2);
const ID = 'b0b0b0b0-1111-4222-8333-444455556666';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))];

function cBaseline(): { process: { p50_us: number; p99_us: number }; thread: { p50_us: number; p99_us: number } } {
  const exe = path.join(os.tmpdir(), `mxlf-futex-handoff-${process.pid}`);
  execFileSync('cc', ['-O2', '-o', exe, path.join(repo, 'bench/c/futex_handoff.c'), '-lpthread']);
  try {
    return JSON.parse(execFileSync(exe, [String(iterations), String(gapMs * 1000)], { encoding: 'utf8' }));
  } finally {
    fs.rmSync(exe, { force: true });
  }
}

type Where = 'process' | 'worker';

async function nodeRun(w: DiscreteFlowWriter, domain: string, where: Where, mode: 'async' | 'sync'): Promise<number[]> {
  const params = { domain, flowId: ID, count: iterations, mode };
  const script = path.join(here, 'wake-reader.js');
  const messages: unknown[] = [];
  const waiters: ((v: any) => void)[] = [];
  const push = (m: unknown) => (waiters.length ? waiters.shift()!(m) : messages.push(m));
  const next = () => (messages.length ? Promise.resolve(messages.shift() as any) : new Promise<any>((r) => waiters.push(r)));
  let done: Promise<unknown>;
  if (where === 'worker') {
    const wk = new Worker(script, { workerData: params });
    wk.on('message', push);
    done = new Promise((res, rej) => { wk.on('exit', res); wk.on('error', rej); });
  } else {
    const cp = spawn(process.execPath, [script, JSON.stringify(params)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    cp.stdout!.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        push(JSON.parse(buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
    });
    done = new Promise((res) => cp.on('exit', res));
  }
  await next(); // ready
  await sleep(50);
  let i = w.flowHeader.headIndex;
  for (let k = 0; k < iterations; k++) {
    await sleep(gapMs);
    const g = w.openGrain(++i);
    new BigUint64Array(g.payload.buffer, g.payload.byteOffset, 1)[0] = taiNow();
    w.commitGrain();
  }
  const { lat } = await next();
  await done;
  return (lat as number[]).map((ns) => ns / 1000);
}

const domain = fs.mkdtempSync('/dev/shm/mxlf-bench-');
try {
  // A 2 s ring (100 slots) so a reader that stalls briefly is not lapped.
  const inst = new MxlInstance(domain, { historyNs: 2_000_000_000n });
  const w = inst.createFlowWriter(JSON.stringify({
    id: ID, label: 'bench', format: 'urn:x-nmos:format:data', tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['bench:data'] },
    grain_rate: { numerator: 50 }, media_type: 'video/smpte291',
  })) as DiscreteFlowWriter;
  w.openGrain(1_000_000n);
  w.commitGrain();
  const c = cBaseline();
  const rows: [string, number, number, number, number][] = [];
  for (const [where, mode] of [['process', 'async'], ['process', 'sync'], ['worker', 'sync'], ['worker', 'async']] as const) {
    const lat = await nodeRun(w, domain, where, mode);
    const base = where === 'process' ? c.process : c.thread;
    rows.push([`${where} ${mode === 'async' ? 'getGrain (threadpool)' : 'getGrainSync (futex on thread)'}`, pct(lat, 0.5), pct(lat, 0.99), base.p50_us, base.p99_us]);
  }
  inst.close();
  const f = (x: number) => x.toFixed(1).padStart(7);
  console.log(`commit -> reader wake, ${iterations} grains, ${gapMs} ms apart, ${os.cpus().length} CPUs, load ${os.loadavg()[0].toFixed(2)}`);
  console.log(`C baseline (same run): process p50 ${c.process.p50_us} us p99 ${c.process.p99_us} us; thread p50 ${c.thread.p50_us} us p99 ${c.thread.p99_us} us`);
  console.log('reader                                      p50 us   p99 us   C p50   C p99   p50 ratio  p99 ratio');
  for (const [name, p50, p99, c50, c99] of rows) {
    console.log(`${name.padEnd(42)} ${f(p50)}  ${f(p99)} ${f(c50)} ${f(c99)}   ${(p50 / c50).toFixed(2).padStart(6)}x   ${(p99 / c99).toFixed(2).padStart(6)}x`);
  }
} finally {
  fs.rmSync(domain, { recursive: true, force: true });
}
