// TargetInfo over HTTP (docs/sessions.md): `target --info-http` serves the TargetInfo at
// /targetinfo (raw JSON, or base64 with ?format=base64); `initiator -t http://.../targetinfo`
// fetches it, and fetches it again when the session fails: a target killed (SIGKILL) and
// restarted on the same --info-http address is resumed without touching the initiator.
import test from 'ava';
import fs from 'node:fs';
import { cleanupAll, sleep, startCli, type Proc } from '../cli/fixtures/cli.js';
import { FLOW_ID, awaitResumption, headOf, kill9, makeRig, type Rig } from './fixtures/restart.js';

test.after.always(cleanupAll);

const PORT = 30_000 + (process.pid % 20_000); // from the pid: parallel runs do not collide
const URL_ = `http://127.0.0.1:${PORT}/targetinfo`;

async function httpTarget(rig: Rig): Promise<{ p: Proc; upAt: number; b64: string }> {
  const p = startCli(['target', '-d', rig.dst, '-f', rig.defFile, '-p', 'tcp', '-n', '127.0.0.1', '-t', `@${rig.infoFile}`, '--info-http', `127.0.0.1:${PORT}`, '-q']);
  const [, b64] = await p.waitFor(/^Target info: {2}(\S+)$/, 20_000);
  return { p, upAt: performance.now(), b64 };
}

test.serial('target --info-http serves its TargetInfo; initiator -t http:// follows a restarted target', async (t) => {
  t.timeout(90_000);
  const rig = await makeRig('tcp');
  let target = await httpTarget(rig);
  t.true(target.p.stderr.some((l) => l === `target: TargetInfo at ${URL_}`), target.p.stderr.join('\n'));

  const json = await (await fetch(URL_)).text();
  t.is(json, fs.readFileSync(rig.infoFile, 'utf8'), 'GET /targetinfo: the raw JSON, as in the -t file');
  const b64 = await fetch(`${URL_}?format=base64`);
  t.is(await b64.text(), target.b64, '?format=base64: the logged base64 form');
  t.is((await fetch(`http://127.0.0.1:${PORT}/other`)).status, 404);
  t.is((await fetch(URL_, { method: 'POST' })).status, 405);

  const ini = startCli(['initiator', '-d', rig.src, '-f', FLOW_ID, '-t', URL_, '-q']);
  await ini.waitFor(/connected to target #1/, 20_000);
  t.true(ini.stderr.some((l) => l.includes(`from ${URL_}`)));
  const first = await awaitResumption(rig, 0n, performance.now(), 3, 20_000);
  t.deepEqual(first.bad, []);

  const cycles: number[] = [];
  for (let c = 1; c <= 3; c++) {
    await kill9(target.p);
    const before = headOf(rig.dst);
    target = await httpTarget(rig);
    const r = await awaitResumption(rig, before, target.upAt, 3, 15_000);
    t.deepEqual(r.bad, [], `cycle ${c}; initiator:\n${ini.stderr.join('\n')}`);
    cycles.push(r.ms);
  }
  t.log(`resumed after ${cycles.map((x) => `${Math.round(x)} ms`).join(', ')} (from the new target being up)`);
  for (const ms of cycles) t.true(ms <= 3000, `resumed within 3 s (${Math.round(ms)} ms)`);
  // The grains are in the target flow a moment before the initiator has logged their completion.
  const resumedLines = () => ini.stderr.filter((l) => /target #1 resumed: downtime \d+ ms/.test(l)).length;
  for (const end = performance.now() + 5000; resumedLines() < 3 && performance.now() < end;) await sleep(20);
  t.is(resumedLines(), 3, ini.stderr.join('\n'));
  t.is((await ini.stop('SIGINT')).code, 0);
  t.is((await target.p.stop('SIGINT')).code, 0);
});
