import test from 'ava';
import { SpscRing, RingWord, RING_HEADER_BYTES } from '../../src/ipc/spsc-ring.js';
import { FabricsError } from '../../src/errors.js';

const rec = (seq: number, n: number): number[] => Array.from({ length: n }, (_, i) => seq * 100 + i);

test('records come out in order, whole, and a full ring drops and counts', (t) => {
  const ring = SpscRing.create(4, 3);
  t.is(ring.sab.byteLength, RING_HEADER_BYTES + 4 * 3 * 8); // f64 words
  for (let s = 0; s < 4; s++) t.true(ring.tryPush(...rec(s, 3)));
  t.false(ring.tryPush(...rec(4, 3)));
  t.false(ring.tryPush(...rec(5, 3)));
  t.is(ring.overflow, 2);
  t.is(ring.reserve(), -1);
  t.is(ring.overflow, 3);
  const out = new Uint32Array(3);
  for (let s = 0; s < 4; s++) {
    t.true(ring.tryPop(out));
    t.deepEqual(Array.from(out), rec(s, 3));
  }
  t.false(ring.tryPop(out));
  t.deepEqual(ring.stats(), { capacity: 4, tail: 4, head: 4, size: 0, overflow: 3, notifies: 0, sleeps: 0 });
});

test('reserve/commit with deferred publish stays invisible until publish()', (t) => {
  const ring = SpscRing.create(8, 2);
  const consumer = SpscRing.attach(ring.sab);
  for (let s = 0; s < 3; s++) {
    const off = ring.reserve();
    ring.data[off] = s;
    ring.data[off + 1] = s + 10;
    ring.commit(false);
  }
  t.is(consumer.available(), 0);
  t.is(ring.unpublished, 3);
  ring.publish();
  t.is(consumer.available(), 3);
  const out: number[] = [];
  t.is(consumer.drain((d, off) => out.push(d[off], d[off + 1])), 3);
  t.deepEqual(out, [0, 10, 1, 11, 2, 12]);
  t.throws(() => ring.commit(), { instanceOf: FabricsError, message: /without reserve/ });
  ring.reserve();
  t.throws(() => ring.reserve(), { instanceOf: FabricsError, message: /twice/ });
});

test('pushMany publishes what fits, counts the rest, and drain(out, max) copies', (t) => {
  const ring = SpscRing.create(8, 2);
  const src = Uint32Array.from({ length: 20 }, (_, i) => i);
  t.is(ring.pushMany(src, 10), 8);
  t.is(ring.overflow, 2);
  const out = new Uint32Array(6);
  t.is(ring.drain(out, 5), 3); // limited by out.length / recordLength
  t.deepEqual(Array.from(out), [0, 1, 2, 3, 4, 5]);
  t.is(ring.drain(out, 2), 2);
  t.deepEqual(Array.from(out.subarray(0, 4)), [6, 7, 8, 9]);
  t.is(ring.pushMany(src, 2, 16), 2); // 5 slots free now: both fit (the stale head cache is refreshed)
  t.is(ring.available(), 5);
  t.is(ring.overflow, 2);
});

test('records are f64 words and carry 53-bit values exactly', (t) => {
  const ring = SpscRing.create(16, 2);
  t.true(ring.data instanceof Float64Array);
  const big = 2 ** 53 - 1;
  ring.tryPush(big, -0.5);
  const peer = SpscRing.attach(ring.sab);
  t.is(peer.words[RingWord.ELEMENT_TYPE], 3, 'header element type: f64');
  const out = new Float64Array(2);
  t.true(peer.tryPop(out));
  t.deepEqual(Array.from(out), [big, -0.5]);
});

test('counters wrap past 2^32 without losing fullness or order', (t) => {
  const start = 0xffffff00;
  const ring = SpscRing.create(64, 2, { initialCounter: start });
  const consumer = SpscRing.attach(ring.sab);
  let next = 0;
  let expect = 0;
  const out = new Uint32Array(2);
  // Irregular push/pop amounts so every slot and the wrap are crossed repeatedly.
  for (let round = 0; round < 200; round++) {
    const pushes = (round * 7) % 23 + 1;
    for (let i = 0; i < pushes; i++) {
      const free = 64 - consumer.available();
      const ok = ring.tryPush(next, ~next >>> 0);
      t.is(ok, free > 0);
      if (ok) next++;
    }
    const pops = (round * 5) % 19 + 1;
    for (let i = 0; i < pops && consumer.tryPop(out); i++) {
      t.is(out[0], expect);
      t.is(out[1], ~expect >>> 0);
      expect++;
    }
  }
  const s = ring.stats();
  t.true(next > 0x100 + 64, 'the test must cross the wrap');
  t.is(s.tail, (start + next) >>> 0);
  t.is(s.head, (start + expect) >>> 0);
  t.is(s.size, next - expect);
  // Fill exactly to capacity across the wrap point, then one more is refused.
  while (consumer.tryPop(out)) expect++;
  for (let i = 0; i < 64; i++) t.true(ring.tryPush(i, i));
  const before = ring.overflow;
  t.false(ring.tryPush(0, 0));
  t.is(ring.overflow, before + 1);
});

test('create rejects bad geometry with typed errors', (t) => {
  for (const [cap, len] of [[3, 8], [1, 8], [0, 8], [2 ** 31, 8], [1.5, 8], [8, 0], [8, 1025], [8, 2.5]]) {
    const e = t.throws(() => SpscRing.create(cap, len), { instanceOf: FabricsError });
    t.is(e?.code, 'MXL_ERR_INVALID_ARG');
  }
});

test('attach validates the buffer and its header', (t) => {
  const good = SpscRing.create(16, 8);
  const bad = (mutate: (w: Int32Array) => void, size = good.sab.byteLength): FabricsError | undefined => {
    const sab = new SharedArrayBuffer(size);
    new Uint8Array(sab).set(new Uint8Array(good.sab).subarray(0, Math.min(size, good.sab.byteLength)));
    if (size >= 64) mutate(new Int32Array(sab, 0, 16));
    return t.throws(() => SpscRing.attach(sab), { instanceOf: FabricsError });
  };
  const cases: Array<[string, FabricsError | undefined]> = [
    ['magic', bad((w) => { w[RingWord.MAGIC] = 0; })],
    ['version', bad((w) => { w[RingWord.VERSION] = 99; })],
    ['capacity', bad((w) => { w[RingWord.CAPACITY] = 12; })],
    ['capacity', bad((w) => { w[RingWord.CAPACITY] = 32; })], // valid pow2 but the SAB is too small
    ['recordLength', bad((w) => { w[RingWord.RECORD_LENGTH] = 0; })],
    ['type', bad((w) => { w[RingWord.ELEMENT_TYPE] = 7; })],
    ['dataOffset', bad((w) => { w[RingWord.DATA_OFFSET] = 128; })],
    ['sab', bad(() => {}, good.sab.byteLength + 4)],
    ['sab', bad(() => {}, 100)],
  ];
  for (const [field, e] of cases) {
    t.is(e?.code, 'MXL_ERR_INVALID_ARG');
    t.regex(String(e?.field), field === 'capacity' ? /capacity|sab/ : new RegExp(field));
  }
  const notShared = t.throws(() => SpscRing.attach(new ArrayBuffer(1024) as unknown as SharedArrayBuffer), { instanceOf: FabricsError });
  t.is(notShared?.code, 'MXL_ERR_INVALID_ARG');
  t.notThrows(() => SpscRing.attach(good.sab));
});

test('header words sit at the documented byte offsets', (t) => {
  const ring = SpscRing.create(8, 4, { initialCounter: 5 });
  const dv = new DataView(ring.sab);
  t.is(dv.getUint32(0, true), 0x524c584d);
  t.is(String.fromCharCode(...new Uint8Array(ring.sab, 0, 4)), 'MXLR');
  t.is(dv.getUint32(8, true), 8);
  t.is(dv.getUint32(12, true), 4);
  t.is(dv.getUint32(16, true), 3); // element type f64
  t.is(dv.getUint32(20, true), 256);
  ring.tryPush(1, 2, 3, 4);
  ring.tryPush(9, 9, 9, 9);
  ring.tryPush(9, 9, 9, 9);
  t.is(dv.getUint32(64, true), 8); // tail
  t.is(dv.getUint32(128, true), 5); // head
  // slot (5 & 7) = 5 holds the first record: 4 f64 words = 32 bytes per record
  t.is(dv.getFloat64(256 + 5 * 32, true), 1);
  t.is(dv.getFloat64(256 + 5 * 32 + 24, true), 4);
  ring.tryPop(new Uint32Array(4));
  t.is(dv.getUint32(128, true), 6);
  for (let i = 0; i < 8; i++) ring.tryPush(0, 0, 0, 0); // 6 fit
  t.is(dv.getUint32(68, true), 2); // overflow
  t.is(dv.getInt32(192, true), 0); // doorbell
});

test('waitSync refuses to block the main thread', (t) => {
  const ring = SpscRing.create(4, 1);
  const e = t.throws(() => ring.waitSync(10), { instanceOf: FabricsError });
  t.is(e?.code, 'MXL_ERR_INVALID_STATE');
});
