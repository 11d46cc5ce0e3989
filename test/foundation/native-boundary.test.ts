// The addon's argument boundary and the lifetime of registered mappings, through the thin
// wrappers on the shm provider (no network): a bad argument is a typed error naming it,
// thrown before anything reaches libfabric; a registration keeps its pages mapped.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addon } from '../../src/native/index.js';
import { FabricsError } from '../../src/errors.js';

const a = addon();
const C = a.constants;
const MR_MODE = Number(C.FI_MR_VIRT_ADDR | C.FI_MR_LOCAL | C.FI_MR_ALLOCATED | C.FI_MR_PROV_KEY);

function shmDomain() {
  const info = a.getInfo({ provider: 'shm', epType: C.FI_EP_RDM, caps: C.FI_RMA | C.FI_WRITE | C.FI_REMOTE_WRITE, mrMode: MR_MODE, source: true,
    node: `nbt${process.pid}`, service: 'x' })[0];
  const fab = new a.Fabric(info);
  const dom = new a.Domain(fab, info);
  return { info, fab, dom };
}

function invalidArg(t: import('ava').ExecutionContext, fn: () => unknown, name: RegExp): void {
  const e = t.throws(fn, { instanceOf: FabricsError });
  t.is(e?.code, 'MXL_ERR_INVALID_ARG');
  t.regex(e!.message, name);
}

test.serial('write/recv/MemoryRegion refuse a bad argument by name with MXL_ERR_INVALID_ARG', (t) => {
  const { info, dom } = shmDomain();
  const buf = new ArrayBuffer(4096);
  const mr = new a.MemoryRegion(dom, buf, 0, buf.byteLength, C.FI_WRITE, 0x61n);
  const ep = new a.Endpoint(dom, info, 1n);
  const W = (segs: unknown, data: unknown = -1, ...rest: unknown[]) =>
    (ep.write as (...x: unknown[]) => number)(segs, 0n, 0n, 1n, data, 0n, 7n, ...rest);
  invalidArg(t, () => W([[mr, 'x', 16]]), /segment offset must be a number/);
  invalidArg(t, () => W([[mr, 0, Number.NaN]]), /segment length must be a non-negative integer/);
  invalidArg(t, () => W([[mr, 4000, 200]]), /exceeds its memory region/);
  invalidArg(t, () => W([[mr, 0, 16]], 'imm'), /write: data must be a number/);
  invalidArg(t, () => W([[mr, 0, 16]], 2 ** 32), /data must be a u32 immediate/);
  invalidArg(t, () => (ep.write as (...x: unknown[]) => number)([[mr, 0, 16]], 0n), /write expects 7 arguments, got 2/);
  invalidArg(t, () => (ep.recv as (...x: unknown[]) => number)(mr, {}, 16, 1n), /recv: offset must be a number/);
  invalidArg(t, () => new (a.MemoryRegion as unknown as new (...x: unknown[]) => unknown)(dom, 'not a buffer', 0, 16, C.FI_WRITE), /MemoryRegion: buffer must be an ArrayBuffer/);
  invalidArg(t, () => (a.mmap as (...x: unknown[]) => unknown)('3', 4096, false), /mmap: fd must be a number/);
  for (const o of [ep, mr]) o.close();
});

test.serial('a registration keeps its mapping: munmap detaches at once, the pages go with the MR', (t) => {
  const dir = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'mxlf-mr-'));
  const file = path.join(dir, 'grain');
  fs.writeFileSync(file, Buffer.alloc(64 << 10, 0xab));
  const { dom } = shmDomain();
  const fd = fs.openSync(file, 'r+');
  try {
    const before = a.mappingCount();
    const map = a.mmap(fd, 64 << 10, true);
    t.is(a.mappingCount(), before + 1);
    const mr = new a.MemoryRegion(dom, map, 0, map.byteLength, C.FI_REMOTE_WRITE, 0x62n);
    t.true(a.munmap(map), 'munmap succeeds while registered');
    t.is(map.byteLength, 0, 'JS can no longer reach the pages');
    t.is(a.mappingCount(), before + 1, 'but the range stays mapped for the registration');
    mr.close();
    t.is(a.mappingCount(), before, 'closing the registration releases the mapping');
    // Without a registration, munmap releases at once (the pin is per MR).
    const map2 = a.mmap(fd, 64 << 10, false);
    t.true(a.munmap(map2));
    t.is(a.mappingCount(), before);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('setTimerSlack sets the calling thread\'s slack, returns the one before, and refuses a bad value', (t) => {
  const before = a.setTimerSlack(1000);
  t.true(before > 0, `previous slack ${before} ns`);
  t.is(a.setTimerSlack(2000), 1000);
  t.is(a.setTimerSlack(before), 2000);
  invalidArg(t, () => a.setTimerSlack(0), /ns >= 1/);
  invalidArg(t, () => (a.setTimerSlack as (x: unknown) => number)('fast'), /ns/);
});

test('yieldCpu returns at once when nobody else waits for the core, and ignores arguments', (t) => {
  const start = process.hrtime.bigint();
  for (let i = 0; i < 1000; i++) t.is(a.yieldCpu(), undefined);
  (a.yieldCpu as (x: unknown) => void)('ignored');
  // 1000 sched_yield calls: microseconds each, not a time slice each.
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  t.true(ms < 1000, `1000 yields took ${ms.toFixed(1)} ms`);
});
