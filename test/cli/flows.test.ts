// `mxl-fabrics flows` as a real process over a real domain: an active video flow (writer
// open in this process, grains committed), an inactive audio flow (its writer process was
// SIGKILLed, so the flow stays but nobody holds it), text and --json output, -f filtering.
import test from 'ava';
import { MxlInstance, currentIndex, type DiscreteFlowWriter } from '../../src/domain/index.js';
import { AUDIO_FLOW_ID, FLOW_ID, RATE, audioDef, videoDef } from './fixtures/pattern.js';
import { cleanupAll, runCli, startWriter, tempDir } from './fixtures/cli.js';

const instances: MxlInstance[] = [];
test.after.always(() => {
  for (const i of instances) i.close();
  cleanupAll();
});

/** A domain with an active video flow (head committed) and an inactive audio flow. */
async function populated(): Promise<{ domain: string; head: bigint; maxLag: () => number }> {
  const domain = tempDir();
  const inst = new MxlInstance(domain);
  instances.push(inst);
  const w = inst.createFlowWriter(videoDef(FLOW_ID, 'camera 1')) as DiscreteFlowWriter;
  const head = currentIndex(RATE);
  const at = Date.now();
  for (const i of [head - 1n, head]) {
    w.openGrain(i);
    w.commitGrain({});
  }
  const audio = await startWriter(domain, audioDef(), 'hold');
  audio.p.proc.kill('SIGKILL');
  await audio.p.exit;
  // Nothing is written after `head`: its lag grows by one grain per 20 ms until the CLI looks.
  return { domain, head, maxLag: () => Math.ceil((Date.now() - at) / 20) + 2 };
}

const oneLine = (t: { is: (a: unknown, b: unknown, m?: string) => void }, stderr: string) => t.is(stderr.trim().split('\n').length, 1, `one line: ${stderr}`);

test('text table: one row per flow with format, rate, ring, head, lag, active and label', async (t) => {
  const { domain, head, maxLag } = await populated();
  const r = await runCli(['flows', '-d', domain]);
  t.is(r.code, 0, r.stderr);
  t.is(r.stderr, '');
  const lines = r.stdout.trim().split('\n');
  t.is(lines.length, 3, r.stdout);
  t.regex(lines[0], /^ID\s+FORMAT\s+MEDIA TYPE\s+RATE\s+SLOTS\/RING\s+HEAD INDEX\s+LAG\s+ACTIVE\s+LABEL$/);
  const cells = (id: string) => lines.find((l) => l.startsWith(id))!.split(/\s{2,}/);
  const v = cells(FLOW_ID);
  t.deepEqual(v.slice(0, 5), [FLOW_ID, 'video', 'video/v210', '50', '10']);
  t.is(BigInt(v[5]), head);
  t.true(Number(v[6]) >= 0 && Number(v[6]) <= maxLag(), `lag in grains: ${v[6]} (at most ${maxLag()})`);
  t.is(v[7], 'yes');
  t.is(v[8], 'camera 1');
  const a = cells(AUDIO_FLOW_ID);
  t.deepEqual([a[1], a[2], a[3]], ['audio', 'audio/float32', '48000']);
  t.regex(a[4], /^\d+x2ch$/);
  t.is(a[7], 'no', 'the writer process was killed: inactive');
});

test('--json: machine-readable fields; -f filters; bigints as strings', async (t) => {
  const { domain, head, maxLag } = await populated();
  const r = await runCli(['flows', '-d', domain, '--json']);
  t.is(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
  t.is(rows.length, 2);
  const v = rows.find((x) => x.id === FLOW_ID)!;
  t.like(v, { label: 'camera 1', format: 'video', mediaType: 'video/v210', rate: { numerator: 50, denominator: 1 }, grainCount: 10, headIndex: String(head), active: true });
  t.true(typeof v.lag === 'string' && Number(v.lag) >= 0 && Number(v.lag) <= maxLag(), `lag ${v.lag} (at most ${maxLag()})`);
  const a = rows.find((x) => x.id === AUDIO_FLOW_ID)!;
  t.like(a, { format: 'audio', mediaType: 'audio/float32', channelCount: 2, active: false });
  t.true(typeof a.bufferLength === 'number' && (a.bufferLength as number) > 0);
  t.is(a.grainCount, undefined);

  const one = await runCli(['flows', '-d', domain, '-f', AUDIO_FLOW_ID.toUpperCase(), '--json']);
  t.is(one.code, 0, one.stderr);
  t.deepEqual((JSON.parse(one.stdout) as { id: string }[]).map((x) => x.id), [AUDIO_FLOW_ID]);
});

test('empty domain, missing flow, missing domain, --help', async (t) => {
  const empty = tempDir();
  const [e, missing, noDomain, help] = await Promise.all([
    runCli(['flows', '-d', empty]),
    runCli(['flows', '-d', empty, '-f', FLOW_ID]),
    runCli(['flows', '-d', `${empty}/nope`]),
    runCli(['flows', '--help']),
  ]);
  t.is(e.code, 0);
  t.is(e.stdout.trim(), 'no flows');
  t.is(missing.code, 1);
  oneLine(t, missing.stderr);
  t.regex(missing.stderr, new RegExp(`flow ${FLOW_ID} not found.*MXL_ERR_FLOW_NOT_FOUND`));
  t.is(noDomain.code, 1);
  oneLine(t, noDomain.stderr);
  t.regex(noDomain.stderr, /domain .*nope does not exist/);
  t.is(help.code, 0);
  t.regex(help.stdout, /^usage: mxl-fabrics flows -d DOMAIN/);
});
