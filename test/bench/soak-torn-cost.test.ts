// The long-run benches kept honest in seconds: the soak (bench/soak.ts) samples RSS and fds
// of both processes and judges lost/corrupt and growth; the torn-protection cost bench
// (bench/torn-cost.ts) runs protected and unprotected rounds and reports both.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const OUT = fs.mkdtempSync(path.join(os.tmpdir(), 'mxlf-soak-test-'));
test.after.always(() => fs.rmSync(OUT, { recursive: true, force: true }));

interface SoakSide { samples: { s: number; rss: number; fds: number }[]; rssFirstMiB: number; rssMaxMiB: number; fdMin: number; fdMax: number; lateGrowthMiB: number }
interface SoakRun { provider: string; counts: { written: number; arrived: number; verified: number; lost: number; corrupt: number }; initiator: SoakSide; target: SoakSide; ok: boolean; why: string[] }

test.serial('a short soak over tcp and shm at once: both sides sampled, every grain verified, the verdict follows the figures', (t) => {
  t.timeout(90_000);
  const out = path.join(OUT, 'soak');
  const r = spawnSync(process.execPath, [path.join(REPO, 'build/bench/soak.js'), '--duration', '6', '--format', 'small', '--sample-s', '0.5', '--out', out], { encoding: 'utf8', timeout: 85_000 });
  const rep = JSON.parse(fs.readFileSync(path.join(out, 'soak.json'), 'utf8')) as { schema: string; runs: SoakRun[]; limits: Record<string, number> };
  t.is(rep.schema, 'mxl-fabrics-soak/1');
  t.deepEqual(rep.runs.map((x) => x.provider), ['tcp', 'shm']);
  for (const run of rep.runs) {
    t.true(run.counts.arrived > 200, `${run.provider}: grains moved (${run.counts.arrived})`);
    t.is(run.counts.corrupt, 0, run.provider);
    t.is(run.counts.verified, run.counts.arrived, `${run.provider}: every grain verified`);
    for (const side of [run.initiator, run.target]) {
      t.true(side.samples.length >= 8, `${run.provider}: sampled through the run (${side.samples.length})`);
      // Sampling starts when the processes are spawned; judge the readings once they run.
      t.true(side.samples.filter((x) => x.s > 4).every((x) => x.rss > 10 * 1024 * 1024 && x.fds > 3), `${run.provider}: real RSS and fd readings`);
      t.true(side.fdMax >= side.fdMin && side.rssMaxMiB >= side.rssFirstMiB);
    }
    // The verdict is the figures judged against the limits, nothing else.
    const lostOrCorrupt = run.counts.lost + run.counts.corrupt > 0;
    const grew = [run.initiator, run.target].some((x) => x.lateGrowthMiB > rep.limits.lateGrowthMiB || x.fdMax - x.fdMin > rep.limits.fdSpread);
    if (lostOrCorrupt) t.false(run.ok);
    t.is(run.ok, run.why.length === 0);
    if (!lostOrCorrupt && !grew) t.true(run.ok, run.why.join('; '));
  }
  t.is(r.status, rep.runs.every((x) => x.ok) ? 0 : 1, 'exit status is the verdict');
  t.regex(fs.readFileSync(path.join(out, 'soak.md'), 'utf8'), /\| tcp \|.*\| shm \|/s);
});

test.serial('the torn-protection cost bench runs both variants and reports protected / unprotected', (t) => {
  t.timeout(120_000);
  const out = path.join(OUT, 'torn');
  const r = spawnSync(process.execPath, [path.join(REPO, 'build/bench/torn-cost.js'), '--provider', 'tcp', '--format', 'small', '--rounds', '1', '--duration', '2', '--gate', '0', '--out', out], { encoding: 'utf8', timeout: 115_000 });
  t.is(r.status, 0, r.stderr + r.stdout.slice(-1500));
  const rep = JSON.parse(fs.readFileSync(path.join(out, 'torn-cost.json'), 'utf8')) as { rows: { provider: string; paced: boolean; runs: { protect: boolean; cell: { grainsPerSec: number; cpuInitiator: number; corrupt: number } }[] }[] };
  t.deepEqual(rep.rows.map((x) => [x.provider, x.paced]), [['tcp', true], ['tcp', false]]);
  for (const row of rep.rows) {
    t.deepEqual(row.runs.map((x) => x.protect).sort(), [false, true], 'one protected and one unprotected run');
    for (const x of row.runs) {
      t.true(x.cell.grainsPerSec > 0 && x.cell.cpuInitiator > 0, 'each run measured');
      // Only the protected run must never publish a torn grain: the unprotected one is
      // upstream's single write, which can (that is what the bench prices).
      if (x.protect) t.is(x.cell.corrupt, 0, `${row.paced ? 'paced' : 'unpaced'} protected run: no corrupt grain`);
      else t.true(Number.isInteger(x.cell.corrupt) && x.cell.corrupt >= 0, 'the unprotected run reports its corrupt count');
    }
  }
  t.regex(fs.readFileSync(path.join(out, 'torn-cost.md'), 'utf8'), /protected \/ unprotected/);
});
