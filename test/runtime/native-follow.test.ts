// The addon's follow loop (docs/native.md, "The native follow loop") against the JavaScript
// one it replaces, over real tcp on loopback (MSG providers; RDM keeps the JavaScript loop): the same source flow pattern (grains committed
// in four slice ranges, and INVALID grains) must give the target the same landed records,
// the same bytes and the same metrics through either loop.
import test from 'ava';
import { createHash } from 'node:crypto';
import { cleanupAll } from '../helpers/child-cleanup.js';
import { openFollowPair } from '../helpers/follow-pair.js';
import { MxlInstance, currentIndex } from '../../src/domain/index.js';
import { GRAIN_FLAG_INVALID } from '../../src/domain/layout.js';

const FLOW = '6a0d3f0e-8d2b-4c55-9a57-0c1d2e3f4a5b';
const RATE = { numerator: 50, denominator: 1 };
const flowDef = JSON.stringify({
  id: FLOW, label: 'native follow test', format: 'urn:x-nmos:format:video', media_type: 'video/v210',
  tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['test:video'] }, grain_rate: RATE,
  frame_width: 1920, frame_height: 1080, interlace_mode: 'progressive',
});
const RANGES = [270, 540, 810, 1080];
const GRAINS = 12;
const INVALID_EVERY = 4; // grains 3, 7, 11 (relative) are committed INVALID

test.after.always(cleanupAll);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(2);
  }
}

/** Fills the rows [from, to) of a v210 1080p grain with a pattern of the grain index. */
function paintRows(payload: Uint8Array, index: bigint, from: number, to: number): void {
  const row = payload.byteLength / 1080;
  for (let y = from; y < to; y++) payload.fill(Number((index + BigInt(y)) % 251n), y * row, y * row + 64);
}

interface Landed { rel: number; validSlices: number; committed: boolean }

async function run(provider: 'tcp' | 'shm', nativeFollow: boolean): Promise<{ landed: Landed[]; completed: string[]; sums: Map<number, [string, string]>; invalid: number[]; status: unknown }> {
  const pair = await openFollowPair(provider, flowDef, FLOW, { nativeFollow });
  const { writer, dstDir, target, initiator } = pair;
  try {
    const dst = new MxlInstance(dstDir);
    const reader = dst.openDiscreteFlowReader(FLOW);
    const first = currentIndex(RATE);
    const landed: Landed[] = [];
    const consume = (async () => {
      for await (const g of target.grains()) {
        landed.push({ rel: Number(g.index - first), validSlices: g.validSlices, committed: g.committed });
        if (g.index - first === BigInt(GRAINS - 1) && (g.validSlices === 1080 || g.validSlices === 0)) return;
      }
    })();
    // What the initiator reports: one completion per transfer, with the slice it ended at.
    const completed: string[] = [];
    void (async () => { for await (const c of initiator.completions()) completed.push(`${Number(c.index - first)}:${c.endSlice}`); })();
    const sums = new Map<number, [string, string]>();
    const invalid: number[] = [];
    for (let k = 0; k < GRAINS; k++) {
      const index = first + BigInt(k);
      const g = writer.openGrain(index);
      if (k % INVALID_EVERY === INVALID_EVERY - 1) {
        writer.commitGrain({ flags: GRAIN_FLAG_INVALID });
        await until(() => landed.some((l) => l.rel === k), 10_000, `invalid grain ${k} to land`);
        const r = reader.getGrainSync(index, { minValidSlices: 0 });
        if (r.status === 'OK' && r.invalid) invalid.push(k);
        continue;
      }
      let from = 0;
      for (const to of RANGES) {
        paintRows(g.payload, index, from, to);
        writer.commitGrain({ validSlices: to });
        from = to;
        // One range at a time, so each lands as its own transfer in both loops.
        await until(() => landed.some((l) => l.rel === k && l.validSlices === to), 10_000, `grain ${k} slices to ${to}`);
      }
      const r = reader.getGrainSync(index);
      sums.set(k, [createHash('sha1').update(g.payload).digest('hex'), r.status === 'OK' ? createHash('sha1').update(r.payload!).digest('hex') : r.status]);
    }
    await Promise.race([consume, sleep(10_000)]);
    await until(() => completed.length >= landed.length, 5000, 'every completion').catch(() => {});
    const status = await initiator.status();
    reader.close();
    dst.close();
    return { landed, completed, sums, invalid, status };
  } finally {
    await pair.close();
  }
}

for (const provider of ['tcp'] as const) test.serial(`${provider}: the native follow loop lands the same slice ranges, INVALID grains and bytes as the JavaScript loop`, async (t) => {
  t.timeout(90_000);
  const native = await run(provider, true);
  const js = await run(provider, false);
  const expected: Landed[] = [];
  for (let k = 0; k < GRAINS; k++) {
    if (k % INVALID_EVERY === INVALID_EVERY - 1) expected.push({ rel: k, validSlices: 0, committed: true });
    else for (const to of RANGES) expected.push({ rel: k, validSlices: to, committed: true });
  }
  t.deepEqual(native.landed, expected, 'native: one record per slice range, INVALID grains with no valid slice');
  t.deepEqual(js.landed, expected, 'JavaScript: the same records');
  const ends = expected.map((l) => `${l.rel}:${l.validSlices}`);
  t.deepEqual(native.completed, ends, 'native: a completion per transfer, each with the slice it ended at');
  t.deepEqual(js.completed, ends, 'JavaScript: the same completions');
  t.deepEqual(native.invalid, [3, 7, 11], 'native: the INVALID grains read as invalid at the destination');
  t.deepEqual(js.invalid, [3, 7, 11]);
  for (const [k, [sent, got]] of native.sums) t.is(got, sent, `native: grain ${k} arrived byte for byte`);
  for (const [k, [sent, got]] of js.sums) t.is(got, sent, `JavaScript: grain ${k} arrived byte for byte`);
  const peer = (s: unknown): { state: string; grains: number; inFlight: number } => (s as { targets: { state: string; grains: number; inFlight: number }[] }).targets[0];
  t.is(peer(native.status).state, 'connected');
  t.is(peer(native.status).grains, peer(js.status).grains, 'the same completed transfers are counted per target');
});
