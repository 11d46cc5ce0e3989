// `mxl-fabrics target --max-initiators N` as real processes over tcp loopback: with the
// default (1) a second initiator is refused, and both sides say why; with 2 both initiators
// connect and the target counts two connections. Bad values are usage errors (exit 2).
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { FLOW_ID } from './fixtures/pattern.js';
import { cleanupAll, runCli, sleep, startCli, startWriter, targetCounter, tempDir, type Proc } from './fixtures/cli.js';

test.after.always(cleanupAll);

/** A small video flow (320x180 v210 at 50 fps): the test is about connections, not bandwidth. */
const smallDef = JSON.stringify({
  id: FLOW_ID, label: 'max-initiators test', description: 'mxl-fabrics CLI test', format: 'urn:x-nmos:format:video',
  tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['cli:test'] }, grain_rate: { numerator: 50, denominator: 1 },
  frame_width: 320, frame_height: 180, media_type: 'video/v210', interlace_mode: 'progressive', colorspace: 'BT709', components: [],
});

async function setup(extra: string[]): Promise<{ target: Proc; b64: string; src: string; stopAll: () => Promise<void>; procs: Proc[] }> {
  const src = tempDir();
  const dst = tempDir();
  const defFile = path.join(tempDir(), 'flow.json');
  fs.writeFileSync(defFile, smallDef);
  const writer = await startWriter(src, smallDef);
  const target = startCli(['target', '-d', dst, '-f', defFile, '-p', 'tcp', '-n', '127.0.0.1', ...extra]);
  const [, b64] = await target.waitFor(/^Target info: {2}(\S+)$/);
  const procs: Proc[] = [writer.p, target];
  return { target, b64, src, procs, stopAll: async () => { for (const p of procs.reverse()) await p.stop('SIGINT'); } };
}

test.serial('default: a second initiator is refused; the target names the limit and the flag, the initiator says it was refused', async (t) => {
  t.timeout(60_000);
  const s = await setup([]);
  try {
    const ini1 = startCli(['initiator', '-d', s.src, '-f', FLOW_ID, '-t', s.b64]);
    s.procs.push(ini1);
    await ini1.waitFor(/connected to target #1/);
    await s.target.waitFor(/^target: initiator connected \(connection 1\)$/);
    const ini2 = startCli(['initiator', '-d', s.src, '-f', FLOW_ID, '-t', s.b64]);
    s.procs.push(ini2);
    const [refusedAtTarget] = await s.target.waitFor(/^target: peer error: .*/);
    t.regex(refusedAtTarget, /refused a connection request: this target takes 1 initiator at a time \(maxInitiators\) and has 1 \(--max-initiators N accepts more\)$/);
    const [refusedAtInitiator] = await ini2.waitFor(/^initiator: target #1 \S+: .*/);
    t.regex(refusedAtInitiator, /the target refused the connection: .*it already has its initiator/);
    // The first keeps its connection; the second never gets one.
    await s.target.waitFor(/^target: [\d.]+ grains\/s, [1-9]\d* grains, 1 connection,/, 8000);
    t.false(ini2.stderr.some((l) => /connected to target #1/.test(l)), 'the second initiator is never connected');
    t.false(s.target.stderr.some((l) => /connection 2\)/.test(l)), 'the target never accepted a second connection');
  } finally { await s.stopAll(); }
});

test.serial('--max-initiators 2: both initiators are accepted and deliver', async (t) => {
  t.timeout(60_000);
  const s = await setup(['--max-initiators', '2', '--metrics', '127.0.0.1:0']);
  try {
    const [, metricsUrl] = await s.target.waitFor(/metrics at (http:\/\/\S+)$/);
    const inis = [0, 1].map(() => startCli(['initiator', '-d', s.src, '-f', FLOW_ID, '-t', s.b64]));
    s.procs.push(...inis);
    for (const ini of inis) await ini.waitFor(/connected to target #1/);
    await s.target.waitFor(/^target: initiator connected \(connection 1\)$/);
    await s.target.waitFor(/^target: initiator connected \(connection 2\)$/);
    await s.target.waitFor(/^target: [\d.]+ grains\/s, [1-9]\d* grains, 2 connections,/, 8000);
    // Each initiator's own writes complete (its progress counts grains).
    for (const ini of inis) await ini.waitFor(/^initiator: [\d.]+ grains\/s, [1-9]\d* grains, 1\/1 connected/, 8000);
    t.false(s.target.stderr.some((l) => /peer error/.test(l)), s.target.stderr.join('\n'));
    // Both send the same flow: each grain's second copy is a redundant sender's duplicate,
    // published once and not reported as a dropped write.
    t.false(s.target.stderr.some((l) => /dropped/.test(l)), s.target.stderr.join('\n'));
    let dup = 0;
    for (const end = Date.now() + 5000; Date.now() < end && dup === 0; await sleep(100)) dup = await targetCounter(metricsUrl, 'mxl_fabrics_grains_duplicate_total');
    t.true(dup > 0, `the second copies are counted as duplicates (mxl_fabrics_grains_duplicate_total ${dup})`);
    t.true(await targetCounter(metricsUrl, 'mxl_fabrics_grains_total') > 0);
  } finally { await s.stopAll(); }
});

test('--max-initiators: 0, a fraction, a word or a huge number is a usage error (exit 2, one line)', async (t) => {
  const dir = tempDir();
  const defFile = path.join(dir, 'flow.json');
  fs.writeFileSync(defFile, smallDef);
  for (const v of ['0', '1.5', 'two', '-1', '100000']) {
    const r = await runCli(['target', '-d', dir, '-f', defFile, `--max-initiators=${v}`]);
    t.is(r.code, 2, `${v}: ${r.stderr}`);
    t.is(r.stderr, `mxl-fabrics: target: --max-initiators must be an integer from 1 to 1024, not ${JSON.stringify(v)} (see --help)`);
  }
  const help = await runCli(['target', '--help']);
  t.regex(help.stdout, /--max-initiators/);
});

test.serial('idle per connection: of two initiators, the SIGSTOPped one shows idle, the other stays active; SIGCONT: active again', async (t) => {
  t.timeout(90_000);
  const s = await setup(['--max-initiators', '2']);
  const ini1 = startCli(['initiator', '-d', s.src, '-f', FLOW_ID, '-t', s.b64, '-q']);
  s.procs.push(ini1);
  let ini2: Proc | undefined;
  try {
    await s.target.waitFor(/^target: initiator connected \(connection 1\)$/);
    ini2 = startCli(['initiator', '-d', s.src, '-f', FLOW_ID, '-t', s.b64, '-q']);
    s.procs.push(ini2);
    await s.target.waitFor(/^target: initiator connected \(connection 2\)$/);
    await s.target.waitFor(/^target: [\d.]+ grains\/s, [1-9]\d* grains, 2 connections,/, 8000);
    const before = s.target.stderr.length;
    ini2.proc.kill('SIGSTOP');
    const stoppedAt = Date.now();
    await s.target.waitFor(/^target: connection 2 idle: nothing landed for 1000 ms/, 5000);
    const ms = Date.now() - stoppedAt;
    t.log(`connection 2 shown idle ${ms} ms after SIGSTOP`);
    // Idle counts from the connection's last landed grain, which can precede the SIGSTOP by
    // more than a grain period on a loaded machine (831 ms after the stop was seen in CI: a
    // 170 ms gap before it). A connection shown idle at once would still fail.
    t.true(ms >= 500 && ms < 3000, `idle after the idle time, not long after (${ms} ms)`);
    // Connection 1 keeps delivering: never idle, and the progress line counts one idle connection.
    const line = () => s.target.stderr.slice(before).filter((l) => /^target: [\d.]+ grains\/s/.test(l)).at(-1) ?? '';
    const progressAfter = s.target.stderr.length;
    await s.target.waitFor(/^target: [\d.]+ grains\/s, [1-9]\d* grains, 2 connections \(1 idle\),/, 8000);
    t.true(s.target.stderr.slice(progressAfter).some((l) => /2 connections \(1 idle\)/.test(l)), line());
    const rate = Number(/^target: ([\d.]+) grains\/s/.exec(line())![1]);
    t.true(rate > 20, `the active initiator still delivers (${rate} grains/s)`);
    ini2.proc.kill('SIGCONT');
    await s.target.waitFor(/^target: connection 2 active again$/, 8000);
    await s.target.waitFor(/^target: [\d.]+ grains\/s, [1-9]\d* grains, 2 connections,/, 8000);
    t.false(s.target.stderr.some((l) => /connection 1 idle/.test(l)), `connection 1 never idle:\n${s.target.stderr.join('\n')}`);
    t.false(s.target.stderr.some((l) => /disconnected/.test(l)), 'a stopped initiator is idle, not gone');
  } finally {
    ini2?.proc.kill('SIGCONT');
    await s.stopAll();
  }
});
