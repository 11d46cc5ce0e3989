// Fan-out with a frozen receiver, for grains: one CLI initiator follows a video flow into two
// CLI targets and one of them is stopped (SIGSTOP) for 1.2 s, within the initiator's stall
// timeout (1.75 s). The other target must keep getting every grain through the stop, with
// the right payload, and the frozen one must carry verified grains again once it continues.
// (The audio counterpart is in test/cli/audio-cli.test.ts.)
import test from 'ava';
import path from 'node:path';
import { cleanupAll, roomyDomain, sleep } from '../cli/fixtures/cli.js';
import { awaitResumption, headOf, makeRig, startInitiator, startTarget } from './fixtures/restart.js';

test.after.always(cleanupAll);

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: one initiator into two targets, one frozen (SIGSTOP) for 1.2 s: the other gets every grain through the stop, the frozen one resumes`, async (t) => {
    t.timeout(90_000);
    const rig = await makeRig(provider);
    const other = { ...rig, dst: roomyDomain(), infoFile: path.join(path.dirname(rig.infoFile), 'target-b.json') };
    const running = (await startTarget(rig)).p;
    const frozen = (await startTarget(other)).p;
    const ini = startInitiator(rig, ['-t', `@${other.infoFile}`]);
    try {
      await ini.waitFor(/connected to target #1/, 20_000);
      await ini.waitFor(/connected to target #2/, 20_000);
      const v0 = await awaitResumption(other, headOf(other.dst), performance.now(), 5, 10_000);
      t.deepEqual(v0.bad, [], 'the second target gets verified grains before the stop');
      frozen.proc.kill('SIGSTOP');
      await sleep(600);
      const a1 = headOf(rig.dst);
      await sleep(500);
      const a2 = headOf(rig.dst);
      await sleep(100);
      frozen.proc.kill('SIGCONT');
      // 25 grains are written in those 500 ms (50 fps).
      t.true(a2 - a1 >= 15n, `the running target got ${a2 - a1} grains in the last 500 ms of the stop`);
      const v1 = await awaitResumption(rig, a2, performance.now(), 10, 10_000);
      t.deepEqual(v1.bad, [], 'the running target: grains after the stop verified');
      const v2 = await awaitResumption(other, headOf(other.dst), performance.now(), 10, 10_000);
      t.deepEqual(v2.bad, [], 'the frozen target: verified grains again after SIGCONT');
      t.is(running.proc.exitCode, null);
      t.is(frozen.proc.exitCode, null);
      t.is(ini.proc.exitCode, null, 'the initiator kept running');
    } finally {
      await ini.stop('SIGKILL');
      await running.stop('SIGKILL');
      await frozen.stop('SIGKILL');
      await rig.writer.p.stop('SIGKILL');
    }
  });
}
