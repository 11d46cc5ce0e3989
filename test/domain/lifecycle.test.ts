/** Create/join/release, garbage collection, staleness, flags, landed grains, audio reads. */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import {
  MxlInstance, garbageCollectFlows, type DiscreteFlowWriter, type DiscreteFlowReader, type ContinuousFlowWriter,
  type ContinuousFlowReader,
} from '../../src/domain/index.js';
import { addon } from '../../src/native/index.js';
import { makeDomain, removeDomains, domainEntries, videoDef, audioDef, json, runChild, fillLines, badLines, untilReaderParked } from './helpers.js';

test.after.always(removeDomains);

const ID = '3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f';
const small = (o: Record<string, unknown> = {}) => json(videoDef(ID, { frame_width: 640, frame_height: 480, ...o }));

test('creating a flow that exists joins it: header wins, flow survives until the last writer leaves', (t) => {
  const d = makeDomain();
  const a = new MxlInstance(d);
  const b = new MxlInstance(d);
  const w1 = a.createFlowWriter(small()) as DiscreteFlowWriter;
  t.true(w1.created);
  // Different geometry in the new definition is ignored (docs/domain-format.md §1.2 step 8).
  const w2 = b.createFlowWriter(small({ frame_width: 1920, frame_height: 1080, label: 'other' })) as DiscreteFlowWriter;
  t.false(w2.created);
  t.is(w2.geometry.grainSize, w1.geometry.grainSize);
  t.is(b.getFlowDef(ID), small(), 'flow_def.json is the creator\'s');
  const g = w2.openGrain(100n);
  g.payload[0] = 42;
  w2.commitGrain();
  t.is(w1.flowHeader.headIndex, 100n, 'both writers share the same memory');
  t.false(w1.close(), 'the other writer still holds the flow');
  t.true(fs.existsSync(path.join(d, `${ID}.mxl-flow`)));
  t.true(a.isFlowActive(ID));
  t.true(w2.close(), 'the last writer deletes the flow');
  t.deepEqual(domainEntries(d), []);
  a.close();
  b.close();
});

test('two processes racing to create one flow: one creates, one joins, nothing leaks', async (t) => {
  const d = makeDomain();
  const at = String(Date.now() + 400);
  const kids = [0, 1, 2].map(() => runChild('writer-child.js', [d, small(), 'race', at]));
  const results = await Promise.all(kids.map((k) => k.next()));
  t.is(results.filter((r) => r.created).length, 1);
  await Promise.all(kids.map((k) => k.exit));
  t.deepEqual(domainEntries(d), [], 'the last writer to leave deleted the flow; no .mxl-tmp-* left');
});

test('garbage collection removes a crashed writer\'s flow and a stale staging dir, never a live one', async (t) => {
  const d = makeDomain();
  const crashed = runChild('writer-child.js', [d, small(), 'hold']);
  t.true((await crashed.next()).created);
  const live = new MxlInstance(d);
  const liveId = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
  live.createFlowWriter(json(videoDef(liveId, { frame_width: 640, frame_height: 480 })));
  t.deepEqual(garbageCollectFlows(d), [], 'both writers alive');
  crashed.proc.kill('SIGKILL');
  await crashed.exit;
  t.false(live.isFlowActive(ID));
  const leaked = path.join(d, '.mxl-tmp-leakedleakedleak');
  fs.mkdirSync(leaked);
  fs.writeFileSync(path.join(leaked, 'data'), Buffer.alloc(2064));
  const old = new Date(Date.now() - 120_000);
  fs.utimesSync(leaked, old, old);
  const fresh = path.join(d, '.mxl-tmp-freshfreshfresh1');
  fs.mkdirSync(fresh);
  t.deepEqual(garbageCollectFlows(d).sort(), ['.mxl-tmp-leakedleakedleak', ID].sort());
  t.deepEqual(domainEntries(d), ['.mxl-tmp-freshfreshfresh1', `${liveId}.mxl-flow`]);
  live.close();
});

test('a reader of a deleted or re-created flow gets FLOW_INVALID on TOO_EARLY (docs/domain-format.md §1.5)', async (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(small()) as DiscreteFlowWriter;
  w.openGrain(1000n);
  w.commitGrain();
  const r = inst.openDiscreteFlowReader(ID);
  t.is(r.getGrainSync(1001n).status, 'TOO_EARLY');
  w.close();
  const again = inst.createFlowWriter(small()) as DiscreteFlowWriter;
  t.is(r.getGrainSync(1001n).status, 'FLOW_INVALID');
  t.is((await r.getGrain(1001n, { timeoutMs: 5 })).status, 'FLOW_INVALID');
  // Mappings of the old flow stay readable after deletion.
  t.is(r.getGrainSync(1000n).status, 'OK');
  again.close();
  inst.close();
});

test('flags are written on every commit: INVALID does not stick to the slot', (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(small()) as DiscreteFlowWriter;
  const r = inst.openDiscreteFlowReader(ID);
  w.openGrain(500n);
  w.commitGrain({ flags: 1, validSlices: 0 });
  const skipped = r.getGrainSync(500n);
  t.is(skipped.status, 'OK', 'INVALID grains are delivered');
  t.true(skipped.invalid);
  const again = w.openGrain(510n); // same slot
  t.is(again.previous.flags, 1, 'open reports the slot\'s previous header');
  w.commitGrain();
  const g = r.getGrainSync(510n);
  t.is(g.flags, 0);
  t.false(g.invalid);
  t.is(r.getGrainSync(500n).status, 'TOO_LATE');
  inst.close();
});

// Serial: untilReaderParked counts this process's futex waiters, so no other test may wait meanwhile.
test.serial('commitLanded publishes a grain whose header and payload were written into the slot directly', async (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(small()) as DiscreteFlowWriter;
  const r = inst.openDiscreteFlowReader(ID, { writableMapping: true });
  const bufs = w.grainBuffers();
  t.is(bufs.length, 10);
  t.true(bufs.every((b) => b.byteLength === 8192 + w.geometry.grainSize));
  t.is(r.grainBuffers()[3].byteLength, 8192 + w.geometry.grainSize);
  new Uint8Array(r.grainBuffers()[3])[8192] = 1; // writable reader mapping (EFA registration)
  const index = 77_003n;
  const slot = Number(index % 10n);
  // What a remote RDMA write leaves behind: the remote's header and payload.
  const view = new DataView(bufs[slot]);
  view.setUint32(0, 1, true);
  view.setUint32(4, 4096, true);
  view.setBigUint64(8, index, true);
  view.setUint32(16, 0, true);
  view.setUint32(20, w.geometry.grainSize, true);
  view.setUint16(24, w.geometry.totalSlices, true);
  view.setUint16(26, w.geometry.totalSlices, true);
  fillLines(new Uint8Array(bufs[slot], 8192), w.geometry.sliceSizes[0], index, 0, 240);
  const waiting = r.getGrain(index, { timeoutMs: 2000, minValidSlices: 240 });
  await untilReaderParked(); // the commit below must be what wakes it
  const counter = w.flowHeader.syncCounter;
  t.is(w.commitLanded(slot, 240), index);
  t.is(w.flowHeader.headIndex, index);
  t.is(w.flowHeader.syncCounter, counter + 1);
  const got = await waiting;
  t.is(got.status, 'OK');
  t.is(got.validSlices, 240);
  t.is(badLines(got.payload!, w.geometry.sliceSizes[0], index, 240), 0);
  t.throws(() => w.commitLanded(slot + 1, 1), { code: 'MXL_ERR_INVALID_ARG' });
  t.throws(() => w.commitLanded(slot, 481), { code: 'MXL_ERR_INVALID_ARG' });
  inst.close();
});

test('readers touch access (atime) after a successful read', (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(small()) as DiscreteFlowWriter;
  const access = path.join(d, `${ID}.mxl-flow`, 'access');
  const old = new Date(Date.now() - 60_000);
  fs.utimesSync(access, old, old);
  const r = inst.openDiscreteFlowReader(ID);
  w.openGrain(9n);
  w.commitGrain();
  t.is(r.getGrainSync(9n).status, 'OK');
  const st = fs.statSync(access);
  t.true(st.atimeMs > Date.now() - 10_000, 'atime moved');
  t.is(Math.round(st.mtimeMs), Math.round(old.getTime()), 'mtime untouched');
  inst.close();
});

test.serial('audio: async reader woken by a commit, fragments across the ring end, TOO_LATE outside L/2', async (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(json(audioDef(ID)), { maxCommitBatchSizeHint: 480, maxSyncBatchSizeHint: 480 }) as ContinuousFlowWriter;
  const r = inst.openFlowReader(ID) as ContinuousFlowReader;
  t.is(r.geometry.wordSize, 4);
  t.is(r.channelsBuffer().byteLength, 155_648);
  const L = 19456n;
  const E = L * 1000n + 200n; // wraps: positions L−280 … 199
  const pending = r.getSamples(E, 480, 2000);
  await untilReaderParked(); // fails if the reader never waited: the commit must wake it
  const win = w.openSamples(E, 480);
  t.is(win.fragments.length, 2);
  for (const [c, frags] of win.channels.entries()) {
    let s = E - 480n;
    for (const f of frags) for (let k = 0; k < f.length; k++) f[k] = Number(s++ % 100_000n) * 2 + c; // exact in float32
  }
  t.true(w.commitSamples());
  const got = await pending;
  t.is(got.status, 'OK');
  t.deepEqual(got.fragments, win.fragments);
  const samples = got.channels[1].flatMap((f) => Array.from(f));
  t.is(samples.length, 480);
  t.is(samples[0], Number((E - 480n) % 100_000n) * 2 + 1);
  t.is(samples[479], Number((E - 1n) % 100_000n) * 2 + 1);
  t.is(r.getSamplesSync(E + 1n, 10).status, 'TOO_EARLY');
  t.is(r.getSamplesSync(E - 9728n + 10n, 10).status, 'OK');
  t.is(r.getSamplesSync(E - 9728n + 9n, 10).status, 'TOO_LATE');
  t.throws(() => r.getSamplesSync(E, 9729), { code: 'MXL_ERR_INVALID_ARG' });
  t.throws(() => w.openSamples(E, 0), { code: 'MXL_ERR_INVALID_ARG' });
  const t0 = performance.now();
  t.is((await r.getSamples(E + 480n, 480, 50)).status, 'TOO_EARLY');
  t.true(performance.now() - t0 >= 45, 'waited for the timeout');
  inst.close();
});

// Serial: mappingCount is process-wide and ava runs serial tests before the concurrent ones.
test.serial('closing releases every mapping; a pending async wait survives its reader closing', async (t) => {
  const a = addon();
  const before = a.mappingCount();
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(small()) as DiscreteFlowWriter;
  const r = inst.openFlowReader(ID) as DiscreteFlowReader;
  t.is(a.mappingCount(), before + 22);
  const g = w.openGrain(5n);
  const payload = g.payload;
  const pending = r.getGrain(6n, { timeoutMs: 100 });
  r.close();
  t.is((await pending).status, 'TOO_EARLY');
  t.throws(() => r.getGrainSync(6n), { code: 'MXL_ERR_INVALID_FLOW_READER' });
  inst.close();
  t.is(payload.byteLength, 0, 'views are detached, not dangling');
  t.is(a.mappingCount(), before);
  t.throws(() => w.openGrain(7n), { code: 'MXL_ERR_INVALID_FLOW_WRITER' });
  t.deepEqual(domainEntries(d), []);
});
