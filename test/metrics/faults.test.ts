// Fault counters driven for real: runtime workers, libfabric tcp on loopback, real flows,
// read back through a real HTTP scrape. Each test causes a known number of faults and checks
// the counter moved by exactly that many.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { Fabrics } from '../../src/runtime/coordinator.js';
import { MxlInstance, type DiscreteFlowWriter } from '../../src/domain/index.js';
import type { InitiatorHandle } from '../../src/runtime/initiator-handle.js';
import type { TargetHandle } from '../../src/runtime/target-handle.js';
import { one, parseExposition, type Sample } from './helpers.js';

const FLOW = '5fbec3b1-1b0f-417d-9059-8b94a47197ed';
const flowDef = JSON.stringify({
  id: FLOW, label: 'faults test', format: 'urn:x-nmos:format:video', media_type: 'video/v210',
  tags: { 'urn:x-nmos:tag:grouphint/v1.0': ['test:faults'] }, grain_rate: { numerator: 50, denominator: 1 },
  frame_width: 320, frame_height: 180, interlace_mode: 'progressive',
});

const dirs: string[] = [];
const domain = (): string => { const d = fs.mkdtempSync(path.join('/dev/shm', 'mxlf-faults-')); dirs.push(d); return d; };
test.after.always(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Rig {
  fx: Fabrics;
  writer: DiscreteFlowWriter;
  src: MxlInstance;
  target: TargetHandle;
  ini: InitiatorHandle;
  url: string;
  /** Writes grains up to and including `index`. */
  writeTo(index: bigint): void;
  scrape(): Promise<Sample[]>;
  /** Polls the scrape until `cond` holds. */
  until(cond: (s: Sample[]) => boolean, what: string, ms?: number): Promise<Sample[]>;
  close(): Promise<void>;
}

async function rig(maxInFlight?: number): Promise<Rig> {
  const src = new MxlInstance(domain());
  const writer = src.createFlowWriter(flowDef) as DiscreteFlowWriter;
  const fx = new Fabrics({ metrics: true });
  const target = await fx.createTarget({ name: 'rx', provider: 'tcp', node: '127.0.0.1', domain: domain(), flowDef, pollMode: 'blocking' });
  const ini = await fx.createInitiator({ name: 'tx', provider: 'tcp', domain: src.domain, flowId: FLOW, maxInFlight, pollMode: 'hybrid' });
  const srv = await fx.serveMetrics();
  let next = 1n;
  const scrape = async () => parseExposition(await (await fetch(srv.url)).text()).samples;
  return {
    fx, writer, src, target, ini, url: srv.url, scrape,
    writeTo(index) {
      for (; next <= index; next++) { writer.openGrain(next); writer.commitGrain({}); }
    },
    async until(cond, what, ms = 10_000) {
      const end = Date.now() + ms;
      for (;;) {
        const s = await scrape();
        if (cond(s)) return s;
        if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
        await sleep(20);
      }
    },
    async close() {
      await fx.close();
      writer.close();
      src.close();
    },
  };
}

const TX = { role: 'initiator', endpoint: 'tx' };
const RX = { role: 'target', endpoint: 'rx' };
const val = (s: Sample[], name: string, labels: Record<string, string>): number => one(s, name, labels).value;
const skipped = (s: Sample[], reason: string): number => val(s, 'mxl_fabrics_transfers_skipped_total', { ...TX, reason });

async function connect(r: Rig, info = r.target.info): Promise<void> {
  const connected = new Promise((res) => r.ini.once('connected', res));
  await r.ini.addTarget(info);
  await connected;
}

test.serial('a grain overwritten in the source before its post counts as source_overwritten; one past the head as invalid_request', async (t) => {
  const r = await rig();
  try {
    await connect(r);
    const g = BigInt(r.writer.geometry.grainCount);
    r.writeTo(g + 3n); // grains 1..3 are gone from the ring
    t.true(r.ini.transferGrain(2n));
    t.true(r.ini.transferGrain(g + 10n)); // not written yet
    t.true(r.ini.transferGrain(g + 3n)); // held: goes through
    const s = await r.until((x) => val(x, 'mxl_fabrics_grains_total', RX) === 1 && val(x, 'mxl_fabrics_grains_total', TX) === 1, 'the one good grain at both ends');
    t.is(skipped(s, 'source_overwritten'), 1);
    t.is(skipped(s, 'invalid_request'), 1);
    t.is(skipped(s, 'not_connected') + skipped(s, 'in_flight_limit') + skipped(s, 'fell_behind'), 0);
    t.is(val(s, 'mxl_fabrics_commits_total', RX), 1);
    // The other counters of the path moved too: kind, flow id and the target's identity are set.
    const info = one(s, 'mxl_fabrics_endpoint_info', RX);
    t.is(info.labels.flow_id, FLOW);
    t.is(info.labels.kind, 'video');
    const tid = JSON.parse(r.target.info).id as string;
    t.is(val(s, 'mxl_fabrics_peer_up', { ...TX, target_id: tid }), 1);
    t.is(val(s, 'mxl_fabrics_peer_completions_total', { ...TX, target_id: tid }), 1);
    t.true(val(s, 'mxl_fabrics_grain_latency_seconds_count', { ...RX, stage: 'commit' }) === 1, 'commit stage recorded');
    t.true(val(s, 'mxl_fabrics_poll_busy_iterations_total', RX) >= 1, 'the blocking target counts the wait() that reaped the grain as busy');
    t.is(val(s, 'mxl_fabrics_endpoint_ready', TX), 1);
    t.is((await fetch(r.url.replace('/metrics', '/readyz'))).status, 200);
  } finally {
    await r.close();
  }
});

test.serial('a burst against maxInFlight 1: every request is either completed or skipped for in_flight_limit', async (t) => {
  const r = await rig(1);
  try {
    await connect(r);
    r.writeTo(4n);
    const N = 40;
    for (let i = 0; i < N; i++) t.true(r.ini.transferGrain(4n));
    const s = await r.until((x) => val(x, 'mxl_fabrics_grains_total', TX) + skipped(x, 'in_flight_limit') === N, `${N} requests accounted for`);
    const done = val(s, 'mxl_fabrics_grains_total', TX);
    t.log(`${done} completed, ${N - done} skipped at the limit`);
    t.true(N - done >= 1, 'a burst with one write in flight skips some');
    t.is(skipped(s, 'not_connected'), 0);
    // Every completed write reached the target: the grain is published once, and each later
    // copy of it from the same connection is a `repeat` drop (docs/fabrics.md, "A target a
    // ring behind").
    const s2 = await r.until((x) => val(x, 'mxl_fabrics_grains_total', RX) + val(x, 'mxl_fabrics_immediates_dropped_total', { ...RX, reason: 'repeat' }) === done, 'the target received exactly the completed ones');
    t.is(val(s2, 'mxl_fabrics_grains_total', RX), 1, 'grain 4 is published once');
  } finally {
    await r.close();
  }
});

test.serial('a target that is gone: connect_failed, peer down, not ready, and every transfer skipped as not_connected', async (t) => {
  const r = await rig();
  try {
    await connect(r);
    r.writeTo(2n);
    t.true(r.ini.transferGrain(2n));
    await r.until((x) => val(x, 'mxl_fabrics_grains_total', TX) === 1, 'one grain through');
    // Swap the live target for one that no longer listens.
    const dead = await r.fx.createTarget({ name: 'gone', provider: 'tcp', node: '127.0.0.1', domain: domain(), flowDef });
    const deadInfo = dead.info;
    const deadId = JSON.parse(deadInfo).id as string;
    await dead.close();
    await r.ini.removeTarget(r.target.info);
    await r.ini.addTarget(deadInfo);
    let s = await r.until((x) => val(x, 'mxl_fabrics_peer_failures_total', { ...TX, reason: 'connect_failed' }) >= 1, 'a failed connection attempt');
    t.is(val(s, 'mxl_fabrics_peer_up', { ...TX, target_id: deadId }), 0);
    t.false(s.some((x) => x.name === 'mxl_fabrics_peer_up' && x.labels.target_id === JSON.parse(r.target.info).id), 'the removed target is no longer reported');
    t.is(val(s, 'mxl_fabrics_endpoint_ready', TX), 0);
    const ready = await fetch(r.url.replace('/metrics', '/readyz'));
    t.is(ready.status, 503);
    t.regex(JSON.stringify(await ready.json()), new RegExp(`target ${deadId} is not connected`));
    const K = 5;
    r.writeTo(2n + BigInt(K));
    for (let i = 1; i <= K; i++) t.true(r.ini.transferGrain(2n + BigInt(i)));
    s = await r.until((x) => skipped(x, 'not_connected') >= K, `${K} skipped`);
    await sleep(200); // nothing more may come
    s = await r.scrape();
    t.is(skipped(s, 'not_connected'), K);
    t.is(val(s, 'mxl_fabrics_grains_total', TX), 1);
    t.is(val(s, 'mxl_fabrics_reconnects_total', TX), 0);
  } finally {
    await r.close();
  }
});

test.serial('a TargetInfo naming the same memory twice is refused before any write: no drop, no grain, no peer failure counted', async (t) => {
  // The engine refuses repeated regions (they would land grains of one slot in another's
  // memory); the target-side slot-range/index-slot drops a raw peer causes are checked with
  // the engine counters in test/fabrics/bad-input.test.ts.
  const r = await rig();
  try {
    const info = JSON.parse(r.target.info) as { regions: unknown[] };
    info.regions = [...info.regions, ...info.regions];
    const err = await t.throwsAsync(r.ini.addTarget(JSON.stringify(info)));
    t.is((err as { code?: string }).code, 'MXL_ERR_INVALID_ARG');
    t.regex(err!.message, /is the same memory as regions\[0\]/);
    const s = await r.scrape();
    t.is(val(s, 'mxl_fabrics_immediates_dropped_total', { ...RX, reason: 'slot-range' }), 0);
    t.is(val(s, 'mxl_fabrics_grains_total', RX), 0);
  } finally {
    await r.close();
  }
});

test.serial('a slice range counts as a slice with its bytes at both ends; the range that completes the grain counts the grain', async (t) => {
  const r = await rig();
  try {
    await connect(r);
    r.writeTo(3n);
    const total = r.writer.geometry.totalSlices;
    const sliceBytes = r.writer.geometry.sliceSizes.reduce((a, b) => a + b, 0);
    const half = Math.floor(total / 2);
    t.true(r.ini.transferGrain(3n, 0, half));
    await r.until((x) => val(x, 'mxl_fabrics_slices_total', RX) === 1, 'first range landed');
    t.true(r.ini.transferGrain(3n, half, total));
    // Each counter is its own word, read one after another by a scrape: a scrape taken while
    // the worker counts the second range can show its slice before its grain. Wait for the
    // scrape in which all three counters have moved, then check each one exactly.
    const moved = (x: Sample[], ep: typeof TX): boolean => val(x, 'mxl_fabrics_slices_total', ep) === 2 && val(x, 'mxl_fabrics_grains_total', ep) > 0 && val(x, 'mxl_fabrics_bytes_total', ep) >= total * sliceBytes;
    const s = await r.until((x) => moved(x, RX) && moved(x, TX), 'both ranges at both ends');
    for (const ep of [TX, RX]) {
      t.is(val(s, 'mxl_fabrics_bytes_total', ep), total * sliceBytes, `${ep.role} bytes`);
      t.is(val(s, 'mxl_fabrics_grains_total', ep), 1, `${ep.role} grains`);
    }
  } finally {
    await r.close();
  }
});
