// kill -9 and restart the target while the initiator keeps running (CLI processes, real
// libfabric on loopback). Each new target writes a new TargetInfo (new port or name, new
// keys, new id) to the same file, which the initiator watches (-t @FILE): it must resume by
// itself within 3 s of the new target being up, and the grains after each resumption must
// carry the right payload at the target. 5 cycles per provider here; bench/faults runs 20.
import test, { type ExecutionContext } from 'ava';
import { addon } from '../../src/native/index.js';
import { cleanupAll, sleep } from '../cli/fixtures/cli.js';
import { type RestartHooks, holdRegionLock, makeRig, median, reportedDowntimes, targetRestarts } from './fixtures/restart.js';

test.after.always(cleanupAll);

const CYCLES = Number(process.env.MXLF_FAULT_CYCLES ?? 5);
const RESUME_WITHIN_MS = 3000;

async function restarts(t: ExecutionContext, provider: 'tcp' | 'shm', cycleCount: number, hooks: RestartHooks = {}): Promise<string[]> {
  t.timeout(110_000);
  const rig = await makeRig(provider);
  const { cycles, ini } = await targetRestarts(rig, cycleCount, (s) => t.log(s), hooks);
  const resumed = cycles.filter((c) => c.resumedMs <= RESUME_WITHIN_MS && c.bad.length === 0);
  for (const end = performance.now() + 5000; reportedDowntimes(ini).length < cycles.length && performance.now() < end;) await sleep(20);
  const downtimes = reportedDowntimes(ini);
  t.log(`${provider}: resumed ${resumed.length}/${cycleCount}; since target up: median ${Math.round(median(cycles.map((c) => c.resumedMs)))} ms, max ${Math.round(Math.max(...cycles.map((c) => c.resumedMs)))} ms; initiator-reported downtime median ${median(downtimes)} ms, max ${Math.max(...downtimes)} ms (target down ${cycles.map((c) => Math.round(c.downMs)).join(', ')} ms)`);
  if (resumed.length < cycleCount || downtimes.length !== cycleCount) t.log(ini.stderr.slice(-40).join('\n'));
  t.is(cycles.length, cycleCount, 'every cycle ran');
  t.deepEqual(cycles.flatMap((c) => c.bad.map((b) => `cycle ${c.cycle}: ${b}`)), [], 'every grain after each resumption has the right payload');
  t.deepEqual(cycles.filter((c) => c.resumedMs > RESUME_WITHIN_MS).map((c) => `cycle ${c.cycle}: ${Math.round(c.resumedMs)} ms`), [], `resumed within ${RESUME_WITHIN_MS} ms of each new target`);
  t.is(downtimes.length, cycleCount, 'the initiator reported each resumption with its downtime');
  // The downtime runs from the first failure the initiator saw (its next write after the
  // kill, later on a loaded host) to the new target's first grain: about the time no
  // target existed. A shm initiator once took the dead target's instant completions for
  // answers and reported ~40 ms for 600 ms; half the dead time is the bound.
  t.deepEqual(cycles.map((c, i) => ({ c, d: downtimes[i] })).filter(({ c, d }) => d < c.downMs / 2).map(({ c, d }) => `cycle ${c.cycle}: reported ${d} ms, target down ${Math.round(c.downMs)} ms`), [], 'each reported downtime covers at least half the time the target was down');
  t.true(ini.proc.exitCode === null, 'the initiator kept running');
  const r = await ini.stop('SIGINT');
  t.is(r.code, 0, ini.stderr.join('\n'));
  return ini.stderr;
}

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`target killed (SIGKILL) and restarted ${CYCLES} times over ${provider}, TargetInfo file rewritten: the initiator resumes each time within 3 s, grains verified`, (t) => restarts(t, provider, CYCLES));
}

// A SIGKILL that lands while the shm target is inside libfabric's progress leaves the
// spinlock in its shared region held for good, and libfabric 1.17 takes that lock in every
// write to the target: an initiator that writes once more, or was already waiting on the
// lock, spins there forever (its worker "stalled"). Measured, a kill finds the lock held
// 0.2 % of the time with the light paced target, 15 % with a 1080p50 one, 72 % when that
// one busy-polls, so these cycles put the region in that state on purpose (docs/sessions.md).
const LOCK_KNOWN = addon().fabricVersion() === '1.17' && process.arch === 'x64';
const lockTest = LOCK_KNOWN ? test.serial : test.skip;
if (!LOCK_KNOWN) console.log(`skipped: shm region lock: its layout is known for libfabric 1.17 on x64, this is ${addon().fabricVersion()} on ${process.arch}`);

lockTest('shm target killed, its region lock left held, 3 times: the initiator does not touch the dead region and resumes each time', async (t) => {
  const held: boolean[] = [];
  await restarts(t, 'shm', 3, { afterKill: (pid) => held.push(holdRegionLock(pid)) });
  t.deepEqual(held, [true, true, true], 'each dead region was left locked');
});

lockTest('shm target killed while the initiator waits on its region lock, 3 times: the lock is freed once the target is gone and the initiator resumes', async (t) => {
  const held: boolean[] = [];
  // Held while the target still runs: the initiator's next write (every 20 ms) waits on it,
  // as when the kill lands while the target is in its progress call.
  const stderr = await restarts(t, 'shm', 3, { beforeKill: async (pid) => { held.push(holdRegionLock(pid)); await sleep(200); } });
  t.deepEqual(held, [true, true, true], 'each region was locked before the kill');
  const freed = stderr.filter((l) => /disconnected from .*exited holding its region lock \(freed\)/.test(l)).length;
  // A rare CI failure counted 2 of 3: keep what each disconnection said, to see which path ran.
  if (freed !== 3) t.log(stderr.filter((l) => /disconnect|error|stall|resumed/i.test(l)).join('\n'));
  t.is(freed, 3, 'each time the initiator was let go by freeing the dead target\'s lock');
});
