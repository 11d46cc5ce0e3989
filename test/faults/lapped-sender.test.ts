// The cause of `demo --duration 600` stopping at 568 s without an error, reproduced in
// seconds: when the receiving side stops draining for longer than the source flow's
// history (here the target process is stopped with SIGSTOP; in the demo its worker starved
// of CPU by the verifier pool and the painter on a loaded 2-core host), the writes queued
// at the sender are read from source slots the writer has since reused (tcp is a software
// provider: it copies at send time). A grain lands whose header index does not belong in
// its target slot; before the fix commitLanded threw and the target worker died. The demo had no
// listener for a worker's death, so the stream just stopped ("FAILED, lost N").
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { videoDef } from '../cli/fixtures/pattern.js';
import { cleanupAll, sleep, startWriter, tempDir } from '../cli/fixtures/cli.js';
import { headOf, startInitiator, startTarget, type Rig } from './fixtures/restart.js';

test.after.always(cleanupAll);

test('a target stopped longer than the source history (SIGSTOP 600 ms, 5 times) gets lapped grains: it keeps running and receiving', async (t) => {
  const src = tempDir('mxlf-faults-'); // default history: 200 ms, 10 slots at 50 fps
  const dst = tempDir('mxlf-faults-');
  fs.writeFileSync(path.join(dst, 'options.json'), JSON.stringify({ 'urn:x-mxl:option:history_duration/v1.0': 1_000_000_000 }));
  const work = tempDir('mxlf-faults-');
  const defFile = path.join(work, 'v210_flow.json');
  fs.writeFileSync(defFile, videoDef());
  const writer = await startWriter(src, videoDef());
  const rig: Rig = { provider: 'tcp', src, dst, defFile, infoFile: path.join(work, 'target.json'), writer };
  const target = (await startTarget(rig)).p;
  const ini = startInitiator(rig);
  await ini.waitFor(/connected to target #1/, 20_000);
  for (let i = 0; i < 5 && target.proc.exitCode === null; i++) {
    await sleep(700);
    target.proc.kill('SIGSTOP'); // the receiver stops draining: the sender's queued writes wait
    await sleep(600); // longer than the 200 ms source history
    target.proc.kill('SIGCONT');
  }
  await sleep(1000);
  const before = headOf(dst);
  await sleep(1000);
  t.log(`target exit ${target.proc.exitCode}: ${target.stderr.slice(-2).join(' / ')}`);
  t.is(target.proc.exitCode, null, `target still running; stderr:\n${target.stderr.join('\n')}`);
  t.true(headOf(dst) > before, 'grains still arrive');
  await ini.stop('SIGKILL');
  await target.stop('SIGKILL');
});
