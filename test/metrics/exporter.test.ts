import test from 'ava';
import { spawnSync } from 'node:child_process';
import { Registry } from 'prom-client';
import { EndpointStats, LATENCY_BUCKETS_SECONDS } from '../../src/metrics/endpoint-stats.js';
import { MetricsExporter, startMetricsServer, type MetricsServer } from '../../src/metrics/exporter.js';
import { FabricsError } from '../../src/errors.js';
import { one, parseExposition, runStatsWorker } from './helpers.js';

const FLOW = '5fbec3b1-1b0f-417d-9059-8b94a47197ed';
const TX = { role: 'initiator', endpoint: 'cam1-tx', provider: 'tcp;ofi_rxm', kind: 'video' };
const RX = { role: 'target', endpoint: 'cam1-rx', provider: 'shm', kind: 'video' };

const hasPromtool = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).status === 0;
if (!hasPromtool) console.warn('promtool not found: promtool checks are skipped (apt-get install -y --no-install-recommends prometheus)');

async function scrape(url: string): Promise<{ status: number; type: string | null; body: string }> {
  const r = await fetch(url);
  return { status: r.status, type: r.headers.get('content-type'), body: await r.text() };
}

/** An exporter with one initiator fed by the scripted worker and one idle target. */
async function fedExporter(): Promise<MetricsExporter> {
  const exp = new MetricsExporter({ version: '9.9.9', libfabricVersion: '1.17.0' });
  const tx = EndpointStats.create();
  exp.register('cam1-tx', 'initiator', tx, { provider: 'tcp;ofi_rxm', kind: 'video', flowId: FLOW });
  exp.register('cam1-rx', 'target', EndpointStats.create(), { provider: 'shm', kind: 'video' });
  const { worker, done } = runStatsWorker(tx.buffer, 'script');
  try { await done; } finally { await worker.terminate(); }
  return exp;
}

test('a real HTTP scrape shows exactly what a worker thread wrote', async (t) => {
  const exp = await fedExporter();
  const srv = await exp.startMetricsServer();
  try {
    t.regex(srv.url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const r = await scrape(srv.url);
    t.is(r.status, 200);
    t.is(r.type, exp.registry.contentType);
    const { samples, types } = parseExposition(r.body);
    const v = (name: string, labels: Record<string, string> = TX) => one(samples, name, labels).value;

    t.is(one(samples, 'mxl_fabrics_build_info', {}).raw, 'mxl_fabrics_build_info{version="9.9.9",libfabric_version="1.17.0"} 1');
    t.is(one(samples, 'mxl_fabrics_endpoint_info', TX).labels.flow_id, FLOW);
    t.false('flow_id' in one(samples, 'mxl_fabrics_endpoint_info', RX).labels);
    // The exact line, label order included: this is what dashboards and alerts match.
    t.true(r.body.includes('\nmxl_fabrics_grains_total{role="initiator",endpoint="cam1-tx",provider="tcp;ofi_rxm",kind="video"} 10\n'));
    t.is(v('mxl_fabrics_grains_total'), 10);
    t.is(v('mxl_fabrics_slices_total'), 4);
    t.is(v('mxl_fabrics_samples_total'), 1440);
    t.is(v('mxl_fabrics_sample_batches_total'), 3);
    t.is(v('mxl_fabrics_bytes_total'), 10 * 5_184_000 + 4 * 1000 + 3 * 3840);
    // Target-only series are not exported for an initiator, whatever its buffer holds.
    t.false(samples.some((s) => s.labels.endpoint === 'cam1-tx' && (s.name === 'mxl_fabrics_commits_total' || s.name === 'mxl_fabrics_immediates_dropped_total')));
    const skip = (reason: string) => v('mxl_fabrics_transfers_skipped_total', { ...TX, reason });
    t.deepEqual([skip('in_flight_limit'), skip('not_connected'), skip('source_overwritten'), skip('fell_behind'), skip('invalid_request')], [3, 2, 0, 0, 0]);
    t.is(v('mxl_fabrics_overruns_total'), 1);
    t.is(v('mxl_fabrics_reconnects_total'), 2);
    t.is(v('mxl_fabrics_writes_deferred_total'), 1);
    t.is(v('mxl_fabrics_peer_failures_total', { ...TX, reason: 'stall_timeout' }), 1);
    t.is(v('mxl_fabrics_peer_failures_total', { ...TX, reason: 'connect_failed' }), 0);
    const far = { ...TX, target_id: (2n ** 64n - 5n).toString() };
    t.is(v('mxl_fabrics_peer_up', far), 1);
    t.is(v('mxl_fabrics_peer_completions_total', far), 2);
    t.is(v('mxl_fabrics_peer_last_completion_timestamp_seconds', far), 1_700_000_000.456);
    t.is(v('mxl_fabrics_peer_up', { ...TX, target_id: '42' }), 0);
    t.false(samples.some((s) => s.name === 'mxl_fabrics_peer_last_completion_timestamp_seconds' && s.labels.target_id === '42'));
    t.is(v('mxl_fabrics_endpoint_ready'), 0, 'a target never connected: not ready');
    t.is(v('mxl_fabrics_endpoint_ready', RX), 1);
    t.is(v('mxl_fabrics_immediates_dropped_total', { ...RX, reason: 'slot-range' }), 0);
    t.false(samples.some((s) => s.labels.endpoint === 'cam1-rx' && s.name === 'mxl_fabrics_transfers_skipped_total'));
    t.is(v('mxl_fabrics_ring_overflow_total'), 3);
    t.is(v('mxl_fabrics_peer_connects_total'), 2);
    t.is(v('mxl_fabrics_peer_disconnects_total'), 1);
    t.is(v('mxl_fabrics_peers_connected'), 1);
    t.is(v('mxl_fabrics_poll_iterations_total'), 10);
    t.is(v('mxl_fabrics_poll_busy_iterations_total'), 6);
    t.is(v('mxl_fabrics_last_grain_index'), 2 ** 40 + 7);
    t.is(v('mxl_fabrics_flow_lag_grains'), -2);
    const err = (code: string) => v('mxl_fabrics_completion_errors_total', { ...TX, code });
    t.deepEqual([err('canceled'), err('truncated'), err('other'), err('io'), err('connection')], [1, 2, 1, 0, 0]);
    t.is(samples.filter((s) => s.name === 'mxl_fabrics_completion_errors_total' && s.labels.endpoint === 'cam1-tx').length, 8);

    // Histogram: samples 20µs, 25µs, 30µs, 1ms, 0.7s, 3s on stage "transfer".
    const h = { ...TX, stage: 'transfer' };
    const buckets = samples.filter((s) => s.name === 'mxl_fabrics_grain_latency_seconds_bucket' && s.labels.endpoint === 'cam1-tx' && s.labels.stage === 'transfer');
    t.deepEqual(buckets.map((b) => b.labels.le), [...LATENCY_BUCKETS_SECONDS.map(String), '+Inf']);
    t.deepEqual(buckets.map((b) => b.value), [2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 4, 5, 6]);
    for (let i = 1; i < buckets.length; i++) t.true(buckets[i].value >= buckets[i - 1].value, 'buckets are cumulative');
    t.is(buckets[0].raw.includes('le="0.000025"'), true);
    t.is(v('mxl_fabrics_grain_latency_seconds_count', h), 6);
    t.is(v('mxl_fabrics_grain_latency_seconds_sum', h), 3.701075);
    // An initiator exports only the transfer stage while the others are empty.
    t.false(samples.some((s) => s.labels.endpoint === 'cam1-tx' && s.labels.stage === 'commit'));
    t.is(types.get('mxl_fabrics_grain_latency_seconds'), 'histogram');

    // The idle target: zero counters, commit and source stages present, no grain gauges yet.
    t.is(v('mxl_fabrics_grains_total', RX), 0);
    t.is(v('mxl_fabrics_grain_latency_seconds_count', { ...RX, stage: 'commit' }), 0);
    t.is(v('mxl_fabrics_grain_latency_seconds_count', { ...RX, stage: 'source' }), 0);
    t.false(samples.some((s) => s.name === 'mxl_fabrics_last_grain_index' && s.labels.endpoint === 'cam1-rx'));
    t.false(samples.some((s) => s.name === 'mxl_fabrics_flow_lag_grains' && s.labels.endpoint === 'cam1-rx'));

    // Unregister: the series go away on the next scrape.
    t.true(exp.unregister('cam1-rx', 'target'));
    t.false(exp.unregister('cam1-rx', 'target'));
    t.false((await scrape(srv.url)).body.includes('cam1-rx'));
  } finally {
    await srv.close();
    await exp.close();
  }
});

test('metric and label names follow the conventions', async (t) => {
  const exp = await fedExporter();
  const { samples, types } = parseExposition(await exp.metrics());
  const abbreviated = /_(ms|us|ns|msec|usec|nsec|sec|secs|millis|micros|nanos|kb|mb|gb|kib|mib|gib|pct|percent|octets)(_|$)/;
  for (const d of exp.describe()) {
    t.regex(d.name, /^mxl_fabrics_[a-z0-9_]+$/, d.name);
    t.is(types.get(d.name), d.type, `${d.name} TYPE line`);
    t.is(d.name.endsWith('_total'), d.type === 'counter', `${d.name}: _total iff counter`);
    t.notRegex(d.name, abbreviated, `${d.name}: base units only`);
    t.false(/_(count|sum|bucket)$/.test(d.name), `${d.name}: reserved suffix`);
    if (d.type === 'histogram') t.true(d.name.endsWith('_seconds'), `${d.name}: histogram in seconds`);
    for (const l of d.labels) {
      t.regex(l, /^[a-z][a-z0-9_]*$/, `${d.name} label ${l}`);
      t.false(['le', 'quantile'].includes(l), `${d.name} uses reserved label ${l}`);
    }
  }
  // Every exposed sample belongs to a described family and carries only its labels (+ le).
  const byName = new Map(exp.describe().map((d) => [d.name, d]));
  for (const s of samples) {
    const fam = byName.get(s.name) ?? byName.get(s.name.replace(/_(bucket|sum|count)$/, ''));
    t.truthy(fam, `undescribed sample ${s.name}`);
    const allowed = new Set([...(fam?.labels ?? []), ...(s.name.endsWith('_bucket') ? ['le'] : [])]);
    for (const l of Object.keys(s.labels)) t.true(allowed.has(l), `${s.name} has undeclared label ${l}`);
    // No grain indices or free text as label values: every value is short and from a small alphabet.
    for (const [l, val] of Object.entries(s.labels)) t.regex(val, /^[A-Za-z0-9_.:;+\-]{0,64}$/, `${s.name} ${l}="${val}"`);
  }
  await exp.close();
});

(hasPromtool ? test : test.skip)('promtool check metrics accepts our registry and rejects a bad one', async (t) => {
  const exp = await fedExporter();
  const ours = spawnSync('promtool', ['check', 'metrics'], { input: await exp.metrics(), encoding: 'utf8' });
  t.is(ours.status, 0, `promtool: ${ours.stdout}${ours.stderr}`);
  // The check is live: a counter without _total and a millisecond unit are flagged.
  const bad = '# HELP mxl_fabrics_x_ms x\n# TYPE mxl_fabrics_x_ms counter\nmxl_fabrics_x_ms 1\n';
  const theirs = spawnSync('promtool', ['check', 'metrics'], { input: bad, encoding: 'utf8' });
  t.not(theirs.status, 0);
  t.regex(theirs.stdout + theirs.stderr, /_total|abbreviated/);
  await exp.close();
});

(hasPromtool ? test : test.skip)('promtool check config accepts grafana/prometheus.yml', (t) => {
  const r = spawnSync('promtool', ['check', 'config', new URL('../../../grafana/prometheus.yml', import.meta.url).pathname], { encoding: 'utf8' });
  t.is(r.status, 0, r.stdout + r.stderr);
});

test('default Node metrics are optional, unprefixed and registered once', async (t) => {
  const plain = await new MetricsExporter().metrics();
  t.false(plain.includes('process_cpu_user_seconds_total'));
  const exp = new MetricsExporter({ defaultMetrics: true });
  const text = await exp.metrics();
  t.is(text.split('\n').filter((l) => l === '# TYPE process_cpu_user_seconds_total counter').length, 1);
  t.false(text.includes('mxl_fabrics_process_'));
  t.true(text.includes('mxl_fabrics_build_info{'));
  // A second exporter on the same registry would register everything twice: refused.
  t.throws(() => new MetricsExporter({ registry: exp.registry }), { message: /already been registered/ });
});

test('exporter shares an application registry and reads the package version by default', async (t) => {
  const registry = new Registry();
  const exp = new MetricsExporter({ registry });
  t.is(exp.registry, registry);
  const build = one(parseExposition(await registry.metrics()).samples, 'mxl_fabrics_build_info', {});
  t.regex(build.labels.version, /^\d+\.\d+\.\d+/);
  t.is(build.labels.libfabric_version, 'unknown');
});

test('register validates names and labels, refuses duplicates and caps endpoints', async (t) => {
  const exp = new MetricsExporter({ maxEndpoints: 2 });
  const s = () => EndpointStats.create();
  const lab = { provider: 'tcp;ofi_rxm', kind: 'audio' as const };
  const bad = (f: () => unknown, code: string) => t.is(String(t.throws(f, { instanceOf: FabricsError })?.code), code);
  bad(() => exp.register('has space', 'target', s(), lab), 'MXL_ERR_INVALID_ARG');
  bad(() => exp.register('x'.repeat(65), 'target', s(), lab), 'MXL_ERR_INVALID_ARG');
  bad(() => exp.register('a', 'sender' as 'target', s(), lab), 'MXL_ERR_INVALID_ARG');
  bad(() => exp.register('a', 'target', {} as EndpointStats, lab), 'MXL_ERR_INVALID_ARG');
  bad(() => exp.register('a', 'target', s(), { provider: 'tcp "x"', kind: 'audio' }), 'MXL_ERR_INVALID_ARG');
  bad(() => exp.register('a', 'target', s(), { provider: 'tcp', kind: 'midi' as 'audio' }), 'MXL_ERR_INVALID_ARG');
  bad(() => exp.register('a', 'target', s(), { ...lab, flowId: 'grain-1234' }), 'MXL_ERR_INVALID_ARG');
  t.true(exp.register('a', 'target', s(), lab));
  t.true(exp.register('a', 'initiator', s(), lab)); // same name, other role: a different endpoint
  bad(() => exp.register('a', 'target', s(), lab), 'MXL_ERR_EXISTS');
  t.false(exp.register('b', 'target', s(), lab));
  const { samples } = parseExposition(await exp.metrics());
  t.is(one(samples, 'mxl_fabrics_metrics_endpoints_refused_total', {}).value, 1);
  t.is(samples.filter((x) => x.name === 'mxl_fabrics_grains_total').length, 2);
});

test('the server answers 404 off /metrics, HEAD without a body, 500 when collection fails, and closes', async (t) => {
  const registry = new Registry();
  let fail = false;
  registry.registerMetric({
    name: 'x_failing', help: 'h', type: 'gauge', aggregator: 'sum',
    get: async () => { if (fail) throw new Error('boom'); return { name: 'x_failing', help: 'h', type: 'gauge', aggregator: 'sum', values: [{ value: 1, labels: {} }] }; },
    reset: () => {},
  } as unknown as Parameters<Registry['registerMetric']>[0]);
  const srv: MetricsServer = await startMetricsServer(registry, { port: 0 });
  try {
    const base = srv.url.replace(/\/metrics$/, '');
    t.is((await scrape(`${base}/metrics?x=1`)).status, 200);
    for (const p of ['/', '/metric', '/metrics/x', '/favicon.ico']) t.is((await scrape(base + p)).status, 404, p);
    t.is((await fetch(srv.url, { method: 'POST' })).status, 404);
    const head = await fetch(srv.url, { method: 'HEAD' });
    t.is(head.status, 200);
    t.is(await head.text(), '');
    fail = true;
    const r = await scrape(srv.url);
    t.is(r.status, 500);
    t.regex(r.body, /boom/);
  } finally {
    await srv.close();
  }
  await srv.close(); // idempotent
  await t.throwsAsync(fetch(srv.url));
});

test('startMetricsServer rejects a bad port and a busy one', async (t) => {
  const registry = new Registry();
  await t.throwsAsync(startMetricsServer(registry, { port: 70000 }), { instanceOf: FabricsError });
  const a = await startMetricsServer(registry);
  try {
    await t.throwsAsync(startMetricsServer(registry, { port: a.port }), { code: 'EADDRINUSE' } as never);
  } finally {
    await a.close();
  }
});

test('exporter.close() closes the servers it started', async (t) => {
  const exp = new MetricsExporter();
  const a = await exp.startMetricsServer();
  const b = await exp.startMetricsServer();
  t.is((await scrape(a.url)).status, 200);
  await exp.close();
  await t.throwsAsync(fetch(a.url));
  await t.throwsAsync(fetch(b.url));
});
