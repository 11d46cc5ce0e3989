/**
 * Reader side of bench/domain/wake-latency: waits for grains first..first+n-1 and reports, for
 * each, TAI-now at return minus the TAI stamp the writer put in the payload just before
 * committing. Runs as a child process (argv) or a worker thread (workerData).
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { MxlInstance, taiNow } from '../../src/domain/index.js';

interface Params { domain: string; flowId: string; count: number; mode: 'async' | 'sync' }

const p: Params = isMainThread ? (JSON.parse(process.argv[2]) as Params) : (workerData as Params);
const send = (v: unknown) => (isMainThread ? process.stdout.write(JSON.stringify(v) + '\n') : parentPort!.postMessage(v));

const inst = new MxlInstance(p.domain);
const r = inst.openDiscreteFlowReader(p.flowId);
const first = r.flowHeader.headIndex + 1n;
send({ ready: true });
const lat: number[] = [];
for (let k = 0; k < p.count; k++) {
  const i = first + BigInt(k);
  const g = p.mode === 'async' ? await r.getGrain(i, { timeoutMs: 5000 }) : r.getGrainSync(i, { timeoutMs: 5000 });
  const at = taiNow();
  if (g.status !== 'OK') {
    process.stderr.write(`wake-reader: grain ${i}: ${g.status}\n`);
    continue;
  }
  const stamp = new BigUint64Array(g.payload!.buffer, g.payload!.byteOffset, 1)[0];
  lat.push(Number(at - stamp));
}
inst.close();
send({ lat });
