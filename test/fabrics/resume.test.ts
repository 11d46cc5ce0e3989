// Resume after a target restart: the target process is killed with SIGKILL and started
// again (new keys; over tcp at the same port, over shm at a new address), and the running
// initiator is given the new TargetInfo with replaceTarget. Every time it resumes within
// 3 s of the new target being up, and the grains after it arrive intact.
import test from 'ava';
import { MxlInstance, currentIndex, type DiscreteFlowWriter } from '../../src/domain/index.js';
import { Initiator, type InitiatorEvent } from '../../src/fabrics/initiator.js';
import { TargetInfo } from '../../src/fabrics/target-info.js';
import { ringFromReader } from '../../src/fabrics/flow-rings.js';
import { FLOW_ID, flowDef, pattern } from './fixtures/common.js';
import { cleanupAll, pollUntil, sleep, spawnTarget, stopProc, tempDomain, type TargetProc } from './fixtures/procs.js';

test.after.always(cleanupAll);

const W = 640, H = 360;
const RATE = { numerator: 50, denominator: 1 };
const RESTARTS = 20;

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: kill -9 and restart the target ${RESTARTS} times; replaceTarget resumes each time within 3 s, grains after it verified`, async (t) => {
    t.timeout(180_000);
    const service = provider === 'tcp' ? String(20000 + ((process.pid * 7) % 20000)) : undefined;
    const start = () => spawnTarget({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, service, width: W, height: H });
    const inst = new MxlInstance(tempDomain());
    const writer = inst.createFlowWriter(flowDef(FLOW_ID, W, H)) as DiscreteFlowWriter;
    const reader = inst.openDiscreteFlowReader(FLOW_ID);
    const initiator = new Initiator({ provider, ring: ringFromReader(reader), reconnectDelayMs: 200 });
    const events: InitiatorEvent[] = [];
    initiator.onEvent = (e) => { if (e.type !== 'completed') events.push(e); };
    let target: TargetProc = start();
    let index = currentIndex(RATE);
    const sums = new Map<bigint, string>();
    /** Sends `n` grains, one every 20 ms, driving progress. */
    const pump = async (n: number): Promise<bigint[]> => {
      const sent: bigint[] = [];
      for (let k = 0; k < n; k++) {
        index++;
        const g = writer.openGrain(index);
        sums.set(index, pattern(g.payload, index));
        writer.commitGrain();
        if (initiator.transferGrain(index).posted === 1) sent.push(index);
        const until = Date.now() + 20;
        while (Date.now() < until) initiator.makeProgress(2);
        await sleep(0);
      }
      return sent;
    };
    const downtimes: number[] = [];
    try {
      let info = TargetInfo.parse(await target.info);
      initiator.addTarget(info);
      await pollUntil(() => initiator.targets[0]?.state === 'connected', () => initiator.makeProgress(5), 10_000, 'first connection');
      await pump(10);
      for (let k = 1; k <= RESTARTS; k++) {
        target.proc.kill('SIGKILL');
        await pollUntil(() => target.exited, () => initiator.makeProgress(2), 5000, 'target gone');
        await pump(5); // the writer goes on while the target is down
        target = start();
        const next = TargetInfo.parse(await target.info);
        const up = Date.now();
        initiator.replaceTarget(info.id, next);
        await pollUntil(() => events.some((e) => e.type === 'resumed' && e.target === next.id), () => initiator.makeProgress(5), 10_000, `resumption ${k}`);
        const took = Date.now() - up;
        const ev = events.find((e) => e.type === 'resumed' && e.target === next.id) as Extract<InitiatorEvent, { type: 'resumed' }>;
        t.true(took < 3000, `resumption ${k} took ${took} ms`);
        t.is(ev.previous, info.id);
        t.is(ev.epoch, k + 1);
        downtimes.push(ev.downtimeMs);
        info = next;
        const sent = await pump(10);
        t.true(sent.length >= 8, `grains posted after resumption ${k}: ${sent.length}`);
        const tp = target;
        await pollUntil(() => sent.every((i) => tp.grains.has(i)), () => initiator.makeProgress(5), 10_000, `grains after resumption ${k}`);
        for (const i of sent) t.is(tp.grains.get(i)?.split(' ')[0] ?? '', sums.get(i) ?? '?', `grain ${i} after resumption ${k}`);
      }
      const st = initiator.targets[0];
      t.is(st.id, info.id);
      t.is(st.epoch, RESTARTS + 1);
      t.true(st.grains >= 10 + RESTARTS * 8, 'counters kept across sessions');
      t.log(`${provider}: ${RESTARTS} of ${RESTARTS} resumed; downtime per restart (ms): ${downtimes.join(', ')}`);
    } finally {
      initiator.close(); reader.close(); writer.close(); inst.close();
      await stopProc(target);
    }
  });
}
