// Fan-out through real libfabric on loopback: one initiator (a flow writer + reader in this
// process) sends to three targets, each in its own process with its own domain, each
// reading every grain back through a flow reader and reporting its checksum. Then: a target
// removed mid-stream, a target killed with SIGKILL mid-stream, and two initiators feeding
// one target.
import test from 'ava';
import { MxlInstance, currentIndex, type DiscreteFlowWriter, type DiscreteFlowReader } from '../../src/domain/index.js';
import { Initiator, type InitiatorEvent } from '../../src/fabrics/initiator.js';
import { Target } from '../../src/fabrics/target.js';
import type { FabricsError } from '../../src/errors.js';
import { TargetInfo } from '../../src/fabrics/target-info.js';
import { ringFromReader, ringFromWriter } from '../../src/fabrics/flow-rings.js';
import { FLOW_ID, flowDef, pattern, sha1 } from './fixtures/common.js';
import { cleanupAll, pollUntil, spawnTarget, stopProc, tempDomain, type TargetProc } from './fixtures/procs.js';

const W = 1280, H = 720;
const RATE = { numerator: 50, denominator: 1 };

test.after.always(cleanupAll);

/** Writes grain `index` at `s`, sends it and waits for it at `target`: what was posted, what landed, the sums. */
function sendOne(s: Source, target: Target, tr: DiscreteFlowReader, index: bigint, seed: number) {
  const g = s.writer.openGrain(index);
  const sum = pattern(g.payload, index, seed);
  s.writer.commitGrain();
  const posted = s.initiator.transferGrain(index);
  let landed = null;
  const end = Date.now() + 5000;
  while (!landed && Date.now() < end) { s.initiator.makeProgress(); landed = target.readGrain(); }
  const r = tr.getGrainSync(index);
  return { posted, landed: landed?.index, sum, sha1: r.status === 'OK' ? sha1(r.payload!) : r.status };
}

interface Source { inst: MxlInstance; writer: DiscreteFlowWriter; reader: DiscreteFlowReader; initiator: Initiator; events: InitiatorEvent[]; close(): void }

function source(provider: 'tcp' | 'shm', width = W, height = H, flowId = FLOW_ID): Source {
  const inst = new MxlInstance(tempDomain());
  const writer = inst.createFlowWriter(flowDef(flowId, width, height)) as DiscreteFlowWriter;
  const reader = inst.openDiscreteFlowReader(flowId);
  const initiator = new Initiator({ provider, ring: ringFromReader(reader), reconnectDelayMs: 200, stallTimeoutMs: 1500 });
  const events: InitiatorEvent[] = [];
  // Connection-state events only: per-grain and counting events (completed, sessionStarted, ...) are not what these tests judge.
  initiator.onEvent = (e) => { if (e.type === 'connected' || e.type === 'disconnected' || e.type === 'error') events.push(e); };
  let closed = false;
  return {
    inst, writer, reader, initiator, events,
    close() { if (closed) return; closed = true; initiator.close(); reader.close(); writer.close(); inst.close(); },
  };
}

async function startTargets(provider: 'tcp' | 'shm', n: number): Promise<{ procs: TargetProc[]; infos: TargetInfo[] }> {
  const procs = Array.from({ length: n }, () => spawnTarget({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, width: W, height: H, maxLifetimeMs: 90_000 }));
  const infos = (await Promise.all(procs.map((p) => p.info))).map((s) => TargetInfo.parse(s));
  return { procs, infos };
}

async function connectAll(src: Source, n: number): Promise<void> {
  await pollUntil(() => src.initiator.targets.filter((p) => p.state === 'connected').length === n, () => src.initiator.makeProgress(2), 10_000, `${n} targets connected`);
}

/**
 * Sends grains first..first+count-1 one by one; after each, waits until every process in
 * `live()` has reported it. `before(k)` runs before grain k is written.
 */
async function stream(src: Source, first: bigint, count: number, live: () => TargetProc[], before?: (k: number) => void | Promise<void>): Promise<Map<bigint, string>> {
  const sums = new Map<bigint, string>();
  for (let k = 0; k < count; k++) {
    await before?.(k);
    const index = first + BigInt(k);
    const g = src.writer.openGrain(index);
    sums.set(index, pattern(g.payload, index));
    src.writer.commitGrain();
    src.initiator.transferGrain(index);
    await pollUntil(() => live().every((p) => p.grains.has(index)), () => src.initiator.makeProgress(2), 10_000, `grain ${index} at every live target`);
  }
  return sums;
}

function checkAll(t: import('ava').ExecutionContext, p: TargetProc, sums: Map<bigint, string>, from: bigint, what: string): void {
  let bad = 0;
  for (const [index, sum] of sums) {
    if (index < from) continue;
    if (p.grains.get(index) !== `${sum} ${H}`) bad++;
  }
  t.is(bad, 0, `${what}: every grain from ${from} arrived intact`);
}

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: three targets in three processes receive every grain`, async (t) => {
    t.timeout(60_000);
    const src = source(provider);
    const { procs, infos } = await startTargets(provider, 3);
    try {
      for (const info of infos) src.initiator.addTarget(info);
      await connectAll(src, 3);
      const first = currentIndex(RATE);
      const sums = await stream(src, first, 40, () => procs);
      procs.forEach((p, i) => checkAll(t, p, sums, first, `target ${i}`));
      t.true(src.initiator.makeProgress(2000), 'initiator idle at the end');
      for (const s of src.initiator.targets) {
        t.is(s.state, 'connected');
        t.is(s.grains, 40);
        t.is(s.skipped, 0);
        t.is(s.errors, 0);
      }
      t.deepEqual(src.events.map((e) => e.type), ['connected', 'connected', 'connected']);
    } finally {
      src.close();
      await Promise.all(procs.map((p) => stopProc(p)));
    }
  });

  test.serial(`${provider}: a target removed mid-stream stops receiving, the other two get everything`, async (t) => {
    t.timeout(60_000);
    const src = source(provider);
    const { procs, infos } = await startTargets(provider, 3);
    try {
      for (const info of infos) src.initiator.addTarget(info);
      await connectAll(src, 3);
      const first = currentIndex(RATE);
      let removed = false;
      const sums = await stream(src, first, 40, () => (removed ? procs.slice(0, 2) : procs), (k) => {
        if (k === 15) { src.initiator.removeTarget(infos[2]); removed = true; }
      });
      checkAll(t, procs[0], sums, first, 'target 0');
      checkAll(t, procs[1], sums, first, 'target 1');
      const got = [...procs[2].grains.keys()];
      t.deepEqual(got, [...sums.keys()].slice(0, 15), 'the removed target got exactly the grains before its removal');
      t.true(src.initiator.makeProgress(2000));
      t.deepEqual(src.initiator.targets.map((s) => s.id), [infos[0].id, infos[1].id]);
      const ev = src.events.filter((e) => e.type !== 'connected');
      t.deepEqual(ev.map((e) => [e.type, e.target]), [['disconnected', infos[2].id]]);
      t.throws(() => src.initiator.removeTarget(infos[2]), { message: /was not added/ });
      if (provider === 'tcp') {
        await pollUntil(() => procs[2].events.includes('disconnected'), () => undefined, 5000, 'the removed target to see the disconnect');
        t.pass();
      }
    } finally {
      src.close();
      await Promise.all(procs.map((p) => stopProc(p)));
    }
  });

  // shm: libfabric 1.17's shm completes an endpoint's writes in order, so the initiator
  // keeps one RDM endpoint per target; a killed peer then cannot hold back the others.
  test.serial(`${provider}: a target killed with SIGKILL mid-stream is reported on that target only`, async (t) => {
    t.timeout(60_000);
    const src = source(provider);
    const { procs, infos } = await startTargets(provider, 3);
    try {
      for (const info of infos) src.initiator.addTarget(info);
      await connectAll(src, 3);
      const first = currentIndex(RATE);
      let killed = false;
      const t0 = Date.now();
      const sums = await stream(src, first, 60, () => (killed ? procs.slice(0, 2) : procs), async (k) => {
        if (k === 15) {
          const gone = new Promise((r) => procs[2].proc.once('exit', r));
          procs[2].proc.kill('SIGKILL');
          await gone;
          killed = true;
        }
      });
      t.log(`60 grains with a kill: ${Date.now() - t0} ms`);
      checkAll(t, procs[0], sums, first, 'target 0');
      checkAll(t, procs[1], sums, first, 'target 1');
      // The dead target is reported, on that target only, and nothing hangs.
      await pollUntil(() => src.events.some((e) => e.type !== 'connected' && e.target === infos[2].id), () => src.initiator.makeProgress(5), 15_000, 'a report on the killed target');
      // The last grain has landed at the live targets; its completion at the initiator may
      // still be unread: drive it until their writes are all accounted for.
      const settled = (): boolean => src.initiator.targets.filter((s) => s.id !== infos[2].id).every((s) => s.grains + s.skipped + s.errors >= 60);
      await pollUntil(settled, () => src.initiator.makeProgress(5), 5_000, 'the live targets\' completions');
      const st = new Map(src.initiator.targets.map((s) => [s.id, s]));
      for (const i of [0, 1]) {
        const s = st.get(infos[i].id)!;
        t.is(s.state, 'connected', `target ${i} still connected`);
        t.is(s.errors, 0);
        t.is(s.skipped, 0);
        t.is(s.grains, 60);
      }
      const dead = st.get(infos[2].id)!;
      t.log('killed target:', dead.state, dead.lastError, `errors ${dead.errors} skipped ${dead.skipped}`);
      t.true(dead.errors > 0, 'the killed target has an error');
      t.truthy(dead.lastError);
      t.true(src.events.filter((e) => e.type !== 'connected').every((e) => e.target === infos[2].id), 'no event for the live targets');
      // makeProgress keeps returning; removing the dead target and closing work.
      const tp = Date.now();
      for (let i = 0; i < 20; i++) src.initiator.makeProgress(10);
      t.true(Date.now() - tp < 5000);
      src.initiator.removeTarget(infos[2]);
      t.true(src.initiator.makeProgress(2000), 'idle once the dead target is removed');
    } finally {
      src.close();
      await Promise.all(procs.map((p) => stopProc(p)));
    }
  });
}

test.serial('tcp: a second initiator is refused by default, on both sides with a clear error, and takes over once the first leaves', async (t) => {
  t.timeout(30_000);
  const dst = new MxlInstance(tempDomain());
  const tw = dst.createFlowWriter(flowDef(FLOW_ID, W, H)) as DiscreteFlowWriter;
  const tr = dst.openDiscreteFlowReader(FLOW_ID);
  const target = new Target({ provider: 'tcp', node: '127.0.0.1', ring: ringFromWriter(tw) });
  const a = source('tcp');
  const b = source('tcp', W, H, 'a9d3e0f2-6c1b-4f57-8a0e-1d2c3b4a5f60');
  try {
    a.initiator.addTarget(target.info);
    await pollUntil(() => a.initiator.targets[0].state === 'connected' && target.connections === 1,
      () => { target.poll(); a.initiator.makeProgress(); }, 10_000, 'A connected');
    b.initiator.addTarget(TargetInfo.parse(target.info.toString()));
    const bErrors: string[] = [];
    await pollUntil(() => bErrors.length > 0, () => {
      target.poll(); a.initiator.makeProgress(); b.initiator.makeProgress();
      for (const e of b.initiator.takeEvents()) if (e.type === 'error') bErrors.push(e.error.message);
    }, 10_000, 'B refused');
    t.regex(bErrors[0], /refused the connection.*already has its initiator.*maxInitiators/);
    t.is(b.initiator.targets[0].state, 'backoff');
    const refused = target.takeEvents().filter((e) => e.type === 'error');
    t.true(refused.length >= 1);
    const err = (refused[0] as { error: FabricsError }).error;
    t.is(err.code, 'MXL_ERR_EXISTS');
    t.regex(err.message, /takes 1 initiator at a time \(maxInitiators\)/);
    t.true(target.counters.refused >= 1);
    t.is(target.connections, 1);
    t.is(target.counters.connects, 1);
    // A leaves: B's retries get in.
    a.close();
    await pollUntil(() => b.initiator.targets[0].state === 'connected' && target.connections === 1,
      () => { target.poll(); b.initiator.makeProgress(5); }, 10_000, 'B connected after A left');
    const index = currentIndex(RATE);
    const r = sendOne(b, target, tr, index, 1);
    t.deepEqual(r.posted, { posted: 1, skipped: 0 });
    t.is(r.landed, index);
    t.is(r.sha1, r.sum);
  } finally {
    a.close(); b.close();
    target.close(); tr.close(); tw.close(); dst.close();
  }
});

test.serial('tcp: two initiators feed one target with maxInitiators 2 (redundant senders); both connect and grains from both land', async (t) => {
  t.timeout(30_000);
  const dst = new MxlInstance(tempDomain());
  const tw = dst.createFlowWriter(flowDef(FLOW_ID, W, H)) as DiscreteFlowWriter;
  const tr = dst.openDiscreteFlowReader(FLOW_ID);
  const target = new Target({ provider: 'tcp', node: '127.0.0.1', ring: ringFromWriter(tw), maxInitiators: 2 });
  const a = source('tcp');
  const b = source('tcp', W, H, 'a9d3e0f2-6c1b-4f57-8a0e-1d2c3b4a5f60');
  try {
    a.initiator.addTarget(target.info);
    b.initiator.addTarget(TargetInfo.parse(target.info.toString()));
    await pollUntil(() => [a, b].every((s) => s.initiator.targets[0].state === 'connected') && target.connections === 2,
      () => { target.poll(); a.initiator.makeProgress(); b.initiator.makeProgress(); }, 10_000, 'both initiators connected');
    t.is(target.counters.connects, 2);
    t.deepEqual(target.takeEvents().map((e) => e.type), ['connected', 'connected']);
    const first = currentIndex(RATE);
    let ok = 0;
    for (let k = 0; k < 30; k++) {
      const s = k % 2 === 0 ? a : b;
      const index = first + BigInt(k);
      const g = s.writer.openGrain(index);
      const sum = pattern(g.payload, index, k % 2);
      s.writer.commitGrain();
      t.deepEqual(s.initiator.transferGrain(index), { posted: 1, skipped: 0 });
      let landed = null;
      const end = Date.now() + 5000;
      while (!landed && Date.now() < end) { s.initiator.makeProgress(); landed = target.readGrain(); }
      const r = tr.getGrainSync(index);
      if (landed?.index === index && r.status === 'OK' && sha1(r.payload!) === sum) ok++;
      else t.fail(`grain ${index} from initiator ${k % 2 === 0 ? 'A' : 'B'}: landed ${landed?.index} ${r.status}`);
    }
    t.is(ok, 30);
    t.true(a.initiator.makeProgress(2000) && b.initiator.makeProgress(2000), 'both initiators idle');
    t.is(target.counters.grains, 30);
    t.is(target.counters.dropped, 0);
    t.is(a.initiator.targets[0].grains, 15);
    t.is(b.initiator.targets[0].grains, 15);
    // One initiator leaving does not disturb the other.
    a.close();
    await pollUntil(() => target.takeEvents().some((e) => e.type === 'disconnected'), () => target.poll(), 5000, 'disconnect of A');
    const index = first + 30n;
    const r = sendOne(b, target, tr, index, 1);
    t.deepEqual(r.posted, { posted: 1, skipped: 0 });
    t.is(r.landed, index);
    t.is(r.sha1, r.sum);
  } finally {
    a.close(); b.close();
    target.close(); tr.close(); tw.close(); dst.close();
  }
});

