/**
 * Target endpoint worker: owns the flow writer and the libfabric target, polls the
 * completion queue (busy, hybrid or blocking), commits every landed grain into the flow
 * (waking local readers) and pushes one small record per grain into the event ring.
 */
import { addon } from '../native/index.js';
import { MxlInstance, indexToTimestamp, taiNow, type DiscreteFlowWriter } from '../domain/index.js';
import { GRAIN_PAYLOAD_OFFSET } from '../domain/layout.js';
import { FabricsError } from '../errors.js';
import { samplesFromWriter } from '../fabrics/sample-ring.js';
import { LatencyStage } from '../metrics/endpoint-stats.js';
import { TargetFaults, timedCommits } from '../metrics/endpoint-faults.js';
import { SliceLedger } from '../metrics/slice-ledger.js';
import { ringFromWriter } from '../fabrics/flow-rings.js';
import { Target } from '../fabrics/target.js';
import { setIdleSleeper } from '../fabrics/engine/completion-reader.js';
import type { NativeWaker } from '../native/fabric.js';
import { EventKind } from '../ipc/event-records.js';
import { arrivalsPerSecond } from './idle-policy.js';
import { closeWaker, openWaker, plain, pushEvent, runWorker } from './worker-kit.js';
import type { TargetWorkerConfig } from '../ipc/worker-messages.js';

/** How long one blocking wait may last (a control request or stop ends it at once: Waker, idle sleeper). */
const BLOCK_MS = 50;
const finitePositive = (x: number): number | undefined => (x > 0 && Number.isFinite(x) ? x : undefined);
const CONTROL_EVERY = 64;

runWorker<TargetWorkerConfig>((kit) => {
  const { config, ctl, events, stats, idle } = kit;
  const native = addon();
  const instance = new MxlInstance(config.domain);
  let target: Target | undefined;
  let waker: NativeWaker | undefined;
  let seen = ctl.doorbellSeen();
  try {
    const writer = instance.createFlowWriter(config.flowDef, { prefault: true });
    const audio = writer.kind === 'continuous';
    const w = writer as DiscreteFlowWriter;
    const rate = writer.geometry.grainRate;
    const arrivals = arrivalsPerSecond(audio, rate);
    idle.capForRate(arrivals);
    const grainBytes = w.geometry.grainSize + GRAIN_PAYLOAD_OFFSET;
    const endpoint = { provider: config.provider, node: config.node, service: config.service, cqDepth: config.cqDepth, autoCommit: config.autoCommit, maxInitiators: config.maxInitiators, idleMs: config.idleMs, arrivalRate: finitePositive(arrivals) };
    target = audio ? new Target({ ...endpoint, samples: timedCommits(samplesFromWriter(writer), stats, 'commit') }) : new Target({ ...endpoint, ring: timedCommits(ringFromWriter(w), stats, 'commitLanded') });
    const faults = new TargetFaults(stats);
    const ledger = new SliceLedger(w.geometry.grainCount, w.geometry.totalSlices, w.geometry.sliceSizes.reduce((a, b) => a + b, 0), grainBytes);
    const bytesPerSample = writer.geometry.channelCount * writer.geometry.wordSize;
    target.onSamples = (s) => {
      pushEvent(events, stats, EventKind.SAMPLES, Number(s.headIndex), s.entry, s.count, 0, Number(s.arrivalNs), s.committed ? 1 : 0, 0);
      stats.samples(s.count, s.count * bytesPerSample);
      if (s.committed) stats.commit();
      return false;
    };
    target.onLanded = (g) => {
      pushEvent(events, stats, EventKind.GRAIN, Number(g.index), g.slot, g.validSlices, g.totalSlices, Number(g.arrivalNs), g.committed ? 1 : 0, 0);
      ledger.landed(stats, g.slot, g.index, g.validSlices);
      if (g.committed) stats.commit();
      const now = taiNow();
      const ts = indexToTimestamp(g.index, rate);
      const lagNs = Number(now - ts);
      stats.grainIndex(Number(g.index), Math.round((lagNs * (rate.numerator / rate.denominator)) / 1e9));
      if (lagNs >= 0) stats.observeLatencyNs(LatencyStage.source, lagNs);
      return false;
    };
    // A stop or a control request ends the worker's waits at once: its sleeps through the
    // control block's doorbell, fi_cq_sread through the addon's Waker (docs/runtime.md,
    // "Waking a worker in a native wait").
    waker = openWaker(ctl, target.fabric.domain);
    setIdleSleeper((ms) => ctl.sleep(seen, ms) === 'timed-out');
    const interrupted = (): boolean => ctl.rungSince(seen);

    kit.post({ type: 'ready', info: target.info.toString(), grainCount: writer.geometry.grainCount, kind: audio ? 'samples' : 'grains', grainRate: { numerator: rate.numerator, denominator: rate.denominator }, flowId: writer.id });
    ctl.setState('ready');

    let iter = 0;
    while (!ctl.shouldStop()) {
      let n = target.poll(64);
      for (const e of target.takeEvents()) {
        faults.onEvent(e);
        if (e.type === 'connected' || e.type === 'disconnected') {
          if (e.type === 'connected') stats.peerConnected(target.connections);
          else stats.peerDisconnected(target.connections);
          kit.post({ type: 'peer', event: e.type, peer: Number(e.connection) });
        } else if (e.type === 'idle' || e.type === 'active') {
          kit.post({ type: 'peer', event: e.type, peer: Number(e.connection) });
        } else if (e.type === 'dropped') {
          kit.post({ type: 'dropped', reason: e.reason, immediate: e.immediate });
        } else kit.post({ type: 'peer', event: 'error', peer: 0, error: e.error.toRecord() });
      }
      if (++iter % CONTROL_EVERY === 0 || ctl.doorbellSeen() !== seen) {
        seen = ctl.doorbellSeen();
        faults.sync(target.counters);
        for (const m of kit.takeControl()) {
          if (m.type === 'status') kit.reply(m.id, plain({ counters: target.counters, connections: target.connections, peers: target.connectionStatus(), spinWindowNs: idle.spinWindowNs }));
          else kit.replyError(m.id, new FabricsError('MXL_ERR_INVALID_ARG', `a target does not take ${m.type}`));
        }
      }
      if (n > 0) idle.activity();
      else if (idle.shouldBlock()) {
        n = ctl.nativeWait(() => target!.wait(BLOCK_MS, interrupted));
        if (n > 0) idle.activity();
      } else if (ctl.pollMode === 'busy') native.yieldCpu(); // the core's other threads first (docs/runtime.md)
      stats.pollIteration(n > 0); // after wait(): grains reaped there are work too
    }
    ctl.setState('stopping');
  } finally {
    setIdleSleeper(undefined);
    closeWaker(ctl, waker);
    target?.close();
    instance.close();
  }
});
