// Child process for ring-wait.test.ts: checks that SpscRing.waitAsync keeps the event loop
// alive while pending and releases it once settled. Prints one JSON line.
import { Worker } from 'node:worker_threads';
import { SpscRing } from '../../src/ipc/spsc-ring.js';

const mode = process.argv[2];
const ring = SpscRing.create(8, 2);
const t0 = performance.now();
if (mode === 'timeout') {
  // Nothing else is ref'd: without the held timer the process would exit with code 13 here.
  const got = await ring.waitAsync(200);
  console.log(JSON.stringify({ got, ms: performance.now() - t0 }));
} else if (mode === 'notified') {
  // An unref'd worker pushes after 100 ms. The wait's timeout is long: if its timer were
  // left behind after the push resolved it, the process would live for 20 s.
  const w = new Worker(new URL('./ring-helper-worker.js', import.meta.url), { workerData: { role: 'wake-after', ring: ring.sab, delayMs: 100 } });
  w.unref();
  const got = await ring.waitAsync(20_000);
  console.log(JSON.stringify({ got, ms: performance.now() - t0 }));
} else {
  throw new Error(`unknown mode ${mode}`);
}
