// Event records in batches (RecordOptions.batchMs): every record still arrives, in order,
// but the consumer wakes once per batch instead of once per grain.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { Fabrics } from '../../src/runtime/coordinator.js';
import { MxlInstance, currentIndex, type DiscreteFlowWriter } from '../../src/domain/index.js';
import { FabricsError } from '../../src/errors.js';

const FLOW = '7c1e4a52-93d0-4b8e-a6f1-2d5c8e9b0a14';
const RATE = { numerator: 50, denominator: 1 };
const flowDef = JSON.stringify({
  id: FLOW, label: 'batched records test', format: 'urn:x-nmos:format:data', media_type: 'video/smpte291',
  tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['test:data'] }, grain_rate: RATE,
});

const dirs: string[] = [];
const domain = () => { const d = fs.mkdtempSync(path.join('/dev/shm', 'mxlf-test-')); dirs.push(d); return d; };
test.after.always(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A source flow, a tcp target and a following initiator, connected. */
async function connectedPair() {
  const src = new MxlInstance(domain());
  const writer = src.createFlowWriter(flowDef) as DiscreteFlowWriter;
  const fx = new Fabrics();
  try {
    const target = await fx.createTarget({ provider: 'tcp', node: '127.0.0.1', domain: domain(), flowDef });
    const initiator = await fx.createInitiator({ provider: 'tcp', domain: src.domain, flowId: FLOW, follow: true });
    const connected = new Promise((r) => initiator.once('connected', r));
    await initiator.addTarget(target.info);
    await connected;
    return { src, writer, fx, target, initiator };
  } catch (e) {
    await fx.close();
    writer.close();
    src.close();
    throw e;
  }
}

/** Commits grains first .. first+n-1 of the source, 20 ms apart. */
async function writeGrains(writer: DiscreteFlowWriter, first: bigint, n: number): Promise<void> {
  for (let k = 0; k < n; k++) {
    writer.openGrain(first + BigInt(k));
    writer.commitGrain({});
    await sleep(20);
  }
}

/** Gaps between consecutive yields: batches show as runs of ~0 ms gaps between long ones. */
function wakeUps(times: number[]): number {
  let n = times.length > 0 ? 1 : 0;
  for (let i = 1; i < times.length; i++) if (times[i] - times[i - 1] > 2) n++;
  return n;
}

test.serial('tcp: grains({ batchMs }) and completions({ batchMs }) deliver every record in order, a batch per wake-up', async (t) => {
  const { src, writer, fx, target, initiator } = await connectedPair();
  try {

    t.throws(() => target.grains({ batchMs: 5000 }), { instanceOf: FabricsError, message: /batchMs must be 0 or 1\.\.1000/ });
    t.throws(() => initiator.completions({ batchMs: -1 }), { instanceOf: FabricsError });

    const N = 30;
    const first = currentIndex(RATE);
    const arrivals: { index: bigint; at: number }[] = [];
    const completedAt: number[] = [];
    const completions: bigint[] = [];
    const consume = (async () => {
      for await (const g of target.grains({ batchMs: 150 })) {
        arrivals.push({ index: g.index, at: performance.now() });
        if (arrivals.length === N) return;
      }
    })();
    // The initiator's side: its completions, batched the same way.
    const completed = (async () => {
      for await (const c of initiator.completions({ batchMs: 150 })) {
        completions.push(c.index);
        completedAt.push(performance.now());
        if (completions.length === N) return;
      }
    })();
    await writeGrains(writer, first, N);
    await Promise.race([Promise.all([consume, completed]), sleep(10_000).then(() => { throw new Error('records did not all arrive'); })]);
    const want = Array.from({ length: N }, (_, i) => first + BigInt(i));
    t.deepEqual(arrivals.map((a) => a.index), want, 'every grain, in order');
    t.deepEqual(completions, want, 'every completion, in order');
    // 30 grains 20 ms apart take ~600 ms: about 4-6 batches of 150 ms, never one wake per grain.
    const wakes = wakeUps(arrivals.map((a) => a.at));
    t.true(wakes <= 10, `grains came in ${wakes} wake-ups`);
    t.true(wakeUps(completedAt) <= 10, 'completions came in batches too');
  } finally {
    await fx.close();
    writer.close();
    src.close();
  }
});

test.serial('tcp: grains() without batchMs wakes per grain (the default is immediate)', async (t) => {
  const { src, writer, fx, target, initiator } = await connectedPair();
  try {
    const N = 20;
    const at: number[] = [];
    const consume = (async () => {
      for await (const _g of target.grains()) {
        at.push(performance.now());
        if (at.length === N) return;
      }
    })();
    const first = currentIndex(RATE);
    await writeGrains(writer, first, N);
    await Promise.race([consume, sleep(10_000).then(() => { throw new Error('grains did not all arrive'); })]);
    t.true(wakeUps(at) >= N / 2, `immediate records: ${wakeUps(at)} wake-ups for ${N} grains`);
  } finally {
    await fx.close();
    writer.close();
    src.close();
  }
});
