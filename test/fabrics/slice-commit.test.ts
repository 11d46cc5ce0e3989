// A grain sent in slice ranges while its writer is already further on (it hands a frame over
// in parts faster than they cross the link). With torn protection the commit write of each
// range carries the grain's header into the target's slot, where readers of the target flow
// see it as soon as it lands: its validSlices must be the range's end, not the writer's count
// when the header was copied, or for a moment the target says slices are valid whose lines
// have not landed (and then goes back to the range's end when it commits). Found by the
// bench's v210a-slices run: a reader woken in that moment read stale alpha lines as valid
// (docs/fabrics.md, two-phase transfer). Both senders: the engine's (transferGrain) and the
// addon's follow loop.
import test from 'ava';
import { cleanupAll, tempShmDir } from '../helpers/child-cleanup.js';
import { MxlInstance, currentIndex, type DiscreteFlowWriter } from '../../src/domain/index.js';
import { Initiator } from '../../src/fabrics/initiator.js';
import { Target } from '../../src/fabrics/target.js';
import { TargetInfo } from '../../src/fabrics/target-info.js';
import { SlotHeader, type GrainRing } from '../../src/fabrics/grain-ring.js';
import { ringFromReader, ringFromWriter } from '../../src/fabrics/flow-rings.js';

const FLOW_ID = '9b3f6a10-2c4d-4e8f-a1b2-c3d4e5f60718';
const flowDef = JSON.stringify({
  id: FLOW_ID, label: 'slice commit', format: 'urn:x-nmos:format:video', media_type: 'video/v210a',
  tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['test:video'] }, grain_rate: { numerator: 50, denominator: 1 },
  frame_width: 1920, frame_height: 1080, interlace_mode: 'progressive', colorspace: 'BT709', components: [],
});

test.after.always(cleanupAll);
const tempDomain = (): string => tempShmDir('mxlf-test-');

for (const [provider, sender] of [['tcp', 'engine'], ['shm', 'engine'], ['tcp', 'native follow loop']] as const) {
  test.serial(`${provider}, ${sender}: the commit of a slice range says the range's end, never the writer's count beyond it`, (t) => {
    t.timeout(60_000);
    const src = new MxlInstance(tempDomain());
    const dst = new MxlInstance(tempDomain());
    const writer = src.createFlowWriter(flowDef) as DiscreteFlowWriter;
    const reader = src.openDiscreteFlowReader(FLOW_ID);
    const targetWriter = dst.createFlowWriter(flowDef) as DiscreteFlowWriter;
    // The target's ring, recording what each commit write left in the slot header (the
    // validSlices readers see) next to the range end its immediate says, before committing.
    const base = ringFromWriter(targetWriter);
    const commits: [number, number][] = [];
    const ring: GrainRing = { ...base, commitLanded: (slot, valid) => { commits.push([new SlotHeader(base.slots[slot], slot).validSlices, valid]); return base.commitLanded!(slot, valid); } };
    const target = new Target({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, ring });
    const initiator = new Initiator({ provider, ring: ringFromReader(reader) });
    const native = sender === 'native follow loop';
    const posted: string[] = [];
    try {
      if (native) {
        const control = new Int32Array(new SharedArrayBuffer(192)); // a control block: not stopped, busy
        t.true(initiator.startNativeFollow({ flowData: reader.flowHeader.buffer, accessFd: reader.accessFile, control }, { posted: (i, a, b) => { posted.push(`${a}-${b}`); }, fellBehind: () => {}, refused: () => {}, passes: () => {} }));
      }
      initiator.addTarget(TargetInfo.parse(target.info.toBase64()));
      const progress = (): void => { target.poll(); if (native) initiator.followNative(0); else initiator.makeProgress(0); };
      for (const until = Date.now() + 5000; initiator.targets[0]?.state !== 'connected' && Date.now() < until;) progress();
      t.is(initiator.targets[0]?.state, 'connected');

      const index = currentIndex({ numerator: 50, denominator: 1 });
      const g = writer.openGrain(index);
      g.payload.fill(7);
      const ranges = [270, 540, 1080];
      const pumpTarget = (ms: number): void => { for (const until = Date.now() + ms; Date.now() < until;) target.poll(); };
      writer.commitGrain({ validSlices: ranges[0] });
      let start = 0;
      for (const [k, end] of ranges.entries()) {
        if (native) {
          // Follow mode: the pass that sees the last range's payload completion copies its
          // header for the commit, then posts what the writer committed since. Step it one
          // pass at a time, so that no later commit can land before this one is read.
          if (k === 0) initiator.followNative(0);
        } else initiator.transferGrain(index, start, end);
        // The writer moves on before this range's payload write has completed.
        if (k + 1 < ranges.length) writer.commitGrain({ validSlices: ranges[k + 1] });
        pumpTarget(30); // the payload lands and is acknowledged
        if (native) for (const until = Date.now() + 5000; posted.length <= Math.min(k + 1, ranges.length - 1) && k + 1 < ranges.length && Date.now() < until;) { initiator.followNative(0); pumpTarget(5); }
        else initiator.makeProgress(0);
        for (const until = Date.now() + 5000; commits.length <= k && Date.now() < until;) { target.poll(); if (!native) initiator.makeProgress(0); else if (k + 1 === ranges.length) initiator.followNative(0); }
        start = end;
      }
      for (const until = Date.now() + 5000; targetWriter.flowHeader.headIndex !== index || commits.at(-1)?.[1] !== 1080; ) {
        if (Date.now() > until) break;
        progress();
      }
      t.log(`commits (header validSlices, range end): ${JSON.stringify(commits)}; posted ${posted.join(' ')}`);
      t.true(commits.length >= 2, 'the grain landed in more than one range');
      t.deepEqual(commits.at(-1), [1080, 1080], 'the last range completes the grain');
      for (const [header, end] of commits) t.is(header, end, `a commit for slices up to ${end} left validSlices ${header} in the slot`);
    } finally {
      initiator.close();
      target.close();
      targetWriter.close();
      reader.close();
      writer.close();
      src.close();
      dst.close();
    }
  });
}
