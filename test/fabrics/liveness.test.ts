// Truthful liveness: an initiator shows a target as connected only once it answered, learns
// within a bounded time that an RDM target is gone even while nothing moves, and gives up
// on a connect attempt that nothing answers (grain and audio targets). A target shows an
// initiator that stopped as idle, per connection.
import test from 'ava';
import net from 'node:net';
import { MxlInstance, currentIndex, type ContinuousFlowWriter, type DiscreteFlowWriter } from '../../src/domain/index.js';
import { Initiator, type InitiatorEvent } from '../../src/fabrics/initiator.js';
import { Target } from '../../src/fabrics/target.js';
import { TargetInfo } from '../../src/fabrics/target-info.js';
import { ringFromReader, ringFromWriter } from '../../src/fabrics/flow-rings.js';
import { samplesFromReader } from '../../src/fabrics/sample-ring.js';
import { AUDIO_FLOW_ID, FLOW_ID, audioFlowDef, flowDef, pattern } from './fixtures/common.js';
import { cleanupAll, pollUntil, spawnTarget, stopProc, tempDomain } from './fixtures/procs.js';

test.after.always(cleanupAll);

const W = 640, H = 360;
const RATE = { numerator: 50, denominator: 1 };

function source(provider: 'tcp' | 'shm', opts: Partial<ConstructorParameters<typeof Initiator>[0]> = {}) {
  const inst = new MxlInstance(tempDomain());
  const writer = inst.createFlowWriter(flowDef(FLOW_ID, W, H)) as DiscreteFlowWriter;
  const reader = inst.openDiscreteFlowReader(FLOW_ID);
  const initiator = new Initiator({ provider, ring: ringFromReader(reader), reconnectDelayMs: 200, ...opts });
  const events: InitiatorEvent[] = [];
  initiator.onEvent = (e) => { if (e.type !== 'completed') events.push(e); };
  return { inst, writer, reader, initiator, events, close() { initiator.close(); reader.close(); writer.close(); inst.close(); } };
}

test.serial('shm: a target killed while nothing moves is shown down within probeIntervalMs + stallTimeoutMs, never connected while gone', async (t) => {
  t.timeout(30_000);
  const p = spawnTarget({ provider: 'shm', width: W, height: H });
  const s = source('shm');
  try {
    s.initiator.addTarget(TargetInfo.parse(await p.info));
    t.is(s.initiator.targets[0].state, 'connecting', 'not connected before the target answered');
    await pollUntil(() => s.initiator.targets[0].state === 'connected', () => s.initiator.makeProgress(5), 5000, 'connected');
    // Idle, alive: it stays connected over several probe intervals.
    const until = Date.now() + 1000;
    while (Date.now() < until) s.initiator.makeProgress(5);
    t.is(s.initiator.targets[0].state, 'connected');
    p.proc.kill('SIGKILL');
    const killed = Date.now();
    await pollUntil(() => s.initiator.targets[0].state !== 'connected', () => s.initiator.makeProgress(5), 10_000, 'down');
    const ms = Date.now() - killed;
    t.log(`shm target killed: shown ${s.initiator.targets[0].state} after ${ms} ms (${s.initiator.targets[0].lastError})`);
    t.is(s.initiator.targets[0].state, 'down');
    t.true(ms <= 250 + 1750 + 500, `found within the bound (${ms} ms)`);
    t.true(s.events.some((e) => e.type === 'disconnected'));
    // Retries open a new endpoint, but a gone target never answers: never 'connected' again.
    const later = Date.now() + 3000;
    while (Date.now() < later) {
      s.initiator.makeProgress(5);
      t.not(s.initiator.targets[0].state, 'connected');
    }
  } finally { s.close(); await stopProc(p); }
});

test.serial('tcp: a port that accepts connections but is no fabric endpoint fails the connect after connectTimeoutMs with a clear error', async (t) => {
  t.timeout(20_000);
  const server = net.createServer((sock) => { sock.on('error', () => undefined); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const addr = Buffer.alloc(16);
  addr.writeUInt16LE(2, 0); addr.writeUInt16BE(port, 2); addr[4] = 127; addr[7] = 1;
  const s = source('tcp', { connectTimeoutMs: 1000 });
  try {
    const len = BigInt(s.reader.geometry.grainSize + 8192);
    const info = new TargetInfo(42n, 'tcp', 2, addr, [{ addr: 0n, len, rkey: 1n }]);
    const t0 = Date.now();
    s.initiator.addTarget(info);
    await pollUntil(() => s.events.some((e) => e.type === 'error'), () => s.initiator.makeProgress(5), 10_000, 'connect error');
    const ms = Date.now() - t0;
    const e = s.events.find((x) => x.type === 'error') as Extract<InitiatorEvent, { type: 'error' }>;
    t.log(`failed after ${ms} ms: ${e.error.message}`);
    t.regex(e.error.message, /no answer from fi_sockaddr_in:\/\/127\.0\.0\.1:\d+ within 1000 ms \(connectTimeoutMs\)/);
    t.is(e.error.code, 'MXL_ERR_NOT_READY');
    t.true(ms < 3000, `bounded (${ms} ms)`);
    t.is(s.initiator.targets[0].state, 'backoff');
    t.false(s.events.some((x) => x.type === 'connected'), 'never shown connected');
  } finally { s.close(); server.close(); }
});

test.serial('tcp: the target shows an initiator that stopped sending as idle', async (t) => {
  const dst = new MxlInstance(tempDomain());
  const tw = dst.createFlowWriter(flowDef(FLOW_ID, W, H)) as DiscreteFlowWriter;
  const target = new Target({ provider: 'tcp', node: '127.0.0.1', ring: ringFromWriter(tw) });
  const s = source('tcp');
  try {
    t.true(target.idle(), 'idle before anything arrived');
    s.initiator.addTarget(target.info);
    await pollUntil(() => s.initiator.targets[0].state === 'connected', () => { target.poll(); s.initiator.makeProgress(); }, 5000, 'connected');
    const index = currentIndex(RATE);
    const g = s.writer.openGrain(index);
    pattern(g.payload, index);
    s.writer.commitGrain();
    s.initiator.transferGrain(index);
    await pollUntil(() => target.counters.grains === 1, () => { target.poll(); s.initiator.makeProgress(1); }, 5000, 'grain landed');
    t.false(target.idle(300), 'active right after a grain');
    const stopped = Date.now();
    await pollUntil(() => target.idle(300), () => { target.poll(); s.initiator.makeProgress(1); }, 5000, 'idle');
    t.true(Date.now() - stopped >= 290, 'idle only after the idle time');
    t.is(target.connections, 1, 'still connected: idle is not gone');
  } finally { s.close(); target.close(); tw.close(); dst.close(); }
});

test.serial('tcp: with two initiators, the target tracks idleness per connection (idle and active events, connectionStatus)', async (t) => {
  const dst = new MxlInstance(tempDomain());
  const tw = dst.createFlowWriter(flowDef(FLOW_ID, W, H)) as DiscreteFlowWriter;
  const target = new Target({ provider: 'tcp', node: '127.0.0.1', ring: ringFromWriter(tw), maxInitiators: 2, idleMs: 600 });
  const a = source('tcp');
  const b = source('tcp');
  const events: string[] = [];
  const step = () => { target.poll(); for (const e of target.takeEvents()) events.push(`${e.type}${'connection' in e ? ` ${e.connection}` : ''}`); a.initiator.makeProgress(1); b.initiator.makeProgress(1); };
  const send = (s: typeof a, index: bigint) => { const g = s.writer.openGrain(index); pattern(g.payload, index); s.writer.commitGrain(); s.initiator.transferGrain(index); };
  try {
    a.initiator.addTarget(target.info);
    await pollUntil(() => target.connections === 1, step, 5000, 'a connected');
    b.initiator.addTarget(target.info);
    await pollUntil(() => target.connections === 2 && b.initiator.targets[0].state === 'connected', step, 5000, 'b connected');
    const [ca, cb] = target.connectionStatus().map((c) => c.connection);
    // Both send, then only a: b goes idle after 600 ms, a never does.
    let index = currentIndex(RATE);
    send(a, index); send(b, index + 1n);
    await pollUntil(() => target.counters.grains === 2, step, 5000, 'both landed');
    t.deepEqual(target.connectionStatus().map((c) => c.landed), [1, 1], 'one grain counted on each connection');
    index += 2n;
    const until = Date.now() + 1200;
    while (Date.now() < until) {
      send(a, index++);
      const n = target.counters.grains;
      await pollUntil(() => target.counters.grains > n, step, 2000, 'a landed');
      const u2 = Date.now() + 20;
      while (Date.now() < u2) step();
    }
    const st = new Map(target.connectionStatus().map((c) => [c.connection, c]));
    t.false(st.get(ca)!.idle, 'the sending initiator is active');
    t.true(st.get(cb)!.idle, 'the one that stopped is idle');
    t.false(target.idle(600, ca));
    t.true(target.idle(600, cb));
    t.false(target.idle(600), 'the target as a whole is not idle');
    t.true(events.includes(`idle ${cb}`) && !events.includes(`idle ${ca}`), events.join(', '));
    send(b, index++);
    await pollUntil(() => events.includes(`active ${cb}`), step, 2000, 'b active again');
    t.false(new Map(target.connectionStatus().map((c) => [c.connection, c])).get(cb)!.idle);
  } finally { a.close(); b.close(); target.close(); tw.close(); dst.close(); }
});

test.serial('shm audio: an audio target killed while nothing moves is shown down within probeIntervalMs + stallTimeoutMs, never connected while gone', async (t) => {
  t.timeout(30_000);
  const p = spawnTarget({ provider: 'shm', audio: true });
  const inst = new MxlInstance(tempDomain());
  const writer = inst.createFlowWriter(audioFlowDef()) as ContinuousFlowWriter;
  const reader = inst.openContinuousFlowReader(AUDIO_FLOW_ID);
  const initiator = new Initiator({ provider: 'shm', samples: samplesFromReader(reader), reconnectDelayMs: 200 });
  const events: InitiatorEvent[] = [];
  initiator.onEvent = (e) => { if (e.type !== 'completed') events.push(e); };
  try {
    initiator.addTarget(TargetInfo.parse(await p.info));
    t.is(initiator.targets[0].state, 'connecting', 'not connected before the target answered (the first probe)');
    await pollUntil(() => initiator.targets[0].state === 'connected', () => initiator.makeProgress(5), 5000, 'connected');
    // Samples still land after the probes (they change no byte of an entry).
    const rate = { numerator: 48000, denominator: 1 };
    let end = currentIndex(rate);
    for (let k = 0; k < 3; k++) {
      end += 480n;
      writer.openSamples(end, 480); // silence: what lands is not the point here
      writer.commitSamples();
      t.deepEqual(initiator.transferSamples(end, 480), { posted: 1, skipped: 0 });
      await pollUntil(() => p.lines.includes(`SAMPLES ${end} 480`), () => initiator.makeProgress(5), 5000, `window ${k} landed`);
    }
    // Idle, alive: it stays connected over several probe intervals.
    const until = Date.now() + 1000;
    while (Date.now() < until) initiator.makeProgress(5);
    t.is(initiator.targets[0].state, 'connected');
    p.proc.kill('SIGKILL');
    const killed = Date.now();
    await pollUntil(() => initiator.targets[0].state !== 'connected', () => initiator.makeProgress(5), 10_000, 'down');
    const ms = Date.now() - killed;
    t.log(`shm audio target killed: shown ${initiator.targets[0].state} after ${ms} ms (${initiator.targets[0].lastError})`);
    t.is(initiator.targets[0].state, 'down');
    t.true(ms <= 250 + 1750 + 500, `found within the bound (${ms} ms)`);
    t.true(events.some((e) => e.type === 'disconnected'));
    const later = Date.now() + 2000;
    while (Date.now() < later) {
      initiator.makeProgress(5);
      t.not(initiator.targets[0].state, 'connected');
    }
  } finally { initiator.close(); reader.close(); writer.close(); inst.close(); await stopProc(p); }
});
