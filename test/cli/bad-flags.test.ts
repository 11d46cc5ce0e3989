// Every way an operator can get the flags or inputs wrong: one line on stderr that names
// the problem (and says what to do), a non-zero exit code (2 for flag mistakes, 1 for bad
// inputs), and no stack trace unless --verbose. Real CLI processes throughout.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { MxlInstance } from '../../src/domain/index.js';
import { AUDIO_FLOW_ID, FLOW_ID, audioDef, videoDef } from './fixtures/pattern.js';
import { cleanupAll, runCli, tempDir, type CliResult } from './fixtures/cli.js';

const instances: MxlInstance[] = [];
test.after.always(() => {
  for (const i of instances) i.close();
  cleanupAll();
});

/** A well-formed TargetInfo for a 1080p v210 tcp target at 127.0.0.1:1312 (nobody listens). */
const GOOD_INFO = JSON.stringify({
  addressFormat: 2, fabricAddress: 'AgAFIH8AAAEAAAAAAAAAAA==', id: '1', provider: 'tcp',
  regions: [{ addr: '0', len: '5537792', rkey: '1' }],
});
const b64 = (s: string) => Buffer.from(s).toString('base64');

let env: { domain: string; work: string; defFile: string; audioDefFile: string; infoFile: string; badJson: string; notInfo: string };
test.before(() => {
  const domain = tempDir();
  const work = tempDir();
  const inst = new MxlInstance(domain);
  instances.push(inst);
  inst.createFlowWriter(videoDef()); // held open by this process
  inst.createFlowWriter(audioDef());
  const f = (name: string, text: string) => { const p = path.join(work, name); fs.writeFileSync(p, text); return p; };
  env = {
    domain, work,
    defFile: f('v210.json', videoDef()),
    audioDefFile: f('audio.json', audioDef()),
    infoFile: f('target.json', GOOD_INFO),
    badJson: f('bad.json', '{"addressFormat":2,"fabricAddress":'),
    notInfo: f('array.json', '[1,2,3]'),
  };
});

/** The contract for a failure: exit code, exactly one stderr line naming `what`, no stack, nothing on stdout. */
function failsWith(t: { is: (a: unknown, b: unknown, m?: string) => void; regex: (s: string, r: RegExp, m?: string) => void; notRegex: (s: string, r: RegExp, m?: string) => void }, r: CliResult, code: number, what: RegExp): void {
  t.is(r.code, code, `exit code; stderr: ${r.stderr}`);
  t.is(r.stderr.split('\n').length, 1, `one line: ${r.stderr}`);
  t.regex(r.stderr, /^mxl-fabrics: /);
  t.regex(r.stderr, what);
  t.notRegex(r.stderr, /^\s+at /m, 'no stack trace');
  t.is(r.stdout, '');
}

test('unknown flags, missing or bad flag values: exit 2', async (t) => {
  const { domain, defFile, infoFile } = env;
  const cases: [string[], RegExp][] = [
    [['flows', '--bogus'], /flows: Unknown option '--bogus'.*see --help/],
    [['target', '-d', domain, '-f', defFile, '--bogus'], /target: Unknown option '--bogus'/],
    [['initiator', '-x'], /initiator: Unknown option '-x'/],
    [['flows'], /flows: -d\/--domain DIR is required/],
    [['target', '-f', defFile], /target: -d\/--domain DIR is required/],
    [['initiator', '-f', FLOW_ID, '-t', `@${infoFile}`], /initiator: -d\/--domain DIR is required/],
    [['target', '-d', domain], /target: -f\/--flow FLOW_DEF.json is required/],
    [['initiator', '-d', domain, '-t', `@${infoFile}`], /initiator: -f\/--flow FLOW_ID is required/],
    [['initiator', '-d', domain, '-f', FLOW_ID], /initiator: -t\/--target-info is required/],
    [['initiator', '-d', domain, '-f', 'camera-1', '-t', `@${infoFile}`], /-f takes a flow id \(a UUID\), not "camera-1"/],
    [['target', '-d', domain, '-f', defFile, '--poll', 'fast'], /--poll must be busy, hybrid or blocking, not "fast"/],
    [['target', '-d', domain, '-f', defFile, '--metrics', 'localhost'], /--metrics takes HOST:PORT/],
    [['initiator', '-d', domain, '-f', FLOW_ID, '-t', `@${infoFile}`, '--metrics', '1.2.3.4:99999'], /--metrics takes HOST:PORT/],
    [['target', '-d', domain, '-f', defFile, '-p', 'rxm'], /-p\/--provider must be tcp, verbs, efa or shm, not "rxm"/],
    [['initiator', '-d', domain, '-f', FLOW_ID, '-t', '-x'], /initiator: Option '-t' argument is ambiguous/],
    [['flows', '-d', domain, 'extra'], /Unexpected argument 'extra'/],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  results.forEach((r, i) => failsWith(t, r, 2, cases[i][1]));
});

test('missing domain, flow, flow definition or TargetInfo file: exit 1', async (t) => {
  const { domain, defFile, infoFile, work } = env;
  const other = '0a6b8c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d';
  const cases: [string[], RegExp][] = [
    [['target', '-d', `${domain}/nope`, '-f', defFile], /domain .*\/nope does not exist: create it/],
    [['initiator', '-d', domain, '-f', other, '-t', `@${infoFile}`], new RegExp(`flow ${other} not found in domain .*: start its writer first.*\\[MXL_ERR_FLOW_NOT_FOUND\\]`)],
    [['target', '-d', domain, '-f', `${work}/missing.json`], /cannot read flow definition .*missing\.json \(ENOENT\)/],
    [['initiator', '-d', domain, '-f', FLOW_ID, '-t', `@${work}/missing.json`], /-t #1: cannot read TargetInfo file .*missing\.json \(ENOENT\)/],
    [['initiator', '-d', domain, '-f', FLOW_ID, '-t', `@${work}`], /-t #1: cannot read TargetInfo file .* \(EISDIR\)/],
    [['initiator', '-d', domain, '-f', FLOW_ID, '-t', `@${infoFile}`, '-t', `@${work}/missing.json`], /-t #2: cannot read TargetInfo file/],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  results.forEach((r, i) => failsWith(t, r, 1, cases[i][1]));
});

test('malformed TargetInfo (bad base64, bad JSON, wrong document): exit 1, MXL_ERR_INVALID_ARG', async (t) => {
  const { domain, badJson, notInfo, infoFile } = env;
  const ini = (...t: string[]) => ['initiator', '-d', domain, '-f', FLOW_ID, ...t.flatMap((x) => ['-t', x])];
  const cases: [string[], RegExp][] = [
    [ini('not*base64!'), /-t #1 \(inline\): invalid TargetInfo: neither JSON nor base64-wrapped JSON: pass the base64 text the target logs/],
    [ini(b64('hello world')), /-t #1 \(inline\): invalid TargetInfo: base64 text does not decode to a JSON object/],
    [ini(b64('{"addressFormat":2,')), /-t #1 \(inline\): invalid TargetInfo: malformed JSON/],
    [ini(`@${badJson}`), /-t #1 \(.*bad\.json\): invalid TargetInfo: malformed JSON.*the file must hold the raw JSON/],
    [ini(`@${notInfo}`), /invalid TargetInfo: not a JSON object/],
    [ini(b64(JSON.stringify({ addressFormat: 2 }))), /invalid TargetInfo: missing provider/],
    [ini(`@${infoFile}`, b64(GOOD_INFO.replace('"tcp"', '"carrier-pigeon"'))), /-t #2 \(inline\): invalid TargetInfo: unknown provider "carrier-pigeon"/],
    [ini(infoFile), /is a file: write -t @/],
  ];
  const results = await Promise.all(cases.map(([args]) => runCli(args)));
  results.forEach((r, i) => {
    failsWith(t, r, 1, cases[i][1]);
    t.regex(r.stderr, /\[MXL_ERR_INVALID_ARG\]$/);
  });
});

test('an audio flow with a video TargetInfo is refused with one clear line', async (t) => {
  const { domain, infoFile } = env;
  const r = await runCli(['initiator', '-d', domain, '-f', AUDIO_FLOW_ID, '-t', `@${infoFile}`]);
  failsWith(t, r, 1, new RegExp(`initiator: -t #1 describes a video/data target but flow ${AUDIO_FLOW_ID} is audio.*\\[MXL_ERR_INVALID_ARG\\]$`));
});

test('--verbose prints the stack; --help prints usage and exits 0', async (t) => {
  const { domain, infoFile } = env;
  const [v, ...helps] = await Promise.all([
    runCli(['initiator', '-d', domain, '-f', '0a6b8c1d-2e3f-4a5b-8c7d-9e0f1a2b3c4d', '-t', `@${infoFile}`, '--verbose']),
    ...['flows', 'target', 'initiator'].map((c) => runCli([c, '--help'])),
  ]);
  t.is(v.code, 1);
  t.regex(v.stderr, /^\s+at /m, 'stack with --verbose');
  t.regex(v.stderr, /MXL_ERR_FLOW_NOT_FOUND/);
  for (const [i, c] of ['flows', 'target', 'initiator'].entries()) {
    t.is(helps[i].code, 0);
    t.is(helps[i].stderr, '');
    t.regex(helps[i].stdout, new RegExp(`^usage: mxl-fabrics ${c} `));
  }
});
