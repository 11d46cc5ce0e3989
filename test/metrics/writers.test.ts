// Every exported series has a writer: the stats call that moves it is made by an endpoint
// worker (or the fault helpers the workers call), and the exporter computes the rest. The
// behaviour behind each writer is driven in faults.test.ts, exporter.test.ts and
// prometheus-live.test.ts; this file makes sure no metric is exported with nothing behind it.
import test from 'ava';
import fs from 'node:fs';
import { MetricsExporter } from '../../src/metrics/exporter.js';

const src = (f: string) => fs.readFileSync(new URL(`../../../src/${f}`, import.meta.url), 'utf8');
const WRITER_FILES = ['workers/initiator-worker.ts', 'workers/target-worker.ts', 'workers/worker-kit.ts', 'metrics/endpoint-faults.ts', 'metrics/slice-ledger.ts'];
const writerSource = WRITER_FILES.map(src).join('\n');

/** Metric → the EndpointStats calls that write it (any one suffices), or 'exporter' when computed at scrape time. */
const WRITERS: Record<string, string[] | 'exporter'> = {
  mxl_fabrics_build_info: 'exporter',
  mxl_fabrics_endpoint_info: 'exporter',
  mxl_fabrics_metrics_endpoints_refused_total: 'exporter',
  mxl_fabrics_endpoint_ready: 'exporter',
  mxl_fabrics_grains_total: ['grain('],
  mxl_fabrics_slices_total: ['slice('],
  mxl_fabrics_samples_total: ['samples('],
  mxl_fabrics_sample_batches_total: ['samples('],
  mxl_fabrics_bytes_total: ['grain(', 'slice(', 'samples('],
  mxl_fabrics_commits_total: ['commit()'],
  mxl_fabrics_writes_deferred_total: ['writeDeferred('],
  mxl_fabrics_overruns_total: ['overrun('],
  mxl_fabrics_torn_grains_prevented_total: ['tornGrainPrevented('],
  mxl_fabrics_reconnects_total: ['reconnected('],
  mxl_fabrics_sessions_started_total: ['sessionStarted('],
  mxl_fabrics_sessions_ended_total: ['sessionEnded('],
  mxl_fabrics_initiators_refused_total: ['initiatorRefused('],
  mxl_fabrics_grains_duplicate_total: ['stats.duplicates('],
  mxl_fabrics_ring_overflow_total: ['ringOverflow('],
  mxl_fabrics_peer_connects_total: ['peerConnected('],
  mxl_fabrics_peer_disconnects_total: ['peerDisconnected('],
  mxl_fabrics_poll_iterations_total: ['pollIteration('],
  mxl_fabrics_poll_busy_iterations_total: ['pollIteration('],
  mxl_fabrics_peers_connected: ['peerConnected('],
  mxl_fabrics_transfers_skipped_total: ['transferSkipped('],
  mxl_fabrics_immediates_dropped_total: ['dropped('],
  mxl_fabrics_peer_failures_total: ['peerFailed('],
  mxl_fabrics_peer_up: ['peerUp('],
  mxl_fabrics_peer_completions_total: ['peerCompleted('],
  mxl_fabrics_peer_last_completion_timestamp_seconds: ['peerCompleted('],
  mxl_fabrics_last_grain_index: ['grainIndex('],
  mxl_fabrics_flow_lag_grains: ['grainIndex('],
  mxl_fabrics_completion_errors_total: ['completionError('],
  mxl_fabrics_grain_latency_seconds: ['LatencyStage.transfer', 'LatencyStage.commit', 'LatencyStage.source'],
};

/**
 * Counted from engine events the session engine is to emit (countEngineEvent in
 * src/metrics/endpoint-faults.ts): written once src/fabrics emits the event.
 */
const ENGINE_EVENTS: Record<string, { event: string; why: string }> = {
  mxl_fabrics_writes_deferred_total: { event: 'deferred', why: 'the initiator engine emits it where a write gets FI_EAGAIN' },
  mxl_fabrics_torn_grains_prevented_total: { event: 'torn', why: 'its torn-grain guard emits it' },
  mxl_fabrics_sessions_started_total: { event: 'sessionStarted', why: 'session start emits it' },
  mxl_fabrics_sessions_ended_total: { event: 'sessionEnded', why: 'session end emits it' },
};
const engineSource = (fs.readdirSync(new URL('../../../src/fabrics/', import.meta.url), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => src(`fabrics/${f}`)).join('\n');

const described = new MetricsExporter().describe();

test('every exported metric has a declared writer', (t) => {
  t.deepEqual(described.map((d) => d.name).sort(), Object.keys(WRITERS).sort());
});

for (const d of described) {
  const w = WRITERS[d.name];
  if (w === 'exporter' || w === undefined) continue;
  const missing = w.filter((call) => !writerSource.includes(call));
  const ev = ENGINE_EVENTS[d.name];
  if (ev && !engineSource.includes(`type: '${ev.event}'`)) {
    test.skip(`${d.name} is written (needs the session engine: ${ev.why}, as { type: '${ev.event}' })`, () => {});
    continue;
  }
  test(`${d.name} is written by the endpoint workers`, (t) => {
    // Latency: every stage has a writer; the others: at least one of the calls is made.
    if (d.name === 'mxl_fabrics_grain_latency_seconds') t.deepEqual(missing, []);
    else t.true(missing.length < w.length, `none of ${w.join(', ')} is called in ${WRITER_FILES.join(', ')}`);
  });
}
