// Torn grains: an initiator process is stopped (SIGSTOP) longer than its source flow's
// history while the writer keeps writing, again and again. With torn protection (the
// default) no grain the target publishes as valid may have another grain's bytes; the
// grains that were reopened in flight arrive as INVALID and are counted on the initiator.
import test from 'ava';
import { spawn } from 'node:child_process';
import readline from 'node:readline';
import { MxlInstance, type DiscreteFlowWriter } from '../../src/domain/index.js';
import { FLOW_ID, flowDef, pattern } from './fixtures/common.js';
import { cleanupAll, fixture, pollUntil, sleep, spawnTarget, stopProc, tempDomain } from './fixtures/procs.js';
import { trackChild, untrackChild } from '../helpers/child-cleanup.js';

test.after.always(cleanupAll);

const WIDTH = 1920;
const HEIGHT = 1080;
const GRAIN_EVERY_MS = 4;
const STOPS = 8;
const STOP_MS = 300;
/** Grains the target must have published before the run ends (when the time allows). */
const MIN_LANDED = 80; // longer than the 200 ms history of a 50 Hz flow (10 grains)

interface Stats { sent: number; completed: number; skipped: number; torn: number; overruns: number; tooLate: number }

async function run(provider: 'tcp' | 'shm', protectTorn: boolean, native = false) {
  const target = spawnTarget({ provider, node: provider === 'tcp' ? '127.0.0.1' : undefined, width: WIDTH, height: HEIGHT });
  const info = await target.info;
  const domain = tempDomain('mxlf-torn-');
  const inst = new MxlInstance(domain);
  const writer = inst.createFlowWriter(flowDef(FLOW_ID, WIDTH, HEIGHT)) as DiscreteFlowWriter;
  const proc = spawn(process.execPath, [fixture('follow-initiator-proc.js'), JSON.stringify({ provider, domain, info, flowId: FLOW_ID, protectTorn, native })], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(proc);
  let stderr = '';
  let ready = false;
  let stats: Stats | undefined;
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  readline.createInterface({ input: proc.stdout! }).on('line', (l) => {
    if (l === 'READY') ready = true;
    else if (l.startsWith('STATS ')) stats = JSON.parse(l.slice(6)) as Stats;
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => { untrackChild(proc); r(); }));
  try {
    await pollUntil(() => ready, () => undefined, 15_000, `initiator ready (stderr: ${stderr})`);
    let index = 1n;
    let writing = true;
    // The writer keeps going whatever the initiator does.
    const writerLoop = (async () => {
      while (writing) {
        const g = writer.openGrain(index);
        pattern(g.payload, index);
        writer.commitGrain();
        index++;
        await sleep(GRAIN_EVERY_MS);
      }
    })();
    await sleep(300);
    // At least STOPS stops, and on until enough grains landed to judge (a loaded machine writes slower).
    const until = Date.now() + 40_000;
    for (let i = 0; i < STOPS || (target.grains.size < MIN_LANDED && Date.now() < until); i++) {
      proc.kill('SIGSTOP');
      await sleep(STOP_MS);
      proc.kill('SIGCONT');
      await sleep(200 + (i % 3) * 70);
    }
    await sleep(300);
    writing = false;
    await writerLoop;
    await sleep(200);
    proc.kill('SIGTERM');
    await exited;
    await sleep(300); // the target prints what landed last
    await stopProc(target);
    // Every grain the target committed as valid must be the grain its index says.
    const zero = new Uint8Array(writer.geometry.grainSize);
    const expected = (i: bigint) => { zero.fill(0); return pattern(zero, i); };
    let verified = 0, torn = 0, invalid = 0, unread = 0;
    for (const [i, v] of target.grains) {
      const [sum] = v.split(' ');
      if ((target.flags.get(i)! & 1) !== 0) invalid++;
      else if (!/^[0-9a-f]{40}$/.test(sum)) unread++;
      else if (sum === expected(i)) verified++;
      else torn++;
    }
    // Completions the target read a ring late (docs/fabrics.md "A target a ring behind"): the
    // grain they were for was overwritten unread, so its record is missing. They show as a
    // `repeat` drop, or as a second record for the newer grain in that slot.
    const grainLines = target.lines.filter((l) => l.startsWith('GRAIN ')).length;
    const lapped = grainLines - target.grains.size + target.lines.filter((l) => l.startsWith('EVENT dropped repeat')).length;
    return { stats: stats!, verified, torn, invalid, unread, lapped, written: Number(index - 1n), stderr };
  } finally {
    if (proc.exitCode === null && proc.signalCode === null) { proc.kill('SIGCONT'); proc.kill('SIGKILL'); }
    await stopProc(target);
    writer.close();
    inst.close();
  }
}

for (const provider of ['tcp', 'shm'] as const) {
  test.serial(`${provider}: an initiator stopped longer than the flow history publishes no torn grain; reopened grains arrive as INVALID`, async (t) => {
    t.timeout(90_000);
    const r = await run(provider, true);
    t.log(`${provider} protected: written ${r.written}, verified ${r.verified}, torn ${r.torn}, invalid at target ${r.invalid}, unread ${r.unread}, read a ring late ${r.lapped}; initiator ${JSON.stringify(r.stats)}`);
    t.truthy(r.stats, `the initiator reported (stderr: ${r.stderr})`);
    t.is(r.torn, 0, 'no torn grain was published as valid');
    t.true(r.verified >= 50, `grains were verified (${r.verified})`);
    t.true(r.stats.skipped > 0, 'the initiator skipped the grains it fell behind on');
    t.true(r.stats.torn > 0, 'some grains were reopened in flight and not published');
    t.true(r.invalid <= r.stats.torn && r.stats.torn - r.invalid <= r.lapped, `each prevented grain arrived as INVALID (${r.invalid} of ${r.stats.torn}; completions read a ring late: ${r.lapped})`);
  });

  test.serial(`${provider}: without torn protection (upstream's one write) every torn grain is at least reported as an overrun`, async (t) => {
    t.timeout(90_000);
    const r = await run(provider, false);
    t.log(`${provider} unprotected: written ${r.written}, verified ${r.verified}, torn ${r.torn}, invalid at target ${r.invalid}, unread ${r.unread}, read a ring late ${r.lapped}; initiator ${JSON.stringify(r.stats)}`);
    t.truthy(r.stats);
    t.true(r.verified >= 50);
    t.is(r.stats.torn, 0);
    t.true(r.torn <= r.stats.overruns, `torn grains published (${r.torn}) were reported as overruns (${r.stats.overruns})`);
  });
}

// The same with the addon's follow loop, which sends every grain as it is committed: the
// torn check and the INVALID commit are its own code.
for (const provider of ['tcp'] as const) {
  test.serial(`${provider}, native follow loop: an initiator stopped longer than the flow history publishes no torn grain; reopened grains arrive as INVALID`, async (t) => {
    t.timeout(90_000);
    const r = await run(provider, true, true);
    t.log(`${provider} native protected: written ${r.written}, verified ${r.verified}, torn ${r.torn}, invalid at target ${r.invalid}, unread ${r.unread}, read a ring late ${r.lapped}; initiator ${JSON.stringify(r.stats)}`);
    t.truthy(r.stats, `the initiator reported (stderr: ${r.stderr})`);
    t.is(r.torn, 0, 'no torn grain was published as valid');
    t.true(r.verified >= 50, `grains were verified (${r.verified})`);
    t.true(r.stats.skipped > 0, 'the loop skipped the grains it fell behind on');
    t.true(r.stats.torn > 0, 'some grains were reopened in flight and not published');
    t.true(r.invalid <= r.stats.torn && r.stats.torn - r.invalid <= r.lapped, `each prevented grain arrived as INVALID (${r.invalid} of ${r.stats.torn}; completions read a ring late: ${r.lapped})`);
  });

  test.serial(`${provider}, native follow loop without torn protection: every torn grain is at least reported as an overrun`, async (t) => {
    t.timeout(90_000);
    const r = await run(provider, false, true);
    t.log(`${provider} native unprotected: written ${r.written}, verified ${r.verified}, torn ${r.torn}, invalid at target ${r.invalid}, unread ${r.unread}, read a ring late ${r.lapped}; initiator ${JSON.stringify(r.stats)}`);
    t.truthy(r.stats);
    t.true(r.verified >= 50);
    t.is(r.stats.torn, 0);
    t.true(r.torn <= r.stats.overruns, `torn grains published (${r.torn}) were reported as overruns (${r.stats.overruns})`);
  });
}
