// The worker runtime end to end: real workers, real libfabric on loopback, real flows.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Fabrics } from '../../src/runtime/coordinator.js';
import { MxlInstance, currentIndex, type DiscreteFlowWriter } from '../../src/domain/index.js';
import { FabricsError } from '../../src/errors.js';

const FLOW = '5fbec3b1-1b0f-417d-9059-8b94a47197ed';
const RATE = { numerator: 50, denominator: 1 };
const flowDef = JSON.stringify({
  id: FLOW, label: 'runtime test', format: 'urn:x-nmos:format:video', media_type: 'video/v210',
  tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['test:video'] }, grain_rate: RATE,
  frame_width: 1920, frame_height: 1080, interlace_mode: 'progressive',
});

const dirs: string[] = [];
const domain = () => { const d = fs.mkdtempSync(path.join('/dev/shm', 'mxlf-test-')); dirs.push(d); return d; };
/** A receiving domain with 1 s of history (50 slots at 50 fps), so a busy test runner never laps its reader. */
const roomyDomain = () => {
  const d = domain();
  fs.writeFileSync(path.join(d, 'options.json'), JSON.stringify({ 'urn:x-mxl:option:history_duration/v1.0': 1_000_000_000 }));
  return d;
};
test.after.always(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

function paint(payload: Uint8Array, index: bigint): string {
  const u32 = new Uint32Array(payload.buffer, payload.byteOffset, payload.byteLength >>> 2);
  const seed = Number(index % 1000003n);
  for (let i = 0; i < u32.length; i += 512) u32[i] = (seed * 2654435761 + i) >>> 0;
  return createHash('sha1').update(payload).digest('hex');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(5);
  }
}

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: grains arrive through the runtime, checksums match`, async (t) => {
    const src = new MxlInstance(roomyDomain());
    const dstDir = roomyDomain();
    const writer = src.createFlowWriter(flowDef) as DiscreteFlowWriter;
    const fx = new Fabrics();
    try {
      const target = await fx.createTarget({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, domain: dstDir, flowDef });
      const initiator = await fx.createInitiator({ provider, domain: src.domain, flowId: FLOW, follow: true });
      const overruns: string[] = [];
      initiator.on('peerError', (e: { reason?: string }) => { if (e.reason) overruns.push(e.reason); });
      const connected = new Promise((r) => initiator.once('connected', r));
      await initiator.addTarget(target.info);
      await connected;
      const dst = new MxlInstance(dstDir);
      const reader = dst.openDiscreteFlowReader(FLOW);
      const sums = new Map<bigint, string>();
      const N = 60n;
      const first = currentIndex(RATE);
      const seen: bigint[] = [];
      let bad = 0;
      const late: string[] = [];
      const consume = (async () => {
        for await (const g of target.grains()) {
          const r = reader.getGrainSync(g.index);
          const sum = r.status === 'OK' ? createHash('sha1').update(r.payload!).digest('hex') : '';
          // Still the same grain after hashing? Otherwise the ring lapped us mid-read.
          if (r.status !== 'OK' || reader.getGrainSync(g.index).status !== 'OK') late.push(`${g.index - first}:${r.status}`);
          else if (sum !== sums.get(g.index)) { bad++; t.log(`bad grain ${g.index - first}, slot ${g.slot}`); }
          t.true(g.committed);
          t.is(g.validSlices, 1080);
          seen.push(g.index);
          if (seen.length === Number(N)) return;
        }
      })();
      for (let k = 0n; k < N; k++) {
        const g = writer.openGrain(first + k);
        sums.set(first + k, paint(g.payload, first + k));
        writer.commitGrain({});
        // Paced by arrival, not by a timer: stay within 5 grains of the consumer so the
        // 10-grain ring never laps a grain before it has been read.
        await until(() => seen.length > Number(k) - 5, 10_000, `grain ${k} - 5 to arrive`);
      }
      await Promise.race([consume, sleep(15_000).then(() => { throw new Error('grains did not all arrive'); })]);
      t.deepEqual(seen, Array.from({ length: Number(N) }, (_, i) => first + BigInt(i)), 'every grain, in order');
      if (bad > 0) t.log(`initiator reported: ${overruns.join('; ') || 'nothing'}`);
      t.is(bad, 0, 'every payload checksum matches');
      t.deepEqual(late, [], 'the reader got every grain before the ring wrapped');
      t.is(target.overflow, 0);
      await initiator.flush();
      reader.close();
      dst.close();
    } finally {
      await fx.close();
      writer.close();
      src.close();
    }
  });
}

test.serial('tcp, maxInitiators 2: both initiators connect; the one that sends nothing is reported idle (event and status), the other is not', async (t) => {
  const src = new MxlInstance(domain());
  const writer = src.createFlowWriter(flowDef) as DiscreteFlowWriter;
  const fx = new Fabrics();
  try {
    const target = await fx.createTarget({ provider: 'tcp', node: '127.0.0.1', domain: domain(), flowDef, maxInitiators: 2, idleMs: 1000 });
    const events: string[] = [];
    for (const type of ['connected', 'idle', 'active', 'peerError']) target.on(type, (e: { connection?: number; message?: string }) => events.push(`${type} ${e?.connection ?? e?.message}`));
    const sender = await fx.createInitiator({ provider: 'tcp', domain: src.domain, flowId: FLOW, follow: true });
    await sender.addTarget(target.info);
    await until(() => events.includes('connected 1'), 5000, 'sender connected');
    // The source writes from here on (a grain every 20 ms): connection 1 is never idle.
    let writing = true;
    const source = (async () => { let index = currentIndex(RATE); while (writing) { writer.openGrain(index++); writer.commitGrain({}); await sleep(20); } })();
    const silent = await fx.createInitiator({ provider: 'tcp', domain: src.domain, flowId: FLOW, follow: false });
    await silent.addTarget(target.info);
    await until(() => events.includes('connected 2'), 5000, `silent connected (${events.join(', ')})`);
    await until(() => events.includes('idle 2'), 4000, `connection 2 idle (${events.join(', ')})`);
    await sleep(500);
    writing = false;
    await source;
    t.false(events.includes('idle 1'), `the sending connection is never idle: ${events.join(', ')}`);
    const st = await target.status() as { connections: number; peers: { connection: string; idle: boolean; landed: number }[] };
    t.is(st.connections, 2);
    const by = new Map(st.peers.map((p) => [p.connection, p]));
    t.false(by.get('1')!.idle);
    t.true(by.get('1')!.landed > 10, `grains counted on connection 1 (${by.get('1')!.landed})`);
    t.true(by.get('2')!.idle);
    t.is(by.get('2')!.landed, 0);
  } finally {
    await fx.close();
    writer.close();
    src.close();
  }
});

test.serial('close() while transfers are in flight frees the workers, the port and the handles', async (t) => {
  const src = new MxlInstance(domain());
  const dstDir = domain();
  const writer = src.createFlowWriter(flowDef) as DiscreteFlowWriter;
  const port = String(20000 + (process.pid % 20000));
  const handlesBefore = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
  const fx = new Fabrics();
  const target = await fx.createTarget({ provider: 'tcp', node: '127.0.0.1', service: port, domain: dstDir, flowDef, pollMode: 'busy' });
  const initiator = await fx.createInitiator({ provider: 'tcp', domain: src.domain, flowId: FLOW, follow: true, pollMode: 'busy' });
  await initiator.addTarget(target.info);
  await until(() => target.listenerCount('x') === 0, 10, 'noop');
  const first = currentIndex(RATE);
  for (let k = 0n; k < 20n; k++) { writer.openGrain(first + k); writer.commitGrain({}); }
  const closing = fx.close(); // with grains still flowing
  await t.notThrowsAsync(closing);
  t.is(target.state, 'closed');
  t.is(initiator.state, 'closed');
  // The port is free again: a new target can listen on it.
  const fx2 = new Fabrics();
  const again = await fx2.createTarget({ provider: 'tcp', node: '127.0.0.1', service: port, domain: domain(), flowDef });
  t.truthy(again.info);
  await fx2.close();
  const handles = (): number => (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
  // Closed handles leave the list once libuv has run their close callbacks: wait for that.
  await until(() => handles() <= handlesBefore, 2000, `active handles back to ${handlesBefore} (now ${handles()})`);
  t.true(handles() <= handlesBefore);
  writer.close();
  src.close();
});

test.serial('a worker killed on purpose is reported and can be restarted', async (t) => {
  const fx = new Fabrics();
  try {
    const target = await fx.createTarget({ provider: 'tcp', node: '127.0.0.1', domain: domain(), flowDef });
    const firstInfo = target.info;
    const failed = new Promise<FabricsError>((r) => target.once('error', r));
    await target.kill();
    const err = await failed;
    t.true(err instanceof FabricsError);
    t.is(err.code, 'MXL_ERR_INTERNAL');
    t.is(target.state, 'failed');
    await t.throwsAsync(target.status(), { instanceOf: FabricsError });
    await target.restart();
    t.is(target.state, 'ready');
    t.is(target.starts, 2);
    t.not(target.info, firstInfo, 'a restarted target publishes a new TargetInfo');
    const status = (await target.status()) as { counters: Record<string, number>; connections: number; spinWindowNs: number };
    t.like(status, { connections: 0, counters: { grains: 0, connects: 0, completionErrors: 0 } }, 'a fresh worker: nothing yet');
    t.true(status.spinWindowNs > 0, 'the idle policy of the new worker reports its window');
  } finally {
    await fx.close();
  }
});

test.serial('a setup failure in the worker arrives as a typed error with the caller stack', async (t) => {
  const fx = new Fabrics();
  try {
    const e = await t.throwsAsync(fx.createTarget({ provider: 'tcp', node: '203.0.113.9', domain: domain(), flowDef }), { instanceOf: FabricsError });
    t.is(e?.code, 'MXL_ERR_NO_FABRIC');
    t.regex(e!.stack ?? '', /called from/);
    const bad = await t.throwsAsync(fx.createTarget({ provider: 'tcp', node: '127.0.0.1', domain: domain(), flowDef: '{"id":"x"}' }), { instanceOf: FabricsError });
    t.is(bad?.code, 'MXL_ERR_INVALID_ARG');
  } finally {
    await fx.close();
  }
});

test.serial('the main event loop stays responsive while a busy worker polls', async (t) => {
  const fx = new Fabrics();
  try {
    await fx.createTarget({ provider: 'tcp', node: '127.0.0.1', domain: domain(), flowDef, pollMode: 'busy' });
    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    await sleep(1000);
    h.disable();
    const p99ms = h.percentile(99) / 1e6;
    t.log(`event loop delay p50 ${(h.percentile(50) / 1e6).toFixed(1)} ms, p99 ${p99ms.toFixed(1)} ms`);
    // Resolution 5 ms timers; a blocked loop would show hundreds of ms.
    t.true(p99ms < 60, `p99 event loop delay ${p99ms} ms`);
  } finally {
    await fx.close();
  }
});

test.serial('metrics: a real scrape of a running runtime counts the grains both endpoints moved', async (t) => {
  const src = new MxlInstance(roomyDomain());
  const writer = src.createFlowWriter(flowDef) as DiscreteFlowWriter;
  const fx = new Fabrics({ metrics: true });
  try {
    const target = await fx.createTarget({ name: 'cam-rx', provider: 'tcp', node: '127.0.0.1', domain: roomyDomain(), flowDef });
    const initiator = await fx.createInitiator({ name: 'cam-tx', provider: 'tcp', domain: src.domain, flowId: FLOW, follow: true });
    const connected = new Promise((r) => initiator.once('connected', r));
    await initiator.addTarget(target.info);
    await connected;
    const server = await fx.serveMetrics('127.0.0.1', 0);
    let n = 0;
    const arrived = (async () => { for await (const _ of target.grains()) if (++n === 10) return; })();
    const first = currentIndex(RATE);
    for (let k = 0n; k < 10n; k++) { writer.openGrain(first + k); writer.commitGrain({}); await sleep(20); }
    await arrived;
    await initiator.flush();
    const text = await (await fetch(server.url)).text();
    const value = (role: string, endpoint: string) =>
      Number(new RegExp(`^mxl_fabrics_grains_total\\{role="${role}",endpoint="${endpoint}",provider="tcp",kind="video"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    t.is(value('target', 'cam-rx'), 10, text.split('\n').filter((l) => l.startsWith('mxl_fabrics_grains_total')).join('\n'));
    t.is(value('initiator', 'cam-tx'), 10);
    t.regex(text, /^mxl_fabrics_peers_connected\{role="initiator",endpoint="cam-tx".*\} 1$/m);
    t.regex(text, /^mxl_fabrics_grain_latency_seconds_bucket\{.*role="initiator".*\} \d+$/m);
  } finally {
    await fx.close();
    writer.close();
    src.close();
  }
});
