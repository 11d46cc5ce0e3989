// Follow mode on a flow that was empty when the initiator started: the first wake-up can
// find several grains already committed (a writer faster than the worker's wake-up), and
// every one of them must go out, not only the head that wake-up sees. Real tcp and shm on
// this host, both follow loops, the worker blocking in the flow's futex (the slowest to
// wake, so a burst of commits is ahead of it). Before the fix the JavaScript loop lost the
// first 2-5 grains of the burst in 15 of 18 runs here; the addon's loop wakes sooner and never
// showed it in this test, though it had the same start rule and is fixed with it.
import test from 'ava';
import { createHash } from 'node:crypto';
import { cleanupAll } from '../helpers/child-cleanup.js';
import { openFollowPair } from '../helpers/follow-pair.js';
import { videoDef } from '../domain/helpers.js';
import { MxlInstance, currentIndex } from '../../src/domain/index.js';

const FLOW = '3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a60';
const RATE = { numerator: 50, denominator: 1 };
const flowDef = JSON.stringify(videoDef(FLOW, { label: 'follow attach test', grain_rate: RATE, frame_width: 1280, frame_height: 720 }));
const BURST = 6;

test.after.always(cleanupAll);

const sha = (b: Uint8Array): string => createHash('sha1').update(b).digest('hex');

for (const [provider, nativeFollow] of [['tcp', true], ['tcp', false], ['shm', false]] as const) {
  test.serial(`${provider}, ${nativeFollow ? 'native' : 'JavaScript'} follow loop: a burst of ${BURST} grains into a flow empty at start arrives whole, first grain included`, async (t) => {
    t.timeout(60_000);
    const pair = await openFollowPair(provider, flowDef, FLOW, { nativeFollow, pollMode: 'blocking' });
    const { writer, dstDir, target } = pair;
    try {
      const first = currentIndex(RATE);
      const landed = new Set<number>();
      const consume = (async () => {
        for await (const g of target.grains()) {
          landed.add(Number(g.index - first));
          if (landed.size === BURST) return;
        }
      })();
      // The burst: written back to back in this thread, before the worker can wake.
      const payloads: Uint8Array[] = [];
      for (let k = 0; k < BURST; k++) {
        const g = writer.openGrain(first + BigInt(k));
        g.payload.fill(k * 37 + 11, 0, 4096); // a few bytes: the burst must stay short
        g.payload[4096 + k] = 0xee;
        payloads.push(g.payload);
        writer.commitGrain();
      }
      const sent = payloads.map(sha); // after the burst: hashing is slower than a wake-up
      await Promise.race([consume, new Promise((r) => setTimeout(r, 10_000))]);
      t.deepEqual([...landed].sort((a, b) => a - b), Array.from({ length: BURST }, (_, k) => k), 'every grain of the burst landed at the target');
      const dst = new MxlInstance(dstDir);
      const reader = dst.openDiscreteFlowReader(FLOW);
      try {
        for (let k = 0; k < BURST; k++) {
          const r = reader.getGrainSync(first + BigInt(k));
          t.is(r.status === 'OK' ? sha(r.payload!) : r.status, sent[k], `grain ${k} arrived byte for byte`);
        }
      } finally {
        reader.close();
        dst.close();
      }
    } finally {
      await pair.close();
    }
  });
}
