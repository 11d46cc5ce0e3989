// A real Prometheus (Debian's `prometheus`, on loopback, 1 s scrapes, file-based discovery)
// scrapes real CLI processes: two targets and one initiator with different --name values,
// on libfabric tcp over loopback, while a writer process commits grains. PromQL through
// the HTTP API must tell the processes and endpoints apart, join the flow id, see process
// metrics, and see the fault counters move when a target is SIGKILLed; the initiator's
// /readyz must turn 503 within 10 s of the kill and 200 again once it runs against a new
// target.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { FLOW_ID } from '../cli/fixtures/pattern.js';
import { cleanupAll, sleep, startCli, startWriter, tempDir, type Proc } from '../cli/fixtures/cli.js';
import { trackChild, untrackChild } from '../helpers/child-cleanup.js';

const hasPrometheus = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).status === 0;
if (!hasPrometheus) console.warn('prometheus not found (Debian package prometheus): the live scrape test is skipped');
const live = hasPrometheus ? test.serial : test.skip;

test.after.always(cleanupAll);

/** A small 50 fps v210 flow: the point is the metrics, not the bandwidth. */
const smallDef = JSON.stringify({
  id: FLOW_ID, label: 'metrics live test', format: 'urn:x-nmos:format:video', tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['test:metrics'] },
  grain_rate: { numerator: 50, denominator: 1 }, frame_width: 320, frame_height: 180, media_type: 'video/v210',
  interlace_mode: 'progressive', colorspace: 'BT709', components: [],
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

type Vector = Array<{ metric: Record<string, string>; value: [number, string] }>;

async function waitUntil<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (${String(last)})` : ''}`);
    await sleep(250);
  }
}

interface Endpoint { p: Proc; hostPort: string; url: string }

async function startTarget(name: string, infoFile: string): Promise<Endpoint> {
  const dst = tempDir('mxlf-live-');
  const defFile = path.join(dst, 'flow.json');
  fs.writeFileSync(defFile, smallDef);
  const p = startCli(['target', '-d', dst, '-f', defFile, '-p', 'tcp', '-n', '127.0.0.1', '-t', infoFile, '--metrics', '127.0.0.1:0', '--name', name, '--log-format', 'json', '-q']);
  const [, url] = await p.waitFor(/metrics at (http:\/\/[^\s"]+)/);
  return { p, url, hostPort: new URL(url).host };
}

async function startInitiator(src: string, infos: string[]): Promise<Endpoint> {
  const p = startCli(['initiator', '-d', src, '-f', FLOW_ID, ...infos.flatMap((f) => ['-t', `@${f}`]), '--metrics', '127.0.0.1:0', '--name', 'tx', '--log-format', 'json', '-q']);
  const [, url] = await p.waitFor(/metrics at (http:\/\/[^\s"]+)/);
  return { p, url, hostPort: new URL(url).host };
}

const readyz = async (e: Endpoint): Promise<number> => (await fetch(e.url.replace(/\/metrics$/, '/readyz'))).status;

live('Prometheus scrapes two targets and an initiator: endpoints apart, flow id joined, faults counted, /readyz follows a killed target', async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mxlf-prom-'));
  let prom: ReturnType<typeof spawn> | undefined;
  try {
    const src = tempDir('mxlf-live-src-');
    fs.writeFileSync(path.join(src, 'options.json'), JSON.stringify({ 'urn:x-mxl:option:history_duration/v1.0': 1_000_000_000 }));
    await startWriter(src, smallDef);
    const infoDir = tempDir('mxlf-live-info-');
    const info = (n: string) => path.join(infoDir, `${n}.json`);
    const a = await startTarget('rx-a', info('a'));
    const b = await startTarget('rx-b', info('b'));
    const idB = JSON.parse(fs.readFileSync(info('b'), 'utf8')).id as string;
    let ini = await startInitiator(src, [info('a'), info('b')]);

    // Prometheus with file-based discovery, as grafana/prometheus.yml does it.
    const sd = path.join(work, 'targets.json');
    const writeSd = (eps: Endpoint[]) => {
      fs.writeFileSync(`${sd}.tmp`, JSON.stringify([{ targets: eps.map((e) => e.hostPort), labels: { site: 'test' } }]));
      fs.renameSync(`${sd}.tmp`, sd);
    };
    writeSd([a, b, ini]);
    fs.writeFileSync(path.join(work, 'prometheus.yml'), [
      'global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', '  evaluation_interval: 1s',
      'scrape_configs:', '  - job_name: mxl', '    file_sd_configs:', `      - files: ['${sd}']`, '        refresh_interval: 1s', '',
    ].join('\n'));
    const port = await freePort();
    prom = spawn('prometheus', [`--config.file=${path.join(work, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(work, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    trackChild(prom);
    const promErr: string[] = [];
    prom.stderr!.on('data', (d: Buffer) => promErr.push(d.toString()));
    prom.once('exit', () => untrackChild(prom!));
    const q = async (query: string): Promise<Vector> => {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(query)}`);
      const body = (await r.json()) as { status: string; data?: { resultType: string; result: Vector }; error?: string };
      if (body.status !== 'success') throw new Error(`${query}: ${body.error}`);
      return body.data!.result;
    };
    const vec = (query: string, test: (v: Vector) => boolean, what: string, ms = 20_000) =>
      waitUntil(`${what} (${query})${promErr.length ? `; prometheus: ${promErr.join('')}` : ''}`, ms, async () => { const v = await q(query); return test(v) ? v : undefined; });

    await vec('up{job="mxl"} == 1', (v) => v.length === 3, 'three processes up');

    // Endpoints apart: one grains/s line per target, each its own instance and name.
    const rx = await vec('sum by (instance, endpoint) (rate(mxl_fabrics_grains_total{role="target"}[5s])) > 0', (v) => v.length === 2, 'grains flowing into both targets');
    t.deepEqual(rx.map((r) => r.metric.endpoint).sort(), ['rx-a', 'rx-b']);
    t.deepEqual(rx.map((r) => r.metric.instance).sort(), [a.hostPort, b.hostPort].sort());
    // The documented join on endpoint_info gives every endpoint its flow id, one to one.
    const joined = await q('mxl_fabrics_grains_total * on (instance, role, endpoint) group_left (flow_id) mxl_fabrics_endpoint_info');
    t.is(joined.length, 3);
    t.true(joined.every((r) => r.metric.flow_id === FLOW_ID), JSON.stringify(joined.map((r) => r.metric)));
    // The initiator names each target by id; the process metrics are there for all three.
    const up = await vec('mxl_fabrics_peer_up{endpoint="tx"} == 1', (v) => v.length === 2, 'both targets up at the initiator');
    t.true(up.some((r) => r.metric.target_id === idB));
    t.is((await q('process_cpu_seconds_total{job="mxl"}')).length, 3);
    t.is((await q('mxl_fabrics_endpoint_ready == 1')).length, 3);
    await waitUntil('initiator ready', 10_000, async () => ((await readyz(ini)) === 200 ? true : undefined));

    // Fault: SIGKILL one target. The initiator's /readyz turns within 10 s...
    const killedAt = Date.now();
    b.p.proc.kill('SIGKILL');
    await waitUntil('initiator /readyz 503 after the kill', 10_000, async () => ((await readyz(ini)) === 503 ? true : undefined));
    t.log(`/readyz turned 503 ${Date.now() - killedAt} ms after the kill`);
    t.true(Date.now() - killedAt <= 10_000);
    // ...and Prometheus sees the process down, the target down at the initiator, and the faults.
    await vec(`up{instance="${b.hostPort}"} == 0`, (v) => v.length === 1, 'the killed process down');
    await vec(`mxl_fabrics_peer_up{endpoint="tx",target_id="${idB}"} == 0`, (v) => v.length === 1, 'the killed target down at the initiator');
    const failures = await vec('sum(mxl_fabrics_peer_failures_total{endpoint="tx"}) > 0', (v) => v.length === 1, 'a peer failure counted');
    t.log(`peer failures: ${failures[0].value[1]}`);
    await vec('mxl_fabrics_transfers_skipped_total{endpoint="tx",reason="not_connected"} > 0', (v) => v.length === 1, 'grains skipped for the lost target');
    t.deepEqual((await q('mxl_fabrics_peer_disconnects_total{endpoint="tx"}')).map((r) => r.value[1]), ['1'], 'exactly one disconnect');
    t.is((await q('mxl_fabrics_endpoint_ready{endpoint="tx"} == 0')).length, 1);
    // The surviving target keeps receiving: its own series is unaffected.
    await vec('rate(mxl_fabrics_grains_total{endpoint="rx-a"}[3s]) > 0', (v) => v.length === 1, 'rx-a still receiving');

    // A new target replaces the dead one: the initiator runs against it and is ready again.
    const c = await startTarget('rx-c', info('c'));
    await ini.p.stop('SIGINT');
    ini = await startInitiator(src, [info('a'), info('c')]);
    writeSd([a, c, ini]);
    await waitUntil('initiator ready with the new target', 15_000, async () => ((await readyz(ini)) === 200 ? true : undefined));
    await vec(`mxl_fabrics_endpoint_ready{endpoint="tx",instance="${ini.hostPort}"} == 1`, (v) => v.length === 1, 'Prometheus sees the initiator ready');

    // Every log line of the JSON-logging processes is one event with the endpoint name.
    for (const [e, name] of [[a, 'rx-a'], [c, 'rx-c']] as const) {
      const lines = e.p.stderr.filter((l) => l.trim() !== '');
      t.true(lines.length >= 3);
      for (const l of lines) {
        const ev = JSON.parse(l) as Record<string, unknown>;
        t.regex(String(ev.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        t.true(['info', 'warn', 'error'].includes(String(ev.level)));
        t.is(ev.endpoint, name);
        t.is(typeof ev.msg, 'string');
      }
    }
    t.true(ini.p.stderr.some((l) => { const ev = JSON.parse(l) as Record<string, unknown>; return ev.endpoint === 'tx' && typeof ev.target_id === 'string'; }), 'initiator events name the target id');
  } finally {
    prom?.kill('SIGTERM');
    cleanupAll();
    fs.rmSync(work, { recursive: true, force: true });
  }
});
