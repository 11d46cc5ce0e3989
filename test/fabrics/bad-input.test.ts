// Bad input for the transfer engine, on real libfabric over loopback: malformed TargetInfo,
// mismatched flows, hostile immediates and headers written with the raw native wrappers
// into a real Target, a peer that vanishes mid-transfer, and setup errors. Every failure
// must be a FabricsError with the upstream status name and a message that says what to fix.
import test, { type ExecutionContext } from 'ava';
import { MxlInstance, currentIndex, type ContinuousFlowWriter, type DiscreteFlowWriter, type DiscreteFlowReader } from '../../src/domain/index.js';
import { samplesFromWriter } from '../../src/fabrics/sample-ring.js';
import { FabricsError } from '../../src/errors.js';
import { Initiator } from '../../src/fabrics/initiator.js';
import { Target, type TargetEvent } from '../../src/fabrics/target.js';
import type { LandedGrain } from '../../src/fabrics/media/grain-receiver.js';
import { TargetInfo } from '../../src/fabrics/target-info.js';
import { ringFromReader, ringFromWriter } from '../../src/fabrics/flow-rings.js';
import { packImmediate, GRAIN_HEADER_SIZE } from '../../src/fabrics/grain-protocol.js';
import { FLOW_ID, flowDef, pattern, sha1 } from './fixtures/common.js';
import { cleanupAll, pollUntil, spawnTarget, tempDomain } from './fixtures/procs.js';
import { RawPeer, rawHeader } from './fixtures/raw-peer.js';

test.after.always(cleanupAll);

const RATE = { numerator: 50, denominator: 1 };

function expectError(t: ExecutionContext, fn: () => unknown, code: string, message: RegExp, field?: string): void {
  const e = t.throws(fn);
  if (!(e instanceof FabricsError)) { t.fail(`expected a FabricsError, got ${String(e)}`); return; }
  t.is(e.code, code as FabricsError['code'], e.message);
  t.regex(e.message, message);
  if (field !== undefined) t.is(e.field, field);
}

// ------------------------------------------------------------------ TargetInfo parsing

const GOOD = { addressFormat: 2, fabricAddress: 'AgCybn8AAAEAAAAAAAAAAA==', id: '12072183422378203651', provider: 'tcp', regions: [{ addr: '0', len: '5537792', rkey: '4182795183219044210' }] };
const good = (patch: Record<string, unknown> = {}, drop?: string): string => {
  const o: Record<string, unknown> = { ...GOOD, ...patch };
  if (drop) delete o[drop];
  return JSON.stringify(o);
};

test('the reference TargetInfo parses (baseline for the bad ones)', (t) => {
  const info = TargetInfo.parse(good());
  t.is(info.printableAddress, 'fi_sockaddr_in://127.0.0.1:45678');
  t.true(TargetInfo.parse(info.toBase64()).equals(info));
});

const badInfos: [string, string, RegExp, string | undefined][] = [
  ['bad JSON', '{"addressFormat":2,"fabricAddress":}', /malformed JSON/, undefined],
  ['truncated JSON', good().slice(0, 70), /malformed JSON/, undefined],
  ['bad base64', 'eyJhZGRyZXNzRm9y!!!bWF0Ijoy', /neither JSON nor base64/, undefined],
  ['truncated base64', Buffer.from(good()).toString('base64').slice(0, 101), /neither JSON nor base64|malformed JSON/, undefined],
  ['base64 of truncated JSON', Buffer.from(good().slice(0, 60)).toString('base64'), /malformed JSON/, undefined],
  ['base64 of something else', Buffer.from('hello world').toString('base64'), /does not decode to a JSON object/, undefined],
  ['addressFormat as a string', good({ addressFormat: '2' }), /addressFormat must be an integer/, 'addressFormat'],
  ['regions[].len as a number', good({ regions: [{ addr: '0', len: 5537792, rkey: '1' }] }), /regions\[0\]\.len must be a decimal string, got number/, 'regions[0].len'],
  ['regions[].rkey negative', good({ regions: [{ addr: '0', len: '5537792', rkey: '-1' }] }), /regions\[0\]\.rkey must be a decimal string/, 'regions[0].rkey'],
  ['id above 64 bits', good({ id: '18446744073709551616' }), /id does not fit in 64 bits/, 'id'],
  ['missing provider', good({}, 'provider'), /missing provider/, 'provider'],
  ['unknown provider', good({ provider: 'ib' }), /unknown provider "ib"/, 'provider'],
  ['address bytes of another format', good({ fabricAddress: 'ZmlfbnM6Ly90YXJnZXQ6dGVzdAA=' }), /does not match addressFormat 2/, 'fabricAddress'],
  ['sockaddr_in too short', good({ fabricAddress: 'AgCybn8AAAE=' }), /sockaddr_in is 16 bytes, got 8/, 'fabricAddress'],
  ['zero regions', good({ regions: [] }), /regions is empty/, 'regions'],
  ['not an object', '["addressFormat",2]', /not a JSON object/, undefined],
];

for (const [name, text, message, field] of badInfos) {
  test(`TargetInfo.parse refuses ${name} with MXL_ERR_INVALID_ARG`, (t) => {
    expectError(t, () => TargetInfo.parse(text), 'MXL_ERR_INVALID_ARG', message, field);
  });
}

// ------------------------------------------------------------------ flows that do not fit

interface Flows { inst: MxlInstance[]; writer: DiscreteFlowWriter; reader: DiscreteFlowReader; tw: DiscreteFlowWriter; tr: DiscreteFlowReader; close(): void }

function flows(srcW: number, srcH: number, dstW = srcW, dstH = srcH): Flows {
  const src = new MxlInstance(tempDomain());
  const dst = new MxlInstance(tempDomain());
  const writer = src.createFlowWriter(flowDef(FLOW_ID, srcW, srcH)) as DiscreteFlowWriter;
  const reader = src.openDiscreteFlowReader(FLOW_ID);
  const tw = dst.createFlowWriter(flowDef(FLOW_ID, dstW, dstH)) as DiscreteFlowWriter;
  const tr = dst.openDiscreteFlowReader(FLOW_ID);
  return { inst: [src, dst], writer, reader, tw, tr, close() { reader.close(); tr.close(); writer.close(); tw.close(); src.close(); dst.close(); } };
}

test.serial('a 720p target for a 1080p initiator: addTarget refuses it, naming the region size', (t) => {
  const f = flows(1920, 1080, 1280, 720);
  const target = new Target({ provider: 'tcp', node: '127.0.0.1', ring: ringFromWriter(f.tw) });
  const initiator = new Initiator({ provider: 'tcp', ring: ringFromReader(f.reader) });
  try {
    expectError(t, () => initiator.addTarget(TargetInfo.parse(target.info.toString())), 'MXL_ERR_INVALID_ARG', /region 0 is 2496512 bytes but local grains are 5537792.*another format or size/, 'regions[0].len');
    t.deepEqual(initiator.targets, []);
    t.is(target.poll(), 0);
    t.is(target.counters.connects, 0);
  } finally {
    initiator.close(); target.close(); f.close();
  }
});

test.serial('transferGrain with start > end or end past the grain is INVALID_ARG and posts nothing', async (t) => {
  const f = flows(1280, 720);
  const target = new Target({ provider: 'tcp', node: '127.0.0.1', ring: ringFromWriter(f.tw) });
  const initiator = new Initiator({ provider: 'tcp', ring: ringFromReader(f.reader) });
  try {
    const index = currentIndex(RATE);
    f.writer.openGrain(index);
    f.writer.commitGrain();
    // No target yet: the arguments are still checked.
    expectError(t, () => initiator.transferGrain(index, 10, 5), 'MXL_ERR_INVALID_ARG', /slice range \[10, 5\) is not a valid range/, 'slices');
    expectError(t, () => initiator.transferGrain(index, 0, 721), 'MXL_ERR_INVALID_ARG', /slice end 721 is past the grain's 720 slices/, 'endSlice');
    expectError(t, () => initiator.transferGrain(-1n), 'MXL_ERR_INVALID_ARG', /non-negative bigint/, 'index');
    initiator.addTarget(target.info);
    await pollUntil(() => initiator.targets[0].state === 'connected', () => { target.poll(); initiator.makeProgress(); }, 5000, 'connection');
    expectError(t, () => initiator.transferGrain(index, 10, 5), 'MXL_ERR_INVALID_ARG', /not a valid range/);
    expectError(t, () => initiator.transferGrain(index, 700, 800), 'MXL_ERR_INVALID_ARG', /slice end 800 is past/);
    t.true(initiator.makeProgress(500));
    t.is(target.wait(100), 0, 'nothing reached the target');
    t.is(initiator.targets[0].inFlight, 0);
    t.deepEqual(initiator.transferGrain(index), { posted: 1, skipped: 0 }, 'a good call still works');
    // Two-phase transfer: the initiator's progress posts the commit once the payload landed.
    let g: ReturnType<Target['readGrain']> = null;
    await pollUntil(() => g !== null, () => { initiator.makeProgress(1); g = target.readGrain(); }, 3000, 'the grain at the target');
    t.is(g!.index, index);
  } finally {
    initiator.close(); target.close(); f.close();
  }
});

// ------------------------------------------------------------------ hostile writes into a real Target

interface Rig { f: Flows; target: Target; initiator: Initiator; raw: RawPeer; gc: number; total: number; first: bigint; send(index: bigint): Promise<string>; close(): void }

async function rig(): Promise<Rig> {
  const f = flows(1280, 720);
  // Our initiator and the raw peer: two connections.
  const target = new Target({ provider: 'tcp', node: '127.0.0.1', ring: ringFromWriter(f.tw), maxInitiators: 2 });
  const initiator = new Initiator({ provider: 'tcp', ring: ringFromReader(f.reader) });
  initiator.addTarget(target.info);
  await pollUntil(() => initiator.targets[0].state === 'connected', () => { target.poll(); initiator.makeProgress(); }, 5000, 'connection');
  const raw = new RawPeer(GRAIN_HEADER_SIZE + f.tw.geometry.grainSize);
  await raw.connect(target);
  t0Events(target);
  const send = async (index: bigint): Promise<string> => {
    const g = f.writer.openGrain(index);
    const sum = pattern(g.payload, index);
    f.writer.commitGrain();
    initiator.transferGrain(index);
    let landed = null;
    const end = Date.now() + 5000;
    while (!landed && Date.now() < end) { initiator.makeProgress(); landed = target.readGrain(); }
    if (landed?.index !== index) throw new Error(`grain ${index} did not land (${landed?.index})`);
    return sum;
  };
  return {
    f, target, initiator, raw, gc: f.tw.geometry.grainCount, total: f.tw.geometry.totalSlices, first: currentIndex(RATE), send,
    close() { raw.close(); initiator.close(); target.close(); f.close(); },
  };
}
function t0Events(target: Target): void { target.takeEvents(); }

const dropped = (target: Target) => target.takeEvents().filter((e) => e.type === 'dropped');

test.serial('an immediate with slot >= grainCount is dropped and counted; the target keeps working', async (t) => {
  const r = await rig();
  try {
    const sum0 = await r.send(r.first);
    const before = sha1(r.f.tr.getGrainSync(r.first).payload!);
    t.is(before, sum0);
    // 4 KiB of junk into the payload of another slot, with an immediate naming slot gc.
    new Uint8Array(r.raw.buf).fill(0xee);
    const otherSlot = Number((r.first + 3n) % BigInt(r.gc));
    await r.raw.write(r.target, otherSlot, GRAIN_HEADER_SIZE, 4096, packImmediate(r.gc, r.total));
    t.is(r.target.poll(), 0);
    const d = dropped(r.target);
    t.is(d.length, 1);
    t.regex((d[0] as { reason: string }).reason, new RegExp(`slot ${r.gc} is outside the ${r.gc}-slot ring`));
    t.is((d[0] as { code: string }).code, 'slot-range');
    t.is(r.target.counters.drops['slot-range'], 1);
    t.is(r.target.counters.dropped, 1);
    t.is(r.target.counters.grains, 1);
    t.is(r.f.tw.flowHeader.headIndex, r.first, 'nothing was committed');
    const g = r.f.tr.getGrainSync(r.first);
    t.is(g.status, 'OK');
    t.is(sha1(g.payload!), before, 'the committed grain is intact');
    // The largest slot the immediate can carry too.
    await r.raw.write(r.target, otherSlot, GRAIN_HEADER_SIZE, 64, packImmediate(0xffff, 1));
    r.target.poll();
    t.is(r.target.counters.dropped, 2);
    const sum1 = await r.send(r.first + 1n);
    t.is(sha1(r.f.tr.getGrainSync(r.first + 1n).payload!), sum1, 'a following good grain lands');
    t.is(r.target.counters.grains, 2);
  } finally { r.close(); }
});

test.serial('an immediate with a slice end past the grain is dropped and counted; the target keeps working', async (t) => {
  const r = await rig();
  try {
    const sum0 = await r.send(r.first);
    const slot = Number((r.first + 1n) % BigInt(r.gc));
    new Uint8Array(r.raw.buf).fill(0x5a);
    await r.raw.write(r.target, slot, GRAIN_HEADER_SIZE, 4096, packImmediate(slot, r.total + 1));
    r.target.poll();
    const d = dropped(r.target);
    t.is(d.length, 1);
    t.regex((d[0] as { reason: string }).reason, /slice end 721 is past the grain's 720 slices/);
    t.is((d[0] as { code: string }).code, 'slice-range');
    t.is(r.target.counters.drops['slice-range'], 1);
    t.is(r.target.counters.dropped, 1);
    t.is(r.f.tw.flowHeader.headIndex, r.first);
    t.is(sha1(r.f.tr.getGrainSync(r.first).payload!), sum0, 'the committed grain is intact');
    const sum1 = await r.send(r.first + 1n);
    t.is(sha1(r.f.tr.getGrainSync(r.first + 1n).payload!), sum1, 'the next grain, into the same slot, lands');
  } finally { r.close(); }
});

test.serial('a slot header with another geometry is restored, counted and the grain refused', async (t) => {
  const r = await rig();
  try {
    const sum0 = await r.send(r.first);
    const index = r.first + 1n;
    const slot = Number(index % BigInt(r.gc));
    const geo = r.f.tw.geometry;
    // A 1080p header (grain size 5529600, 1080 slices) for grain `index`, as a 1080p sender would write it.
    rawHeader(r.raw.buf, index, 5120 * 1080, 1080);
    await r.raw.write(r.target, slot, 0, GRAIN_HEADER_SIZE + 4096, packImmediate(slot, 700));
    r.target.poll();
    const d = dropped(r.target);
    t.is(d.length, 1);
    t.regex((d[0] as { reason: string }).reason, /another grain geometry/);
    t.is((d[0] as { code: string }).code, 'geometry');
    t.is(r.target.counters.geometryMismatches, 1);
    t.is(r.target.counters.dropped, 1);
    const s = r.f.tw.grainSlot(slot);
    t.is(s.grainSize, geo.grainSize, 'grain size restored');
    t.is(s.totalSlices, geo.totalSlices, 'slice count restored');
    t.is(r.f.tw.flowHeader.headIndex, r.first, 'not committed');
    t.not(r.f.tr.getGrainSync(index).status, 'OK', 'the refused grain is not readable');
    t.is(sha1(r.f.tr.getGrainSync(r.first).payload!), sum0);
    const sum1 = await r.send(index);
    const g = r.f.tr.getGrainSync(index);
    t.is(g.status, 'OK');
    t.is(sha1(g.payload!), sum1, 'a good grain into the same slot lands');
  } finally { r.close(); }
});

test.serial('a header whose index does not belong in the slot is dropped as index-slot; the target does not die and serves on', async (t) => {
  const r = await rig();
  try {
    const sum0 = await r.send(r.first);
    const index = r.first + 1n;
    const slot = Number(index % BigInt(r.gc));
    const geo = r.f.tw.geometry;
    // A lapped sender: the right geometry, but grain index+1's header written into index's slot.
    rawHeader(r.raw.buf, index + 1n, geo.grainSize, geo.totalSlices);
    await r.raw.write(r.target, slot, 0, GRAIN_HEADER_SIZE + 4096, packImmediate(slot, geo.totalSlices));
    t.is(r.target.poll(), 0);
    const d = dropped(r.target);
    t.is(d.length, 1);
    t.is((d[0] as { code: string }).code, 'index-slot');
    t.regex((d[0] as { reason: string }).reason, new RegExp(`landed grain index ${index + 1n} does not belong in slot ${slot}`));
    t.is(r.target.counters.drops['index-slot'], 1);
    t.is(r.f.tw.flowHeader.headIndex, r.first, 'nothing was committed');
    t.is(sha1(r.f.tr.getGrainSync(r.first).payload!), sum0, 'the committed grain is intact');
    const sum1 = await r.send(index);
    t.is(sha1(r.f.tr.getGrainSync(index).payload!), sum1, 'a good grain into the same slot lands');
    t.is(r.target.counters.grains, 2);
  } finally { r.close(); }
});

// No flow control: a sender can rewrite a slot before the target reads the completion for the
// grain before it. That completion then finds the newer header, and the newer grain's own
// completion arrives second, naming a grain and slices the slot already landed. From the same
// connection that is the same as a re-send: dropped as `repeat`, not published twice. From
// another connection it is a redundant sender's copy: not published again either, counted
// as a duplicate, not as a drop.
test.serial('a completion for a grain and slice range its slot already landed: from the same connection a repeat drop, from another a duplicate; neither is published again, more slices still land', async (t) => {
  const r = await rig();
  let seen = 0; // drops + duplicates so far
  const again = async (index: bigint, start: number, end: number) => {
    r.initiator.transferGrain(index, start, end);
    await pollUntil(() => r.target.counters.dropped + r.target.counters.duplicates > seen, () => { r.initiator.makeProgress(); r.target.poll(); }, 5000, 'the re-sent range');
    seen = r.target.counters.dropped + r.target.counters.duplicates;
  };
  try {
    const index = r.first;
    const slot = Number(index % BigInt(r.gc));
    const sum = await r.send(index);
    const head = r.f.tw.flowHeader.headIndex;
    // The same grain again from the same connection.
    await again(index, 0, r.total);
    t.is(r.target.readGrain(), null, 'nothing is published again');
    const d = dropped(r.target);
    t.deepEqual(d.map((e) => (e as { code: string }).code), ['repeat']);
    t.regex((d[0] as { reason: string }).reason, new RegExp(`grain ${index} already landed slices up to ${r.total} in slot ${slot}`));
    t.is(r.target.counters.drops.repeat, 1);
    // The same payload bytes from the raw peer, another connection, with a whole grain's immediate.
    pattern(new Uint8Array(r.raw.buf, GRAIN_HEADER_SIZE), index);
    await r.raw.write(r.target, slot, GRAIN_HEADER_SIZE, 4096, packImmediate(slot, r.total));
    t.is(r.target.readGrain(), null, 'a duplicate is not published');
    t.deepEqual(dropped(r.target), [], 'nor dropped');
    t.is(r.target.counters.duplicates, 1);
    t.is(r.target.counters.grains, 1);
    t.is(r.f.tw.flowHeader.headIndex, head);
    t.is(sha1(r.f.tr.getGrainSync(index).payload!), sum, 'the committed grain is intact');

    // A grain sent in two slice ranges: the first range again is a repeat, the second range
    // (more slices) lands.
    const next = index + 1n;
    const g = r.f.writer.openGrain(next);
    const nsum = pattern(g.payload, next);
    r.f.writer.commitGrain();
    const half = r.total >> 1;
    const land = async () => {
      let got: LandedGrain | null = null;
      await pollUntil(() => got !== null, () => { r.initiator.makeProgress(); got ??= r.target.readGrain(); }, 5000, 'a landed range');
      return got!;
    };
    r.initiator.transferGrain(next, 0, half);
    t.like(await land(), { index: next, validSlices: half });
    seen = r.target.counters.dropped + r.target.counters.duplicates;
    await again(next, 0, half);
    t.deepEqual(dropped(r.target).map((e) => (e as { code: string }).code), ['repeat']);
    r.initiator.transferGrain(next, half, r.total);
    t.like(await land(), { index: next, validSlices: r.total });
    t.is(sha1(r.f.tr.getGrainSync(next).payload!), nsum);
    t.is(r.target.counters.drops.repeat, 2);
    t.is(r.target.counters.grains, 3);
  } finally { r.close(); }
});

test.serial('a TargetInfo with region 0 repeated: addTarget refuses it, and a peer that writes by it anyway gets index-slot drops, the target serves on', async (t) => {
  const r = await rig();
  try {
    const info = r.target.info;
    const doctored = new TargetInfo(info.id + 1n, info.provider, info.addressFormat, info.fabricAddress, info.regions.map((x, i) => (i === 1 ? info.regions[0] : x)));
    const other = new Initiator({ provider: 'tcp', ring: ringFromReader(r.f.reader) });
    try {
      expectError(t, () => other.addTarget(doctored), 'MXL_ERR_INVALID_ARG', /regions\[1\] is the same memory as regions\[0\]/, 'regions[1]');
    } finally { other.close(); }
    // An upstream initiator does not check: grain 1 (mod the ring) lands in slot 0's memory,
    // with an immediate that names slot 1.
    const geo = r.f.tw.geometry;
    const base = r.first - (r.first % BigInt(r.gc));
    const landedIn0 = base + BigInt(r.gc) + 1n; // belongs in slot 1
    rawHeader(r.raw.buf, landedIn0, geo.grainSize, geo.totalSlices);
    await r.raw.write(r.target, 0, 0, GRAIN_HEADER_SIZE + 4096, packImmediate(1, geo.totalSlices));
    // A following write that names slot 0 finds grain 1's header there.
    await r.raw.write(r.target, 0, 0, 64, packImmediate(0, geo.totalSlices));
    r.target.poll();
    const codes = dropped(r.target).map((e) => (e as { code: string }).code);
    t.true(codes.includes('index-slot'), `dropped: ${codes.join(', ')}`);
    t.is(r.target.counters.grains, 0, 'nothing was published');
    const sum = await r.send(base + BigInt(r.gc) * 2n);
    t.is(sha1(r.f.tr.getGrainSync(base + BigInt(r.gc) * 2n).payload!), sum, 'a good grain into slot 0 lands');
  } finally { r.close(); }
});

test.serial('audio: an entry index past the bounce buffer and an impossible sample count are dropped by reason; a good entry lands after', async (t) => {
  const inst = new MxlInstance(tempDomain());
  const def = JSON.stringify({
    id: 'b3bb5be7-9fe9-4324-a5bb-4c70e1084449', label: 'audio', format: 'urn:x-nmos:format:audio', media_type: 'audio/float32',
    tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['test:audio'] }, sample_rate: { numerator: 48000 }, channel_count: 2, bit_depth: 32,
  });
  const tw = inst.createFlowWriter(def) as ContinuousFlowWriter;
  const target = new Target({ provider: 'tcp', node: '127.0.0.1', samples: samplesFromWriter(tw) });
  const entries = Number(target.info.bounceBufferInfo!.entryCount);
  const entrySize = Number(target.info.bounceBufferInfo!.entrySize);
  const raw = new RawPeer(entrySize);
  try {
    await raw.connect(target);
    target.takeEvents();
    const head = new BigUint64Array(raw.buf, 0, 2);
    head[0] = 48_000n; head[1] = 10n;
    await raw.write(target, 0, 0, entrySize, entries); // names entry `entries`: past the buffer
    head[1] = BigInt(entrySize); // more samples than the entry holds
    await raw.write(target, 0, 0, entrySize, 0);
    head[0] = 5n; head[1] = 10n; // ends before its own samples
    await raw.write(target, 1, 0, entrySize, 1);
    target.poll();
    const d = dropped(target).map((e) => (e as { code: string }).code);
    t.deepEqual(d, ['entry-range', 'sample-count', 'sample-count']);
    t.deepEqual([target.counters.drops['entry-range'], target.counters.drops['sample-count'], target.counters.sampleBatches], [1, 2, 0]);
    head[0] = 48_000n; head[1] = 10n;
    await raw.write(target, 2, 0, entrySize, 2);
    const s = target.readSamples(1000);
    t.is(s?.headIndex, 48_000n);
    t.is(s?.count, 10);
    t.is(target.counters.sampleBatches, 1);
  } finally { raw.close(); target.close(); tw.close(); inst.close(); }
});

// ------------------------------------------------------------------ a peer that vanishes

test.serial('a target process killed with SIGKILL mid-transfer: reported, nothing hangs, close works', async (t) => {
  t.timeout(40_000);
  const p = spawnTarget({ provider: 'tcp', node: '127.0.0.1', width: 1280, height: 720, maxLifetimeMs: 40_000 });
  const info = TargetInfo.parse(await p.info);
  const inst = new MxlInstance(tempDomain());
  const writer = inst.createFlowWriter(flowDef(FLOW_ID, 1280, 720)) as DiscreteFlowWriter;
  const reader = inst.openDiscreteFlowReader(FLOW_ID);
  const initiator = new Initiator({ provider: 'tcp', ring: ringFromReader(reader), reconnectDelayMs: 100 });
  try {
    initiator.addTarget(info);
    await pollUntil(() => initiator.targets[0].state === 'connected', () => initiator.makeProgress(5), 5000, 'connection');
    const first = currentIndex(RATE);
    let slowest = 0;
    for (let k = 0; k < 60; k++) {
      const index = first + BigInt(k);
      writer.openGrain(index);
      writer.commitGrain();
      initiator.transferGrain(index); // posts while grains are still in flight
      if (k === 20) p.proc.kill('SIGKILL');
      const t0 = Date.now();
      initiator.makeProgress(5);
      slowest = Math.max(slowest, Date.now() - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
    await pollUntil(() => initiator.takeEvents().some((e) => e.type === 'disconnected' || e.type === 'error'), () => initiator.makeProgress(5), 10_000, 'disconnected/error');
    const s = initiator.targets[0];
    t.not(s.state, 'connected');
    t.true(s.errors > 0);
    t.regex(s.lastError ?? '', /closed the connection|connection error|write failed|refused|no write completion/);
    t.true(slowest < 1000, `makeProgress(5) returned within ${slowest} ms`);
    t.true(p.grains.size >= 1 && p.grains.size <= 21, `the target saw ${p.grains.size} grains before it died`);
    for (let i = 0; i < 10; i++) t.is(typeof initiator.makeProgress(10), 'boolean');
    t.notThrows(() => initiator.close());
    expectError(t, () => initiator.makeProgress(), 'MXL_ERR_INVALID_STATE', /closed/);
  } finally {
    initiator.close(); reader.close(); writer.close(); inst.close();
  }
});

// ------------------------------------------------------------------ setup errors

const smallRing = () => {
  const f = flows(1280, 720);
  return { f, ring: ringFromWriter(f.tw) };
};

test.serial('two tcp targets on the same 127.0.0.1 port: the second is MXL_ERR_EXISTS', (t) => {
  const { f, ring } = smallRing();
  const first = new Target({ provider: 'tcp', node: '127.0.0.1', ring });
  try {
    const port = String(/:(\d+)$/.exec(first.info.printableAddress)![1]);
    expectError(t, () => new Target({ provider: 'tcp', node: '127.0.0.1', service: port, ring }), 'MXL_ERR_EXISTS', new RegExp(`127\\.0\\.0\\.1:${port}: the address is already in use; choose another service`));
    // The first one still serves.
    t.is(first.poll(), 0);
  } finally { first.close(); f.close(); }
});

test.serial('tcp on an address no interface has (203.0.113.9): MXL_ERR_NO_FABRIC for target and initiator', (t) => {
  const { f, ring } = smallRing();
  try {
    expectError(t, () => new Target({ provider: 'tcp', node: '203.0.113.9', ring }), 'MXL_ERR_NO_FABRIC', /no local interface has the address 203\.0\.113\.9/, 'node');
    const target = new Target({ provider: 'tcp', node: '127.0.0.1', ring });
    const initiator = new Initiator({ provider: 'tcp', node: '203.0.113.9', ring: ringFromReader(f.reader) });
    try {
      expectError(t, () => initiator.addTarget(target.info), 'MXL_ERR_NO_FABRIC', /no local interface has the address 203\.0\.113\.9/, 'node');
      t.deepEqual(initiator.targets, [], 'the target was not half-added');
      t.true(initiator.makeProgress());
    } finally { initiator.close(); target.close(); }
  } finally { f.close(); }
});

test.serial('provider "any" cannot be set up: MXL_ERR_INVALID_STATE', (t) => {
  const { f, ring } = smallRing();
  try {
    expectError(t, () => new Target({ provider: 'any', ring }), 'MXL_ERR_INVALID_STATE', /provider "any" cannot be set up: choose tcp, verbs, efa or shm/, 'provider');
    expectError(t, () => new Initiator({ provider: 'any', ring: ringFromReader(f.reader) }), 'MXL_ERR_INVALID_STATE', /choose tcp, verbs, efa or shm/, 'provider');
    expectError(t, () => new Target({ provider: 'rdma' as 'tcp', ring }), 'MXL_ERR_INVALID_ARG', /unknown provider "rdma"/, 'provider');
  } finally { f.close(); }
});

test.serial('a grain that lands after the target flow writer was closed is dropped with the writer\'s refusal; the target does not throw and serves on', async (t) => {
  const inst = new MxlInstance(tempDomain('mxlf-bad-'));
  const tw = inst.createFlowWriter(flowDef(FLOW_ID, 320, 180)) as DiscreteFlowWriter;
  const target = new Target({ provider: 'tcp', node: '127.0.0.1', ring: ringFromWriter(tw) });
  const geo = tw.geometry;
  const raw = new RawPeer(GRAIN_HEADER_SIZE + geo.grainSize);
  try {
    await raw.connect(target);
    tw.close(); // the registrations keep the pages mapped; JavaScript's views are detached
    rawHeader(raw.buf, 10n * BigInt(geo.grainCount) + 1n, geo.grainSize, geo.totalSlices);
    await raw.write(target, 1, 0, GRAIN_HEADER_SIZE, packImmediate(1, geo.totalSlices));
    await pollUntil(() => target.counters.dropped === 1, () => target.poll(), 5000, 'the drop');
    const d = target.takeEvents().filter((e) => e.type === 'dropped') as Extract<TargetEvent, { type: 'dropped' }>[];
    t.is(d.length, 1);
    t.is(d[0].code, 'index-slot');
    t.regex(d[0].reason, /writer for flow .* is closed/);
    t.is(target.counters.grains, 0);
    t.is(target.poll(), 0, 'the next poll runs');
  } finally {
    raw.close(); target.close(); inst.close();
  }
});
