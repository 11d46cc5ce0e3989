// The CLI's small promises: --version, a suggestion for a mistyped command, exit 2 for a
// provider name info does not know, help texts that match behaviour, progress lines that
// never wrap on a terminal, and the bench runner's --help that runs nothing.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Log, fitToColumns } from '../../src/cli/endpoint-options.js';
import { didYouMean } from '../../src/cli/did-you-mean.js';
import { ROOT, runCli } from './fixtures/cli.js';

test('--version prints the package version', async (t) => {
  const r = await runCli(['--version']);
  t.is(r.code, 0);
  t.is(r.stdout.trim(), JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
});

test('a mistyped command gets "did you mean" and exit 2; --help lists every command', async (t) => {
  const r = await runCli(['initator']);
  t.is(r.code, 2);
  t.regex(r.stderr, /unknown command "initator": did you mean `mxl-fabrics initiator`\?/);
  t.is(didYouMean('tar', ['target', 'info']), 'target');
  t.is(didYouMean('chek', ['check', 'demo']), 'check');
  t.is(didYouMean('zzzzzz', ['check', 'demo']), undefined);
  const h = await runCli(['--help']);
  t.is(h.code, 0);
  for (const c of ['info', 'flows', 'target', 'initiator', 'writer', 'check', 'demo']) t.regex(h.stdout, new RegExp(`^  ${c} +\\S`, 'm'));
});

test('info -p foo is a usage error (exit 2), one line', async (t) => {
  const r = await runCli(['info', '-p', 'foo']);
  t.is(r.code, 2);
  t.regex(r.stderr, /^mxl-fabrics: info: -p\/--provider must be tcp, verbs, efa or shm, not "foo" \(see --help\)$/);
});

test('target --help names audio flows, which it receives', async (t) => {
  const r = await runCli(['target', '--help']);
  t.is(r.code, 0);
  t.regex(r.stdout, /-f, --flow .*video, data or audio flows/);
});

test('progress lines are cut to the terminal width, so a rewrite never leaves half a line', (t) => {
  const long = `target: ${'1234567890 '.repeat(20)}`;
  t.is(fitToColumns(long, 80).length, 79);
  t.true(fitToColumns(long, 80).endsWith('…'));
  t.is(fitToColumns('short', 80), 'short');
  const written: string[] = [];
  const fake = { isTTY: true, columns: 40, write: (s: string) => { written.push(s); return true; } } as unknown as NodeJS.WriteStream;
  const log = new Log(fake);
  log.progress(long);
  const shown = written.join('').replace('\r\x1b[K', '');
  t.is(shown.length, 39);
});

test('node build/bench/run.js --help prints its usage and runs no bench', (t) => {
  const start = Date.now();
  const r = spawnSync(process.execPath, [path.join(ROOT, 'build', 'bench', 'run.js'), '--help'], { encoding: 'utf8', timeout: 10_000 });
  t.is(r.status, 0);
  t.regex(r.stdout, /^usage: node build\/bench\/run\.js/);
  t.false(r.stdout.includes('==='), 'no bench started');
  t.true(Date.now() - start < 10_000);
});
