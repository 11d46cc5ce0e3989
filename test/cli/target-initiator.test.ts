// `mxl-fabrics target` and `mxl-fabrics initiator` as real processes on real libfabric
// (loopback): a writer process (an MXL application) commits 1080p50 v210 grains at real
// rate into a source domain; the initiator follows that flow and forwards each grain to
// targets, which commit them into their own domains; this test reads the target domains
// and checks every grain's payload checksum. Then everything is stopped with SIGINT.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { MxlInstance, type DiscreteFlowReader } from '../../src/domain/index.js';
import { FLOW_ID, expectedSha1, sha1, videoDef } from './fixtures/pattern.js';
import { alive, cleanupAll, roomyDomain, sleep, startCli, startWriter, targetCounter, tempDir, type Proc } from './fixtures/cli.js';

test.after.always(cleanupAll);

const GRAINS = 20;

/** How process `pid` maps the grain files of flows in `domain`: the distinct permission pairs ('r-', 'rw'). */
function grainMappings(pid: number, domain: string): string[] {
  const lines = fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').filter((l) => l.includes(`${domain}/`) && /\/grains\/data\.\d+$/.test(l));
  return [...new Set(lines.map((l) => l.split(/\s+/)[1].slice(0, 2)))].sort();
}

/**
 * Waits for the first grain in `domain`, then follows the flow and checks payload checksums
 * until GRAINS grains are verified. A grain the reader cannot get any more (TOO_LATE: the
 * writer skipped it under load, or this reader was starved for a whole ring) is counted as
 * skipped and the reader rejoins the head; a grain that never comes (the flow stalled) or a
 * wrong payload is a failure.
 */
async function checkGrains(domain: string, lineLength: number, grainSize: number): Promise<{ ok: number; bad: string[]; skipped: number }> {
  const inst = new MxlInstance(domain);
  const r = inst.openDiscreteFlowReader(FLOW_ID) as DiscreteFlowReader;
  try {
    const deadline = Date.now() + 20_000;
    while (r.flowHeader.headIndex === 0n) {
      if (Date.now() > deadline) throw new Error(`no grain arrived in ${domain}`);
      await sleep(20);
    }
    let index = r.flowHeader.headIndex + 1n;
    const bad: string[] = [];
    const sums = new Map<bigint, string>();
    let skipped = 0;
    // Hash while the grain is fresh (3 ms for 5.5 MB); the expected sums are computed afterwards.
    while (sums.size < GRAINS && bad.length === 0 && Date.now() < deadline) {
      const g = await r.getGrain(index, { timeoutMs: 3000 });
      if (g.status === 'TOO_LATE') { skipped++; index = r.flowHeader.headIndex + 1n; continue; }
      if (g.status !== 'OK') { bad.push(`grain ${index}: ${g.status} after 3 s (head ${r.flowHeader.headIndex})`); break; }
      const sum = sha1(g.payload!);
      // Still the same grain after hashing? Otherwise the ring lapped us mid-read (not a transfer fault).
      if (r.getGrainSync(index).status !== 'OK' || r.flowHeader.headIndex - index >= BigInt(r.geometry.grainCount - 2)) { skipped++; index = r.flowHeader.headIndex + 1n; continue; }
      sums.set(index, sum);
      index++;
    }
    let ok = 0;
    for (const [i, sum] of sums) {
      if (sum !== expectedSha1(grainSize, lineLength, i)) bad.push(`grain ${i}: checksum`);
      else ok++;
    }
    if (ok < GRAINS && bad.length === 0) bad.push(`only ${ok} grains verified in 20 s (${skipped} skipped)`);
    return { ok, bad, skipped };
  } finally {
    r.close();
    inst.close();
  }
}

/** SIGINT, then: exit code 0, no signal, process gone. */
async function stopped(t: { is: (a: unknown, b: unknown, m?: string) => void; false: (a: boolean, m?: string) => void }, p: Proc, what: string): Promise<void> {
  const r = await p.stop('SIGINT');
  t.is(r.code, 0, `${what} exits 0 on SIGINT; stderr:\n${p.stderr.join('\n')}`);
  t.is(r.signal, null, `${what} was not killed`);
  t.false(alive(p.proc.pid), `${what} is gone`);
}

/** A target's mxl_fabrics_grains_total, scraped from its --metrics endpoint. */
const targetGrains = (url: string): Promise<number> => targetCounter(url, 'mxl_fabrics_grains_total');

/** Polls the counter until it reaches `n` (5 s at most: then the assertion after it reports the shortfall). */
async function waitForGrains(url: string, n: number): Promise<void> {
  const until = Date.now() + 5000;
  while (Date.now() < until && (await targetGrains(url)) < n) await sleep(20);
}

const flowDirs = (d: string) => fs.readdirSync(d).filter((n) => n.endsWith('.mxl-flow'));

test.serial('tcp fan-out: one initiator (-t @FILE and -t BASE64, provider from the TargetInfo) to two targets; checksums, progress, metrics, clean SIGINT stop', async (t) => {
  const src = roomyDomain(); // 1 s of source history: slack for a loaded 2-core runner
  const dst1 = roomyDomain();
  const dst2 = roomyDomain();
  const work = tempDir();
  const defFile = path.join(work, 'v210_flow.json');
  fs.writeFileSync(defFile, videoDef());
  const infoFile = path.join(work, 'target1.json');

  const writer = await startWriter(src, videoDef());
  const t1 = startCli(['target', '-d', dst1, '-f', defFile, '-p', 'tcp', '-n', '127.0.0.1', '-t', `@${infoFile}`, '--metrics', '127.0.0.1:0']);
  const t2 = startCli(['target', '-d', dst2, '-f', defFile, '-p', 'tcp', '-n', '127.0.0.1', '-t', '-', '--poll', 'blocking', '--metrics', '127.0.0.1:0']);
  const [, b64a] = await t1.waitFor(/^Target info: {2}(\S+)$/);
  await t1.waitFor(/TargetInfo written to/);
  const [, metricsUrl] = await t1.waitFor(/metrics at (http:\/\/\S+)$/);
  const [json2] = await t2.waitFor(/^\{.*\}$/, 15_000, 'stdout');
  const [, b64b] = await t2.waitFor(/^Target info: {2}(\S+)$/);
  const [, metricsUrl2] = await t2.waitFor(/metrics at (http:\/\/\S+)$/);

  // The file holds upstream's raw JSON; the log line is its base64 (the demo convention).
  const raw1 = fs.readFileSync(infoFile, 'utf8');
  t.regex(raw1, /^\{"addressFormat":2,"fabricAddress":"[^"]+","id":"\d+","provider":"tcp","regions":\[/);
  t.is(Buffer.from(b64a, 'base64').toString('utf8'), raw1);
  t.is(Buffer.from(b64b, 'base64').toString('utf8'), json2);

  const ini = startCli(['initiator', '-d', src, '-f', FLOW_ID, '-t', `@${infoFile}`, '-t', b64b]);
  await ini.waitFor(/connected to target #1/);
  t.deepEqual(grainMappings(ini.proc.pid!, src), ['r-'], 'tcp without --writable-mapping: the source grains are mapped read-only');
  await ini.waitFor(/connected to target #2/);
  const [a, b] = await Promise.all([checkGrains(dst1, writer.lineLength, writer.grainSize), checkGrains(dst2, writer.lineLength, writer.grainSize)]);
  if (a.bad.length + b.bad.length > 0) for (const [n, p] of [['target 1', t1], ['target 2', t2], ['initiator', ini]] as const) t.log(`${n} (exit ${p.proc.exitCode}):\n${p.stderr.join('\n')}`);
  t.deepEqual(a.bad, [], 'target 1: every grain arrived with the right payload');
  t.deepEqual(b.bad, [], 'target 2: every grain arrived with the right payload');
  t.is(a.ok + b.ok, 2 * GRAINS);
  if (a.skipped + b.skipped > 0) t.log(`skipped (writer or reader starved): ${a.skipped} + ${b.skipped}`);

  // Progress: a line every 2 s with a rate, a total and the connections.
  const [, total1] = await t1.waitFor(/^target: [\d.]+ grains\/s, ([1-9]\d*) grains, 1 connection, last index \d+, lag -?\d+/, 6000);
  t.true(Number(total1) > 0);
  await ini.waitFor(/^initiator: #1 [\d.]+ grains\/s, [1-9]\d* grains; #2 [\d.]+ grains\/s, [1-9]\d* grains, 2\/2 connected/, 6000);
  await t2.waitFor(/^target: [\d.]+ grains\/s, [1-9]\d* grains, 1 connection/, 6000);

  t.true(await targetGrains(metricsUrl) >= GRAINS, 'grain counter exported and counting');

  await stopped(t, ini, 'initiator');
  t.true(ini.stderr.some((l) => /^initiator: SIGINT: stopping$/.test(l)));
  const [, sent1, sent2] = ini.stderr.map((l) => /^initiator: stopped after (\d+)\/(\d+) grains$/.exec(l)).find(Boolean)!;
  // The initiator saw these writes complete; wait until each target has reaped them too.
  await waitForGrains(metricsUrl, Number(sent1));
  await waitForGrains(metricsUrl2, Number(sent2));
  await stopped(t, t1, 'target 1');
  await stopped(t, t2, 'target 2');
  // Nothing lost on the way: each target received (at least) what the initiator saw complete there.
  const got = (p: Proc) => Number(p.stderr.map((l) => /^target: stopped after (\d+) grains$/.exec(l)).find(Boolean)![1]);
  t.true(Number(sent1) > 0 && got(t1) >= Number(sent1), `target 1 got ${got(t1)}, initiator completed ${sent1}`);
  t.true(Number(sent2) > 0 && got(t2) >= Number(sent2), `target 2 got ${got(t2)}, initiator completed ${sent2}`);
  await stopped(t, writer.p, 'writer');
  // The targets released their flows (last writer gone: flow deleted, like upstream).
  t.deepEqual(flowDirs(dst1), []);
  t.deepEqual(flowDirs(dst2), []);
  for (const p of [t1, t2, ini]) t.false(p.stderr.some((l) => /^\s+at /.test(l)), 'no stack trace');
});

test.serial('shm: -p shm on both sides, TargetInfo passed inline as base64, SIGTERM stops cleanly too', async (t) => {
  const src = roomyDomain(); // 1 s of source history: slack for a loaded 2-core runner
  const dst = roomyDomain();
  const work = tempDir();
  const defFile = path.join(work, 'v210_flow.json');
  fs.writeFileSync(defFile, videoDef());

  const writer = await startWriter(src, videoDef());
  const target = startCli(['target', '-d', dst, '-f', defFile, '-p', 'shm']);
  const [, b64] = await target.waitFor(/^Target info: {2}(\S+)$/);
  t.regex(Buffer.from(b64, 'base64').toString('utf8'), /"addressFormat":9,.*"provider":"shm"/);
  const ini = startCli(['initiator', '-d', src, '-f', FLOW_ID, '-p', 'shm', '-t', b64, '-q', '--writable-mapping']);
  await ini.waitFor(/connected to target #1/);
  t.deepEqual(grainMappings(ini.proc.pid!, src), ['rw'], '--writable-mapping: the source grains are mapped read-write');
  const r = await checkGrains(dst, writer.lineLength, writer.grainSize);
  t.deepEqual(r.bad, []);
  t.is(r.ok, GRAINS);
  if (r.skipped > 0) t.log(`skipped (writer or reader starved): ${r.skipped}`);
  await target.waitFor(/^target: [\d.]+ grains\/s, [1-9]\d* grains, last index \d+/, 6000);
  t.regex(target.stderr[0], /listening on fi_shm:\/\/\S+ \(shm, connectionless, poll hybrid\)/);
  t.false(ini.stderr.some((l) => /grains\/s/.test(l)), '-q: no progress lines');

  const ri = await ini.stop('SIGTERM');
  t.is(ri.code, 0, ini.stderr.join('\n'));
  t.true(ini.stderr.some((l) => /^initiator: SIGTERM: stopping$/.test(l)));
  await stopped(t, target, 'target');
  await stopped(t, writer.p, 'writer');
  t.false(alive(ini.proc.pid));
  t.deepEqual(flowDirs(dst), []);
});
