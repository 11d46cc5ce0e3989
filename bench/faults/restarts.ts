// Fault soak, not part of the suite: kill -9 and restart the target N times (default 20)
// while the initiator runs, per provider, and report resumptions out of attempts and the
// time from each new target being up to its first grain (plus the downtime the initiator
// reports: from the failure it saw to the new target's first completion).
//   node build/bench/faults/restarts.js [--cycles 20] [--provider tcp|shm|both] [--hd] [--target-poll busy]
// --hd sends the CLI tests' 1080p50 v210 flow instead of the light 320x180 one, and
// --target-poll sets the targets' poll mode: a busy 1080p shm target spends most of its time
// holding its region lock, so most of its kills land there (docs/sessions.md).
// "target down" is from each SIGKILL to the new target being up; the downtime the
// initiator reports cannot be shorter. A restart that never resumes (the initiator's worker
// stalled) is counted as not resumed and ends the run.
import { parseArgs } from 'node:util';
import { cleanupAll } from '../../test/cli/fixtures/cli.js';
import { videoDef } from '../../test/cli/fixtures/pattern.js';
import { faultDef, makeRig, median, reportedDowntimes, targetRestarts } from '../../test/faults/fixtures/restart.js';

const { values } = parseArgs({ options: { cycles: { type: 'string' }, provider: { type: 'string' }, hd: { type: 'boolean' }, 'target-poll': { type: 'string' } } });
const cycles = Number(values.cycles ?? 20);
const providers = values.provider === 'tcp' || values.provider === 'shm' ? [values.provider] : ['tcp', 'shm'] as const;

try {
  for (const provider of providers) {
    const rig = await makeRig(provider as 'tcp' | 'shm', values.hd ? videoDef() : faultDef(), values['target-poll'] ? ['--poll', values['target-poll']] : []);
    const r = await targetRestarts(rig, cycles, (s) => console.log(`${provider} ${s}`));
    const ok = r.cycles.filter((c) => c.resumedMs <= 3000 && c.bad.length === 0);
    const up = r.cycles.map((c) => c.resumedMs).filter(Number.isFinite);
    const down = reportedDowntimes(r.ini);
    const dead = r.cycles.map((c) => c.downMs);
    const stalled = r.ini.stderr.some((l) => /worker stalled/.test(l));
    // A lower bound: the initiator's failure can come before the watch has freed the lock.
    const freed = r.ini.stderr.filter((l) => /disconnected from .*holding its region lock/.test(l)).length;
    const note = r.cycles.length < cycles ? ` (stopped after cycle ${r.cycles.length} of ${cycles}: it never resumed)` : '';
    console.log(`${provider}: resumed within 3 s ${ok.length}/${r.cycles.length} attempts${note}; new target up -> first grain median ${Math.round(median(up))} ms, max ${Math.round(Math.max(...up))} ms; ` +
      `initiator-reported downtime median ${median(down)} ms, max ${Math.max(...down)} ms; target down median ${Math.round(median(dead))} ms, max ${Math.round(Math.max(...dead))} ms` +
      `${provider === 'shm' ? `; at least ${freed} targets died holding their region lock (freed)` : ''}${stalled ? '; initiator worker stalled' : ''}`);
    await r.ini.stop('SIGINT');
    await r.target.stop('SIGINT');
  }
} finally {
  cleanupAll();
}
