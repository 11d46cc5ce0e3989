/** docs/domain-format.md §7 test vectors TV1–TV8, byte for byte, on real /dev/shm flows. */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import {
  MxlInstance, parseFlowDef, deriveGeometry, timestampToIndex, indexToTimestamp, SyncBatchTracker, windowFragments,
  v210LineLength, a10LineLength, grainCountFor, isFlowActive, uuidBytes, taiNow,
  type DiscreteFlowWriter, type ContinuousFlowWriter, type DiscreteFlowReader,
} from '../../src/domain/index.js';
import { addon } from '../../src/native/index.js';
import { makeDomain, removeDomains, videoDef, audioDef, dataDef, json, runChild, sleep } from './helpers.js';

test.after.always(removeDomains);

const ID = '5fbec3b1-1b0f-417d-9059-8b94a47197ed';
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const isZero = (b: Uint8Array) => b.every((x) => x === 0);

test('TV1: UUID bytes and the lowercase directory of an uppercase id', (t) => {
  t.is(hex(uuidBytes(ID)), '5fbec3b11b0f417d90598b94a47197ed');
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(json(videoDef(ID.toUpperCase())));
  t.deepEqual(fs.readdirSync(d), [`${ID}.mxl-flow`]);
  const data = fs.readFileSync(path.join(d, `${ID}.mxl-flow`, 'data'));
  t.is(data.subarray(8, 24).toString('hex'), '5fbec3b11b0f417d90598b94a47197ed');
  // flow_def.json is the exact text given, not re-serialised.
  t.is(fs.readFileSync(path.join(d, `${ID}.mxl-flow`, 'flow_def.json'), 'utf8'), json(videoDef(ID.toUpperCase())));
  // Lookups are case-insensitive.
  const r = inst.openFlowReader(ID.toUpperCase());
  t.is(r.id, ID);
  w.close();
  inst.close();
});

test('TV2: 1080p50 v210 files, modes, data header and grain header after one commit', (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const before = taiNow();
  const w = inst.createFlowWriter(json(videoDef(ID))) as DiscreteFlowWriter;
  const created = taiNow();
  const dir = path.join(d, `${ID}.mxl-flow`);
  const mode = (p: string) => (fs.statSync(path.join(dir, p)).mode & 0o7777).toString(8);
  t.is(mode('.'), '755');
  t.is(mode('grains'), '755');
  for (const f of ['flow_def.json', 'access', 'data', 'grains/data.0', 'grains/data.9']) t.is(mode(f), '644', f);
  t.is(fs.statSync(path.join(dir, 'access')).size, 0);
  t.is(fs.statSync(path.join(dir, 'data')).size, 2064);
  t.deepEqual(fs.readdirSync(path.join(dir, 'grains')).sort(), Array.from({ length: 10 }, (_, i) => `data.${i}`).sort());
  let total = 0;
  for (let i = 0; i < 10; i++) total += fs.statSync(path.join(dir, 'grains', `data.${i}`)).size;
  t.is(fs.statSync(path.join(dir, 'grains', 'data.3')).size, 5_537_792);
  t.is(total, 55_377_920);
  // fallocate committed the pages: no sparse files.
  t.true(fs.statSync(path.join(dir, 'grains', 'data.3')).blocks * 512 >= 5_537_792);

  const g = w.openGrain(85_000_000_000n);
  t.is(g.slot, 0);
  g.payload.fill(0x5a);
  w.commitGrain();
  const data = fs.readFileSync(path.join(dir, 'data'));
  t.is(data.length, 2064);
  t.is(data.subarray(0x000, 0x040).toString('hex'),
    '01000000' + '00080000' + '5fbec3b11b0f417d90598b94a47197ed' + '01000000' + '00000000' +
    '3200000000000000' + '0100000000000000' + '38040000' + '38040000' + '00000000' + 'ffffffff');
  t.true(isZero(data.subarray(0x040, 0x088)), 'common.reserved is zero');
  t.is(data.subarray(0x088, 0x09c).toString('hex'), '00140000' + '00000000'.repeat(3) + '0a000000');
  t.true(isZero(data.subarray(0x09c, 0x0c8)), 'discrete.reserved is zero');
  t.is(data.subarray(0x0c8, 0x0d0).toString('hex'), '001265ca13000000');
  const lastWrite = data.readBigUInt64LE(0x0d0);
  const lastRead = data.readBigUInt64LE(0x0d8);
  t.true(lastRead >= before && lastRead <= created, 'lastReadTime = creation time');
  t.true(lastWrite >= created && lastWrite <= taiNow(), 'lastWriteTime = commit time');
  t.true(isZero(data.subarray(0x0e0, 0x800)), 'runtime.reserved and padding are zero');
  t.is(data.readBigUInt64LE(0x800), fs.statSync(path.join(dir, 'data'), { bigint: true }).ino);
  t.is(data.subarray(0x808, 0x810).toString('hex'), '0100000000000000');

  const slot0 = fs.readFileSync(path.join(dir, 'grains', 'data.0'));
  t.is(slot0.subarray(0, 28).toString('hex'), '01000000' + '00100000' + '001265ca13000000' + '00000000' + '00605400' + '3804' + '3804');
  t.true(isZero(slot0.subarray(28, 8192)), 'header reserved and padding are zero');
  t.is(slot0[8192], 0x5a);
  t.is(slot0[8192 + 5_529_599], 0x5a);
  const slot1 = fs.readFileSync(path.join(dir, 'grains', 'data.1'));
  t.is(slot1.subarray(0, 28).toString('hex'), '01000000' + '00100000' + '0000000000000000' + '00000000' + '00605400' + '3804' + '0000');
  w.close();
  inst.close();
});

test('TV3: derived geometry table, line lengths and grain counts', (t) => {
  const H = 200_000_000n;
  const geo = (o: Record<string, unknown>, mk = videoDef) => deriveGeometry(parseFlowDef(json(mk(ID, o))), { historyNs: H });
  const rows: [Record<string, unknown>, string, number, number[], number, number][] = [
    [{}, '50/1', 10, [5120, 0, 0, 0], 1080, 5_529_600],
    [{ grain_rate: { numerator: 30000, denominator: 1001 }, media_type: 'video/v210a' }, '30000/1001', 5, [5120, 2560, 0, 0], 1080, 8_294_400],
    [{ grain_rate: { numerator: 25 }, interlace_mode: 'interlaced_tff' }, '50/1', 10, [5120, 0, 0, 0], 540, 2_764_800],
    [{ grain_rate: { numerator: 60000, denominator: 1001 }, frame_width: 1280, frame_height: 720 }, '60000/1001', 11, [3456, 0, 0, 0], 720, 2_488_320],
  ];
  for (const [o, rate, gc, ss, total, size] of rows) {
    const g = geo(o);
    t.is(`${g.grainRate.numerator}/${g.grainRate.denominator}`, rate);
    t.is(g.grainCount, gc);
    t.deepEqual(g.sliceSizes, ss);
    t.is(g.totalSlices, total);
    t.is(g.grainSize, size);
  }
  t.is(geo({ grain_rate: { numerator: 30000, denominator: 1001 }, media_type: 'video/v210a' }).planeOffsets[1], 5_529_600);
  const data = deriveGeometry(parseFlowDef(json(dataDef(ID))), { historyNs: H });
  t.deepEqual([data.grainCount, data.sliceSizes[0], data.totalSlices, data.grainSize], [5, 1, 4096, 4096]);
  t.is(geo({ frame_width: 3840, frame_height: 2160 }).grainSize, 22_118_400);
  t.is(geo({ frame_width: 720, frame_height: 486 }).grainSize, 933_120);
  const big = geo({ frame_width: 7680, frame_height: 4320, media_type: 'video/v210a' });
  t.deepEqual([big.sliceSizes[0], big.sliceSizes[1], big.grainSize], [20480, 10240, 132_710_400]);
  for (const [num, den, n] of [[25, 1, 5], [24000, 1001, 4], [60, 1, 12], [100, 1, 20]]) t.is(grainCountFor(H, { numerator: num, denominator: den }), n);
  t.is(v210LineLength(2048), 5504);
  t.is(a10LineLength(1280), 1708);
  t.is(a10LineLength(2048), 2732);
});

test('TV3 on disk: v210a, interlaced and data flows have the right file sizes', (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const cases: [string, Record<string, unknown>, number, number][] = [
    ['11111111-1111-4111-8111-111111111111', videoDef('11111111-1111-4111-8111-111111111111', { grain_rate: { numerator: 30000, denominator: 1001 }, media_type: 'video/v210a' }), 5, 8_302_592],
    ['22222222-2222-4222-8222-222222222222', videoDef('22222222-2222-4222-8222-222222222222', { grain_rate: { numerator: 25 }, interlace_mode: 'interlaced_bff' }), 10, 2_772_992],
    ['33333333-3333-4333-8333-333333333333', dataDef('33333333-3333-4333-8333-333333333333'), 5, 12_288],
  ];
  for (const [id, def, count, size] of cases) {
    inst.createFlowWriter(json(def));
    const grains = path.join(d, `${id}.mxl-flow`, 'grains');
    t.is(fs.readdirSync(grains).length, count, id);
    t.is(fs.statSync(path.join(grains, 'data.0')).size, size, id);
  }
  const data = fs.readFileSync(path.join(d, '22222222-2222-4222-8222-222222222222.mxl-flow', 'data'));
  t.is(data.subarray(0x20, 0x30).toString('hex'), '3200000000000000' + '0100000000000000', 'interlaced stores the field rate 50/1');
  inst.close();
  t.deepEqual(fs.readdirSync(d), [], 'releasing the only writer deletes its flows');
});

test('TV4: audio ring sizes, window positions, commit leaves lastWriteTime alone', (t) => {
  const H = 200_000_000n;
  const geo = (o: Record<string, unknown>) => deriveGeometry(parseFlowDef(json(audioDef(ID, o))), { historyNs: H });
  const a = geo({});
  t.deepEqual([a.bufferLength, a.maxCommitBatchSizeHint, a.maxSyncBatchSizeHint, a.wordSize], [19456, 480, 480, 4]);
  const b = geo({ channel_count: 8, bit_depth: 64, media_type: 'audio/float64' });
  t.deepEqual([b.bufferLength, b.channelCount * b.bufferLength * b.wordSize], [19456, 1_245_184]);
  t.deepEqual([geo({ sample_rate: { numerator: 96000 } }).bufferLength, geo({ sample_rate: { numerator: 96000 } }).maxCommitBatchSizeHint], [38912, 960]);
  t.deepEqual([geo({ sample_rate: { numerator: 44100 } }).bufferLength, geo({ sample_rate: { numerator: 44100 } }).maxCommitBatchSizeHint], [18432, 441]);

  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(json(audioDef(ID))) as ContinuousFlowWriter;
  const dir = path.join(d, `${ID}.mxl-flow`);
  t.deepEqual(fs.readdirSync(dir).sort(), ['channels', 'data', 'flow_def.json'], 'no access file or grains for audio');
  t.is(fs.statSync(path.join(dir, 'channels')).size, 155_648);
  t.is(w.maxWriteLength, 9728);
  const created = w.flowHeader.lastWriteTime;
  // The spec's E = 81 600 000 000 100 has E mod 19456 = 7268, not the 18532 it states; the
  // formula is what matters, so check both that E and one with E mod L = 18532.
  const specE = 81_600_000_000_100n;
  t.is(Number(specE % 19456n), 7268);
  t.deepEqual(windowFragments(specE, 480, 19456), [{ start: 6788, length: 480 }]);
  const E = specE - 7268n + 18532n;
  t.is(Number(E % 19456n), 18532);
  const win = w.openSamples(E, 480);
  t.deepEqual(win.fragments, [{ start: 18052, length: 480 }]);
  t.is(win.channels[0][0].byteOffset, 18052 * 4);
  t.is(win.channels[1][0].byteOffset, 77_824 + 18052 * 4);
  t.is(win.channels[1][0].byteLength, 1920);
  win.channels[1][0].fill(0.5);
  t.true(w.commitSamples());
  const data = fs.readFileSync(path.join(dir, 'data'));
  t.is(data.readBigUInt64LE(200), E);
  t.is(data.readUInt32LE(2056), 1);
  t.is(data.readBigUInt64LE(208), created, 'lastWriteTime still equals the creation time');
  t.is(data.readUInt32LE(136), 2);
  t.is(data.readUInt32LE(140), 19456);
  const ch = fs.readFileSync(path.join(dir, 'channels'));
  t.is(ch.readFloatLE(77_824 + 18052 * 4), 0.5);
  t.is(ch.readFloatLE(77_824 + 18051 * 4), 0);
  // A window across the end of the ring gives two fragments.
  t.deepEqual(windowFragments(19456n * 5n + 100n, 480, 19456), [{ start: 19076, length: 380 }, { start: 0, length: 100 }]);
  w.close();
  inst.close();
});

test('TV5: time <-> index table, rounding boundary, round trips', (t) => {
  const ts = 1_700_000_000_000_000_000n;
  const rows: [number, number, bigint, bigint, bigint][] = [
    [50, 1, 85_000_000_000n, 1_700_000_000_000_000_000n, 1_700_000_000_020_000_000n],
    [30000, 1001, 50_949_050_949n, 1_699_999_999_998_300_000n, 1_700_000_000_031_666_667n],
    [60000, 1001, 101_898_101_898n, 1_699_999_999_998_300_000n, 1_700_000_000_014_983_333n],
    [48000, 1, 81_600_000_000_000n, 1_700_000_000_000_000_000n, 1_700_000_000_000_020_833n],
  ];
  for (const [numerator, denominator, idx, t0, t1] of rows) {
    const rate = { numerator, denominator };
    t.is(timestampToIndex(ts, rate), idx);
    t.is(indexToTimestamp(idx, rate), t0);
    t.is(indexToTimestamp(idx + 1n, rate), t1);
    t.is(timestampToIndex(indexToTimestamp(idx + 12345n, rate), rate), idx + 12345n);
  }
  const r50 = { numerator: 50, denominator: 1 };
  t.is(timestampToIndex(ts + 9_999_999n, r50), 85_000_000_000n);
  t.is(timestampToIndex(ts + 10_000_000n, r50), 85_000_000_001n);
  const ntsc = { numerator: 30000, denominator: 1001 };
  t.deepEqual([1n, 2n, 3n].map((i) => indexToTimestamp(i, ntsc)), [33_366_667n, 66_733_333n, 100_100_000n]);
  t.is(timestampToIndex(ts, { numerator: 0, denominator: 1 }), 0xffff_ffff_ffff_ffffn);
  t.is(indexToTimestamp(5n, { numerator: 0, denominator: 1 }), 0xffff_ffff_ffff_ffffn);
  t.is(indexToTimestamp(0n, { numerator: 0, denominator: 1 }), 0n);
  // CLOCK_TAI from the addon agrees with the system clock (TAI offset is whole seconds).
  const drift = Number(taiNow() / 1_000_000n) - Date.now();
  t.true(Math.abs(drift - Math.round(drift / 1000) * 1000) < 50, `CLOCK_TAI − realtime = ${drift} ms`);
});

test('TV6: reader outcomes after a partial commit', (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(json(videoDef(ID))) as DiscreteFlowWriter;
  const r = inst.openFlowReader(ID) as DiscreteFlowReader;
  const i = 85_000_000_003n;
  w.openGrain(i);
  w.commitGrain({ validSlices: 540 });
  const slice = r.getGrainSync(i, { minValidSlices: 500 });
  t.is(slice.status, 'OK');
  t.is(slice.validSlices, 540);
  t.is(slice.payload?.byteLength, 5_529_600);
  t.is(r.getGrainSync(i).status, 'TOO_EARLY');
  t.is(r.getGrainSync(i - 20n).status, 'TOO_LATE');
  t.is(r.getGrainSync(i + 1n).status, 'TOO_EARLY');
  // The open grain accepts more commits; the full one closes it.
  w.commitGrain({ validSlices: 1080 });
  t.is(r.getGrainSync(i).status, 'OK');
  t.throws(() => w.commitGrain({ validSlices: 1080 }), { code: 'MXL_ERR_INVALID_ARG' });
  inst.close();
});

test('TV7: sync-batch rule tables, and the real writer signals exactly then', (t) => {
  const run = (s: number, c: number, heads: number[]) => {
    const b = new SyncBatchTracker(s, c);
    return heads.map((h) => [b.shouldSignal(BigInt(h)), Number(b.last)]);
  };
  t.deepEqual(run(480, 480, [960_000, 960_480, 960_481, 960_500]), [[true, 2000], [true, 2001], [true, 2002], [false, 2002]]);
  t.deepEqual(run(960, 480, [960_000, 960_480, 960_960, 961_460, 961_920, 962_400, 962_940]),
    [[true, 1000], [false, 1000], [true, 1001], [true, 1002], [false, 1002], [false, 1002], [true, 1003]]);

  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(json(audioDef(ID)), { maxCommitBatchSizeHint: 480, maxSyncBatchSizeHint: 960 }) as ContinuousFlowWriter;
  const signals: boolean[] = [];
  const counters: number[] = [];
  for (const h of [960_000, 960_480, 960_960, 961_460, 961_920, 962_400, 962_940]) {
    w.openSamples(BigInt(h), 480);
    signals.push(w.commitSamples());
    counters.push(w.flowHeader.syncCounter);
  }
  t.deepEqual(signals, [true, false, true, true, false, false, true]);
  t.deepEqual(counters, [1, 1, 2, 3, 3, 3, 4]);
  inst.close();
});

/** FLOCK lines of /proc/locks for an inode: e.g. "FLOCK ADVISORY READ". */
function locksOn(ino: bigint): string[] {
  return fs.readFileSync('/proc/locks', 'utf8').split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 6 && f[5].split(':')[2] === String(ino))
    .map((f) => `${f[1]} ${f[2]} ${f[3]}`);
}

test('TV8: writers hold FLOCK ADVISORY READ on data and every grain; activity seen from another process', async (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(json(videoDef(ID, { frame_width: 640, frame_height: 480 })));
  const dir = path.join(d, `${ID}.mxl-flow`);
  const ino = (p: string) => fs.statSync(path.join(dir, p), { bigint: true }).ino;
  t.deepEqual(locksOn(ino('data')), ['FLOCK ADVISORY READ']);
  for (let s = 0; s < 10; s++) t.deepEqual(locksOn(ino(`grains/data.${s}`)), ['FLOCK ADVISORY READ'], `slot ${s}`);
  t.true(isFlowActive(d, ID));
  const child = runChild('reader-child.js', ['active', d, ID]);
  t.deepEqual(await child.next(), { active: true });
  await child.exit;
  w.close();
  t.false(fs.existsSync(dir), 'the last writer deleted its flow');

  // A foreign process (util-linux flock) holding LOCK_SH keeps a flow active and protects it.
  const w2 = inst.createFlowWriter(json(videoDef(ID, { frame_width: 640, frame_height: 480 })));
  // Own process group: flock(1) forks `sleep`, which inherits the locked descriptor.
  const holder = spawn('flock', ['-s', path.join(dir, 'data'), 'sleep', '30'], { stdio: 'ignore', detached: true });
  for (let k = 0; k < 100 && locksOn(ino('data')).length < 2; k++) await sleep(10);
  t.deepEqual(locksOn(ino('data')), ['FLOCK ADVISORY READ', 'FLOCK ADVISORY READ']);
  t.false(w2.close(), 'another holder: the flow is kept');
  t.true(isFlowActive(d, ID));
  t.deepEqual(inst.garbageCollectFlows(), []);
  const exited = new Promise((r) => holder.on('exit', r));
  process.kill(-holder.pid!, 'SIGTERM');
  await exited;
  for (let k = 0; k < 100 && locksOn(ino('data')).length > 0; k++) await sleep(10);
  t.false(isFlowActive(d, ID));
  t.deepEqual(inst.garbageCollectFlows(), [ID]);
  t.deepEqual(fs.readdirSync(d), []);
  inst.close();
});

test('the native futex wait reports again / timeout and the addon exports what shm.ts declares', (t) => {
  const a = addon();
  const d = makeDomain();
  const fd = fs.openSync(path.join(d, 'word'), 'w+');
  a.fallocate(fd, 0, 4096);
  const buf = a.mmap(fd, 4096, true);
  fs.closeSync(fd);
  const u = new Uint32Array(buf);
  t.is(a.futexWait(u, 0, 1, 10), 'again');
  const t0 = performance.now();
  t.is(a.futexWait(u, 0, 0, 30), 'timeout');
  t.true(performance.now() - t0 >= 25);
  t.is(a.futexWake(u, 0), 0);
  t.throws(() => a.futexWait(u, 5000, 0, 1), { code: 'MXL_ERR_OUT_OF_RANGE_TOO_LATE' });
  t.true(a.munmap(buf));
  t.is(buf.byteLength, 0, 'explicit unmap detaches the buffer');
  t.false(a.munmap(buf));
  t.true(a.isTmpfs('/dev/shm'));
});
