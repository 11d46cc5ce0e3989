/**
 * A writer here, a reader in another process or a worker thread, woken through the shared
 * futex (not by polling: each wait has a 5 s timeout and the grains arrive 20 ms apart).
 */
import test from 'ava';
import { Worker } from 'node:worker_threads';
import { MxlInstance, taiNow, type DiscreteFlowWriter } from '../../src/domain/index.js';
import { makeDomain, removeDomains, videoDef, json, runChild, sleep, fillLines, fixture } from './helpers.js';
import type { ReadParams } from './fixtures/read-loop.js';

test.after.always(removeDomains);

const BASE = 90_000_000_000n;
const N = 15;

interface Source {
  next(): Promise<any>;
  done: Promise<unknown>;
}

function inWorker(p: ReadParams): Source {
  const w = new Worker(fixture('reader-worker.js'), { workerData: p });
  const queue: any[] = [];
  const waiters: ((v: any) => void)[] = [];
  w.on('message', (m) => (waiters.length ? waiters.shift()!(m) : queue.push(m)));
  const done = new Promise((resolve, reject) => {
    w.on('error', reject);
    w.on('exit', resolve);
  });
  return { next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r))), done };
}

function inChild(p: ReadParams): Source {
  const c = runChild('reader-child.js', [JSON.stringify(p)]);
  return { next: c.next, done: c.exit };
}

for (const [where, mode] of [['process', 'async'], ['process', 'sync'], ['worker', 'sync'], ['worker', 'async']] as const) {
  test(`reader in another ${where} (${mode} wait) is woken by each commit and sees the payload`, async (t) => {
    const d = makeDomain();
    const id = '6e1f6f7a-5d3c-4b4e-9a51-0c2f3e4d5a6b';
    const inst = new MxlInstance(d);
    const w = inst.createFlowWriter(json(videoDef(id, { frame_width: 640, frame_height: 480 }))) as DiscreteFlowWriter;
    const line = w.geometry.sliceSizes[0];
    const total = w.geometry.totalSlices;
    w.openGrain(BASE);
    w.commitGrain();
    const p: ReadParams = { domain: d, flowId: id, first: 'head+1', count: N, mode, timeoutMs: 5000, kind: 'whole' };
    const src = where === 'worker' ? inWorker(p) : inChild(p);
    const ready = await src.next();
    t.is(ready.first, String(BASE + 1n));
    const committedAt: bigint[] = [];
    const reports: any[] = [];
    const collect = (async () => {
      for (let k = 0; k < N; k++) reports.push(await src.next());
    })();
    for (let k = 1; k <= N; k++) {
      await sleep(20);
      const g = w.openGrain(BASE + BigInt(k));
      fillLines(g.payload, line, BASE + BigInt(k), 0, total);
      committedAt.push(taiNow());
      w.commitGrain();
    }
    await collect;
    t.deepEqual(await src.next(), { done: true });
    await src.done;
    const lat = reports.map((r, k) => Number(BigInt(r.tai) - committedAt[k]) / 1e6);
    for (const [k, r] of reports.entries()) {
      t.is(r.index, String(BASE + 1n + BigInt(k)));
      t.is(r.status, 'OK');
      t.is(r.validSlices, total);
      t.is(r.bad, 0, `grain ${r.index} payload`);
    }
    lat.sort((a, b) => a - b);
    t.log(`commit→return latency ms: median ${lat[N >> 1].toFixed(3)}, max ${lat[N - 1].toFixed(3)}`);
    t.true(lat[N - 1] < 1000, 'woken by the futex, well before the 5 s timeout');
    inst.close();
  });
}

test('a reader that opens mid-stream sees validSlices grow on partial commits and never a stale slot', async (t) => {
  const d = makeDomain();
  const id = '7a2b3c4d-5e6f-4a1b-8c2d-3e4f5a6b7c8d';
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(json(videoDef(id, { frame_width: 640, frame_height: 480 }))) as DiscreteFlowWriter;
  const line = w.geometry.sliceSizes[0];
  const total = w.geometry.totalSlices;
  const step = total / 10;
  let stop = false;
  // Writer: every grain in 10 partial commits; slots wrap (grainCount 10), so each slot holds
  // a complete older grain until it is reopened.
  const writer = (async () => {
    let i = BASE;
    while (!stop) {
      const g = w.openGrain(i);
      for (let s = 0; s < total && !stop; s += step) {
        fillLines(g.payload, line, i, s, s + step);
        w.commitGrain({ validSlices: s + step });
        await sleep(1);
      }
      i++;
    }
  })();
  await sleep(300); // > 10 grains: every slot already holds a complete grain
  const child = runChild('reader-child.js', [JSON.stringify({ domain: d, flowId: id, first: 'head+1', count: 12, mode: 'sync', timeoutMs: 3000, kind: 'partial' } satisfies ReadParams)]);
  const ready = await child.next();
  t.truthy(ready.ready);
  const reports: any[] = [];
  for (let k = 0; k < 12; k++) reports.push(await child.next());
  t.deepEqual(await child.next(), { done: true });
  stop = true;
  await writer;
  await child.exit;
  let steps = 0;
  for (const r of reports) {
    t.is(r.status, 'OK', `grain ${r.index}`);
    t.is(r.bad, 0, `grain ${r.index}: stale or wrong lines, or validSlices did not grow`);
    t.is(r.validSlices, total);
    steps += r.steps;
  }
  t.log(`partial steps seen per grain: ${(steps / reports.length).toFixed(1)} of 10`);
  t.true(steps > reports.length, 'the reader saw partial grains, not only complete ones');
  inst.close();
});
