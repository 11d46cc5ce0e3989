// The fuzzing leftovers of issue 10, one test each: what a user gives (paths, TargetInfos,
// flow definitions, ports, signals, closed pipes) gets a clear typed error or a clean stop.
import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { FabricsError } from '../../src/errors.js';
import { TargetInfo } from '../../src/fabrics/target-info.js';
import { MxlInstance, parseFlowDef } from '../../src/domain/index.js';
import { readUserFile } from '../../src/util/bounded-read.js';
import { videoDef } from '../cli/fixtures/pattern.js';
import { BIN, ROOT, cleanupAll, runCli, sleep, startCli, tempDir } from '../cli/fixtures/cli.js';

test.after.always(cleanupAll);

const typed = (t: { true: (v: boolean, m?: string) => void; is: (a: unknown, b: unknown, m?: string) => void }, e: unknown, code: string) => {
  t.true(e instanceof FabricsError, `a FabricsError, not ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
  t.is((e as FabricsError).code, code);
};

test('TargetInfo.parse of multi-megabyte strings: a typed error, no RangeError', (t) => {
  for (const s of ['A'.repeat(4_500_000), 'eyJ'.repeat(1_500_000), `{${' '.repeat(4_500_000)}`, 'A'.repeat(9_000_000)]) {
    const e = t.throws(() => TargetInfo.parse(s));
    typed(t, e, 'MXL_ERR_INVALID_ARG');
  }
  t.regex(t.throws(() => TargetInfo.parse('A'.repeat(9_000_000)))!.message, /too long/);
});

test('TargetInfo fields are own properties: "constructor" and friends are not fields', (t) => {
  const e = t.throws(() => TargetInfo.parse('{"constructor":1,"toString":2}'));
  typed(t, e, 'MXL_ERR_INVALID_ARG');
  t.regex(e!.message, /missing addressFormat/);
});

test('flow definition with "format": "constructor", "__proto__" or "toString" is refused, not taken as audio', (t) => {
  const def = JSON.parse(videoDef());
  for (const format of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
    const e = t.throws(() => parseFlowDef(JSON.stringify({ ...def, format })));
    typed(t, e, 'MXL_ERR_INVALID_ARG');
    t.is((e as FabricsError).field, 'format');
  }
  // An inherited name as a field does not count as the field.
  const noRate = { ...def };
  delete noRate.grain_rate;
  const e = t.throws(() => parseFlowDef(JSON.stringify(noRate).replace('"frame_width"', '"constructor":{},"frame_width"')));
  t.is((e as FabricsError).field, 'grain_rate');
});

test("new MxlInstance('') is refused (it would make flows in the current directory)", (t) => {
  for (const d of ['', '   ']) {
    const e = t.throws(() => new MxlInstance(d));
    typed(t, e, 'MXL_ERR_INVALID_ARG');
    t.is((e as FabricsError).field, 'domain');
  }
});

test('bounded reads: devices, FIFOs, sockets and directories are refused by name; big files by size', async (t) => {
  const dir = tempDir('mxlf-faults-');
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const sock = path.join(dir, 'sock');
  const srv = net.createServer().listen(sock);
  await new Promise((r) => srv.once('listening', r));
  const big = path.join(dir, 'big.json');
  fs.writeFileSync(big, Buffer.alloc(2 << 20, 0x20));
  const cases: [string, RegExp][] = [
    ['/dev/zero', /character device/], ['/dev/null', /character device/], [fifo, /FIFO/], [sock, /socket/], [dir, /EISDIR/], [big, /more than the 1048576/],
  ];
  try {
    for (const [p, re] of cases) {
      const start = performance.now();
      const e = t.throws(() => readUserFile(p, { what: 'TargetInfo file' }));
      typed(t, e, 'MXL_ERR_INVALID_ARG');
      t.regex(e!.message, re);
      t.true(e!.message.includes(p), 'names the path');
      t.true(performance.now() - start < 1000, `${p}: refused at once`);
    }
  } finally {
    srv.close();
  }
  const ok = path.join(dir, 'ok.json');
  fs.writeFileSync(ok, '{"a":1}');
  t.is(readUserFile(ok), '{"a":1}');
});

test('CLI: -t @/dev/zero and -f /dev/zero fail at once with one typed line (exit 1)', async (t) => {
  const domain = tempDir();
  const r1 = await runCli(['initiator', '-d', domain, '-f', '5fbec3b1-1b0f-417d-9059-8b94a47197ed', '-t', '@/dev/zero'], 10_000);
  t.is(r1.code, 1, r1.stderr);
  t.regex(r1.stderr, /-t #1: cannot read TargetInfo file \/dev\/zero \(not a regular file\): a character device.*\[MXL_ERR_INVALID_ARG\]$/);
  const r2 = await runCli(['target', '-d', domain, '-f', '/dev/zero', '-p', 'tcp', '-n', '127.0.0.1'], 10_000);
  t.is(r2.code, 1, r2.stderr);
  t.regex(r2.stderr, /cannot read flow definition \/dev\/zero .*character device.*\[MXL_ERR_INVALID_ARG\]$/);
});

test('CLI: --metrics on a busy port fails before setup: typed one-line error, exit 1, no flow created', async (t) => {
  const busy = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => busy.once('listening', r));
  const port = (busy.address() as net.AddressInfo).port;
  const domain = tempDir();
  const work = tempDir();
  const defFile = path.join(work, 'def.json');
  fs.writeFileSync(defFile, videoDef());
  for (const flag of ['--metrics', '--info-http']) {
    const r = await runCli(['target', '-d', domain, '-f', defFile, '-p', 'tcp', '-n', '127.0.0.1', flag, `127.0.0.1:${port}`], 20_000);
    t.is(r.code, 1, r.stderr);
    t.regex(r.stderr, new RegExp(`^mxl-fabrics: target: .*cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\): the port is in use.*\\[MXL_ERR_CONFLICT\\]$`));
    t.false(/Target info:/.test(r.stderr), 'nothing was set up');
    t.deepEqual(fs.readdirSync(domain).filter((n) => n.endsWith('.mxl-flow')), [], 'no flow left behind');
  }
  busy.close();
});

/** How long this host takes now from spawn to a script's first line (the bin installs its handlers there). */
async function nodeBootMs(): Promise<number> {
  const start = performance.now();
  const c = spawn(process.execPath, ['-e', 'process.stdout.write("x")'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((r) => c.stdout.once('data', r));
  const ms = performance.now() - start;
  await new Promise((r) => c.once('exit', r));
  return ms;
}

test('CLI: SIGINT in the first moments (just after Node booted, and up to 500 ms): target exits 0, no flow left', async (t) => {
  const work = tempDir();
  const defFile = path.join(work, 'def.json');
  fs.writeFileSync(defFile, videoDef());
  // A signal while Node itself boots (before any script line runs) cannot be caught by a
  // script; so the first delay is just past this host's current boot time, while the CLI
  // modules are still loading. On a loaded host that boot can take longer than measured:
  // a signal that still lands in it kills the process before anything was set up, which is
  // allowed (nothing to clean). The last delay is long enough that the CLI must handle it.
  const boot = await nodeBootMs();
  let handled = 0;
  for (const delay of [Math.max(150, Math.ceil(boot * 1.5)), Math.max(300, Math.ceil(boot * 2.5)), Math.max(500, Math.ceil(boot * 4))]) {
    const domain = tempDir();
    const p = startCli(['target', '-d', domain, '-f', defFile, '-p', 'tcp', '-n', '127.0.0.1']);
    await sleep(delay);
    p.proc.kill('SIGINT'); // one signal only: a second one means "exit now" (130)
    const kill = setTimeout(() => p.proc.kill('SIGKILL'), 20_000);
    const r = await p.exit;
    clearTimeout(kill);
    const flows = fs.readdirSync(domain).filter((n) => n.endsWith('.mxl-flow'));
    t.log(`SIGINT ${delay} ms after spawn (node boots in ${Math.round(boot)} ms here now): ${r.signal ? `killed by ${r.signal}, still booting` : `exit ${r.code}`}`);
    if (r.signal === 'SIGINT') {
      t.false(p.stderr.some((l) => /Target info:/.test(l)), `${delay} ms: killed by the signal after set-up; stderr:\n${p.stderr.join('\n')}`);
      t.deepEqual(flows, [], `${delay} ms: no flow left`);
      continue;
    }
    handled++;
    t.is(r.signal, null, `${delay} ms: not killed by the signal; stderr:\n${p.stderr.join('\n')}`);
    t.is(r.code, 0, `${delay} ms: exit 0; stderr:\n${p.stderr.join('\n')}`);
    t.deepEqual(flows, [], `${delay} ms: flow removed`);
  }
  t.true(handled >= 1, 'the CLI handled the signal at least once (the last delay is past any boot)');
});

test('CLI: a closed stderr (EPIPE) does not kill the target before cleanup: exit 0 on SIGINT, flow removed', async (t) => {
  const domain = tempDir();
  const work = tempDir();
  const defFile = path.join(work, 'def.json');
  fs.writeFileSync(defFile, videoDef());
  const child = spawn(process.execPath, [BIN, 'target', '-d', domain, '-f', defFile, '-p', 'tcp', '-n', '127.0.0.1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  // Wait for the set-up lines, then close both pipes: every later log line hits EPIPE.
  await new Promise<void>((resolve) => {
    let buf = '';
    child.stderr.on('data', (d: Buffer) => { buf += d.toString(); if (/Target info:/.test(buf)) resolve(); });
  });
  t.true(fs.readdirSync(domain).some((n) => n.endsWith('.mxl-flow')), 'flow created');
  child.stderr.destroy();
  child.stdout.destroy();
  await sleep(2500); // a progress line (every 2 s) is written into the closed pipe
  t.is(child.exitCode, null, 'still running after writing into a closed stderr');
  child.kill('SIGINT');
  const r = await exit;
  t.is(r.signal, null);
  t.is(r.code, 0);
  t.deepEqual(fs.readdirSync(domain).filter((n) => n.endsWith('.mxl-flow')), [], 'flow removed');
});
