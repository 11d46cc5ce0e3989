// kill -9 and restart the initiator 20 times while one target runs (CLI processes, real
// libfabric on loopback): the target stays up, takes each new initiator, and the grains
// each one sends land with the right payload.
import test from 'ava';
import { cleanupAll, sleep } from '../cli/fixtures/cli.js';
import { awaitResumption, headOf, kill9, makeRig, median, startInitiator, startTarget } from './fixtures/restart.js';

test.after.always(cleanupAll);

const CYCLES = Number(process.env.MXLF_FAULT_CYCLES_INI ?? 20);

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`initiator killed (SIGKILL) and restarted ${CYCLES} times over ${provider}: the target stays up and takes each new one, grains verified`, async (t) => {
    t.timeout(115_000);
    const rig = await makeRig(provider);
    const target = (await startTarget(rig)).p;
    const times: number[] = [];
    const bad: string[] = [];
    for (let c = 1; c <= CYCLES; c++) {
      const before = headOf(rig.dst);
      const startedAt = performance.now();
      const ini = startInitiator(rig);
      const r = await awaitResumption(rig, before, startedAt, 2, 15_000);
      times.push(r.ms);
      bad.push(...r.bad.map((b) => `cycle ${c}: ${b}`));
      if (r.bad.length > 0) t.log(`cycle ${c}: ${r.bad.join('; ')}\ninitiator:\n${ini.stderr.join('\n')}`);
      await kill9(ini);
      if (target.proc.exitCode !== null) break;
      await sleep(50);
    }
    t.log(`${provider}: ${times.filter(Number.isFinite).length}/${CYCLES} initiators delivered; from start to first grain median ${Math.round(median(times))} ms, max ${Math.round(Math.max(...times))} ms`);
    t.is(target.proc.exitCode, null, `the target is still running; stderr:\n${target.stderr.join('\n')}`);
    t.deepEqual(bad, [], 'every initiator delivered verified grains');
    t.is(times.length, CYCLES);
    const r = await target.stop('SIGINT');
    t.is(r.code, 0, target.stderr.join('\n'));
  });
}
