import test from 'ava';
import { Worker } from 'node:worker_threads';
import { addon } from '../../src/native/index.js';

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.loader).then((m) => {
  const a = m.addon();
  const C = a.constants;
  // Open and drop real libfabric objects so teardown has something to free.
  const info = a.getInfo({ provider: 'tcp', epType: C.FI_EP_MSG, caps: C.FI_RMA | C.FI_WRITE, source: true, node: '127.0.0.1' })[0];
  const fabric = new a.Fabric(info);
  const domain = new a.Domain(fabric, info);
  const cq = new a.CompletionQueue(domain, 16, true);
  const buf = new ArrayBuffer(1 << 20);
  const mr = new a.MemoryRegion(domain, buf, 0, buf.byteLength, C.FI_WRITE, 7n);
  parentPort.postMessage({ version: a.fabricVersion(), key: String(mr.key), closed: cq.closed });
});
`;

function runWorker(): Promise<{ version: string; key: string; closed: boolean }> {
  const loader = new URL('../../src/native/index.js', import.meta.url).href;
  return new Promise((resolve, reject) => {
    const w = new Worker(workerSource, { eval: true, workerData: { loader } });
    w.once('message', (m) => { void w.terminate().then(() => resolve(m)); });
    w.once('error', reject);
  });
}

test('the addon loads inside a worker thread and opens libfabric objects there', async (t) => {
  const r = await runWorker();
  t.is(r.version, addon().fabricVersion());
  t.is(r.closed, false);
  t.is(r.key, '7');
});

test('loading in many short-lived workers frees their native resources', async (t) => {
  await runWorker(); // warm-up: code pages, libfabric provider init
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 15; i++) await runWorker();
  const grownMiB = (process.memoryUsage().rss - before) / 2 ** 20;
  // Each worker registers a 1 MiB buffer and opens a fabric; leaking them would grow by far more.
  t.true(grownMiB < 60, `RSS grew by ${grownMiB.toFixed(1)} MiB over 15 workers`);
});
