/** Every failure gives its typed FabricsError and leaves the domain clean (no .mxl-tmp-*). */
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { MxlInstance, listFlows, formatFlowsTable, formatFlowsJson, readFlowDef } from '../../src/domain/index.js';
import { FabricsError } from '../../src/errors.js';
import { makeDomain, removeDomains, domainEntries, videoDef, audioDef, dataDef, json } from './helpers.js';

const mounts: string[] = [];
test.after.always(() => {
  for (const m of mounts) {
    try {
      execFileSync('umount', [m]);
    } catch {
      /* not mounted */
    }
  }
  removeDomains();
});

const ID = '0d9e8f7a-6b5c-4d3e-8f2a-1b0c9d8e7f6a';

/** Defines a case: a definition that must be refused with INVALID_ARG naming `field`. */
const bad: [string, string, Record<string, unknown>][] = [
  ['id missing', 'id', videoDef(ID, { id: undefined })],
  ['id not a UUID', 'id', videoDef('not-a-uuid')],
  ['format mux', 'format', videoDef(ID, { format: 'urn:x-nmos:format:mux' })],
  ['label empty', 'label', videoDef(ID, { label: '' })],
  ['label missing', 'label', videoDef(ID, { label: undefined })],
  ['grouphint missing', 'tags.urn:x-nmos:tag:grouphint/v1.0', videoDef(ID, { tags: {} })],
  ['grouphint empty role', 'tags.urn:x-nmos:tag:grouphint/v1.0', videoDef(ID, { tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['grp:'] } })],
  ['grouphint bad scope', 'tags.urn:x-nmos:tag:grouphint/v1.0', videoDef(ID, { tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['g:r:host'] } })],
  ['grain_rate missing', 'grain_rate', videoDef(ID, { grain_rate: undefined })],
  ['grain_rate zero', 'grain_rate.numerator', videoDef(ID, { grain_rate: { numerator: 0 } })],
  ['grain_rate bad denominator', 'grain_rate.denominator', videoDef(ID, { grain_rate: { numerator: 50, denominator: 'x' } })],
  ['frame_width too small', 'frame_width', videoDef(ID, { frame_width: 1 })],
  ['frame_width too big', 'frame_width', videoDef(ID, { frame_width: 7681 })],
  ['frame_height zero', 'frame_height', videoDef(ID, { frame_height: 0 })],
  ['frame_height too big', 'frame_height', videoDef(ID, { frame_height: 4321 })],
  ['video media_type', 'media_type', videoDef(ID, { media_type: 'video/raw' })],
  ['interlace_mode', 'interlace_mode', videoDef(ID, { interlace_mode: 'psf' })],
  ['interlaced at 50', 'grain_rate', videoDef(ID, { interlace_mode: 'interlaced_tff' })],
  ['interlaced odd height', 'frame_height', videoDef(ID, { interlace_mode: 'interlaced_tff', grain_rate: { numerator: 25 }, frame_height: 1081 })],
  ['history shorter than a grain', 'grain_rate', videoDef(ID, { grain_rate: { numerator: 1, denominator: 1 } })],
  ['data media_type', 'media_type', dataDef(ID, { media_type: 'video/v210' })],
  ['sample_rate missing', 'sample_rate', audioDef(ID, { sample_rate: undefined })],
  ['bit_depth 24', 'bit_depth', audioDef(ID, { bit_depth: 24 })],
  ['channel_count 0', 'channel_count', audioDef(ID, { channel_count: 0 })],
  ['audio media_type mismatch', 'media_type', audioDef(ID, { bit_depth: 64 })],
];

for (const [name, field, def] of bad) {
  test(`bad flow definition: ${name} -> INVALID_ARG on ${field}, domain clean`, (t) => {
    const d = makeDomain();
    const inst = new MxlInstance(d);
    const e = t.throws(() => inst.createFlowWriter(json(def)), { instanceOf: FabricsError });
    t.is(e?.code, 'MXL_ERR_INVALID_ARG');
    t.is(e?.field, field);
    t.deepEqual(domainEntries(d), []);
    inst.close();
  });
}

test('malformed flow definition JSON and bad writer options', (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  for (const text of ['{"id": ', '[]', 'null', '42']) {
    const e = t.throws(() => inst.createFlowWriter(text), { instanceOf: FabricsError });
    t.is(e?.code, 'MXL_ERR_INVALID_ARG');
    t.is(e?.field, '$');
  }
  const opt = t.throws(() => inst.createFlowWriter(json(videoDef(ID)), { maxCommitBatchSizeHint: 100, maxSyncBatchSizeHint: 150 }), { instanceOf: FabricsError });
  t.is(opt?.field, 'maxSyncBatchSizeHint');
  t.is(t.throws(() => inst.createFlowWriter(json(videoDef(ID)), '{"maxCommitBatchSizeHint": 0}'), { instanceOf: FabricsError })?.field, 'maxCommitBatchSizeHint');
  t.is(t.throws(() => inst.createFlowWriter(json(videoDef(ID)), '{oops'), { instanceOf: FabricsError })?.field, 'options');
  t.deepEqual(domainEntries(d), []);
  inst.close();
});

test('opening a missing flow, a bad id, a missing domain', (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  t.is(t.throws(() => inst.openFlowReader(ID), { instanceOf: FabricsError })?.code, 'MXL_ERR_FLOW_NOT_FOUND');
  t.is(t.throws(() => inst.isFlowActive(ID), { instanceOf: FabricsError })?.code, 'MXL_ERR_FLOW_NOT_FOUND');
  t.is(t.throws(() => readFlowDef(d, ID), { instanceOf: FabricsError })?.code, 'MXL_ERR_FLOW_NOT_FOUND');
  const badId = t.throws(() => inst.openFlowReader('zzz'), { instanceOf: FabricsError });
  t.is(badId?.code, 'MXL_ERR_INVALID_ARG');
  t.is(badId?.field, 'flowId');
  t.is(t.throws(() => new MxlInstance(path.join(d, 'nope')), { instanceOf: FabricsError })?.code, 'MXL_ERR_NOT_FOUND');
  inst.close();
});

test('a malformed flow_def.json on disk: listing reports it, the binary headers still work', (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(json(videoDef(ID, { frame_width: 640, frame_height: 480 })));
  fs.writeFileSync(path.join(d, `${ID}.mxl-flow`, 'flow_def.json'), '{"label": "broken", ');
  // Discovery ignores anything that is not <uuid>.mxl-flow, including staging dirs.
  fs.mkdirSync(path.join(d, '.mxl-tmp-AAAAAAAAAAAAAAAA'));
  fs.mkdirSync(path.join(d, 'not-a-uuid.mxl-flow'));
  const rows = listFlows(d);
  t.is(rows.length, 1);
  t.is(rows[0].id, ID);
  t.regex(rows[0].error ?? '', /flow_def\.json/);
  t.is(rows[0].format, 'video');
  t.is(rows[0].grainCount, 10);
  t.true(rows[0].active);
  t.regex(formatFlowsTable(rows), /error: flow_def\.json/);
  t.is(JSON.parse(formatFlowsJson(rows))[0].headIndex, '0');
  t.is(inst.openFlowReader(ID).kind, 'discrete', 'a discrete reader does not read flow_def.json');
  w.close();
  inst.close();
});

test('a continuous reader refuses a flow without a readable flow_def.json (FLOW_INVALID)', (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(json(audioDef(ID)));
  fs.rmSync(path.join(d, `${ID}.mxl-flow`, 'flow_def.json'));
  t.is(t.throws(() => inst.openFlowReader(ID), { instanceOf: FabricsError })?.code, 'MXL_ERR_FLOW_INVALID');
  w.close();
  inst.close();
});

test('a flow with a wrong header version or truncated files is FLOW_INVALID', (t) => {
  const d = makeDomain();
  const inst = new MxlInstance(d);
  const w = inst.createFlowWriter(json(videoDef(ID, { frame_width: 640, frame_height: 480 })));
  const data = path.join(d, `${ID}.mxl-flow`, 'data');
  const fd = fs.openSync(data, 'r+');
  fs.writeSync(fd, Buffer.from([2, 0, 0, 0]), 0, 4, 0);
  t.is(t.throws(() => inst.openFlowReader(ID), { instanceOf: FabricsError })?.code, 'MXL_ERR_FLOW_INVALID');
  fs.writeSync(fd, Buffer.from([1, 0, 0, 0]), 0, 4, 0);
  fs.closeSync(fd);
  fs.truncateSync(path.join(d, `${ID}.mxl-flow`, 'grains', 'data.3'), 4096);
  t.is(t.throws(() => inst.openFlowReader(ID), { instanceOf: FabricsError })?.code, 'MXL_ERR_FLOW_INVALID');
  w.close();
  inst.close();
});

function mountTmpfs(opts: string): string | undefined {
  const dir = makeDomain();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', dir], { stdio: 'ignore' });
    mounts.push(dir);
    return dir;
  } catch {
    return undefined;
  }
}

// Mounted up front so a machine that cannot mount tmpfs skips these tests (with the reason)
// instead of passing them.
const roDomain = mountTmpfs('ro,size=4m');
const fullDomain = mountTmpfs('size=1m');
const NO_MOUNT = ' [skipped: mount -t tmpfs is not permitted here]';

(roDomain ? test : test.skip)(`a read-only domain (tmpfs mounted ro) gives PERMISSION_DENIED and leaves nothing${roDomain ? '' : NO_MOUNT}`, (t) => {
  const d = roDomain!;
  const inst = new MxlInstance(d);
  const e = t.throws(() => inst.createFlowWriter(json(videoDef(ID))), { instanceOf: FabricsError });
  t.is(e?.code, 'MXL_ERR_PERMISSION_DENIED');
  t.deepEqual(fs.readdirSync(d), []);
  inst.close();
});

(fullDomain ? test : test.skip)(`a full domain fails at creation (posix_fallocate ENOSPC), not later with SIGBUS, and cleans up${fullDomain ? '' : NO_MOUNT}`, (t) => {
  const d = fullDomain!;
  const inst = new MxlInstance(d);
  const e = t.throws(() => inst.createFlowWriter(json(videoDef(ID))), { instanceOf: FabricsError });
  t.is(e?.op, 'posix_fallocate');
  t.is(e?.errno, 28);
  t.deepEqual(fs.readdirSync(d), [], 'no .mxl-tmp-* left behind');
  inst.close();
});
