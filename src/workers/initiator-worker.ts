/**
 * Initiator endpoint worker: owns the flow reader and the libfabric initiator. Takes
 * transfer requests from the request ring, or (follow mode) watches the source flow's
 * futex and forwards every grain as it is committed, slices included. Completions go to
 * the event ring; connection changes go to the main thread as messages.
 */
import { addon } from '../native/index.js';
import { MxlInstance, type DiscreteFlowReader } from '../domain/index.js';
import { GRAIN_PAYLOAD_OFFSET, SYNC_COUNTER_U32 } from '../domain/layout.js';
import { FabricsError, asFabricsError } from '../errors.js';
import { LatencyStage } from '../metrics/endpoint-stats.js';
import { InitiatorFaults, countRefusedTransfer, countSkipped } from '../metrics/endpoint-faults.js';
import { SliceLedger } from '../metrics/slice-ledger.js';
import type { TransferResult } from '../fabrics/initiator.js';
import { ringFromReader } from '../fabrics/flow-rings.js';
import { samplesFromReader } from '../fabrics/sample-ring.js';
import { Initiator } from '../fabrics/initiator.js';
import { TargetInfo } from '../fabrics/target-info.js';
import { EventKind, RequestOp, RequestRecord } from '../ipc/event-records.js';
import { SampleCursors } from './sample-cursors.js';
import { closeWaker, openWaker, plain, pushEvent, runWorker } from './worker-kit.js';
import type { InitiatorWorkerConfig } from '../ipc/worker-messages.js';
import type { NativeWaker } from '../native/fabric.js';

const BLOCK_MS = 20;
/**
 * Native follow mode: how long one native call may run while nothing needs JavaScript
 * (liveness checks and MSG connection events are read between calls). A control request
 * ends it at once through the worker's Waker.
 */
const NATIVE_SLICE_MS = 50;
const CONTROL_EVERY = 64;

runWorker<InitiatorWorkerConfig>((kit) => {
  const { config, ctl, events, stats, idle } = kit;
  const requests = kit.requests!;
  const native = addon();
  const instance = new MxlInstance(config.domain);
  let initiator: Initiator | undefined;
  let waker: NativeWaker | undefined;
  try {
    const anyReader = instance.openFlowReader(config.flowId, { writableMapping: config.writableMapping, prefault: true });
    const audio = anyReader.kind === 'continuous';
    const reader = anyReader as DiscreteFlowReader;
    const endpoint = { provider: config.provider, node: config.node, service: config.service, maxInFlight: config.maxInFlight, reconnectDelayMs: config.reconnectDelayMs, protectTorn: config.protectTorn };
    const ini = (initiator = audio ? new Initiator({ ...endpoint, samples: samplesFromReader(anyReader) }) : new Initiator({ ...endpoint, ring: ringFromReader(reader) }));
    const g = anyReader.geometry;
    idle.capForFlow(audio, g.grainRate);
    const grainBytes = g.grainSize + GRAIN_PAYLOAD_OFFSET;
    const bytesPerSample = g.channelCount * g.wordSize;
    const peerNo = new Map<bigint, number>();
    let nextPeer = 1;
    const faults = new InitiatorFaults(stats);
    const ledger = new SliceLedger(g.grainCount, g.totalSlices, g.sliceSizes.reduce((a, b) => a + b, 0), grainBytes);
    const skips = (r: TransferResult): void => { if (r.skipped > 0) countSkipped(stats, r.skipped, ini.targets); };
    // Audio follow mode: connected targets, and whether one connected since the last pass.
    let liveTargets = 0;
    let attachPending = false;
    ini.onEvent = (e) => {
      faults.onEvent(e);
      if (e.type === 'completed') {
        pushEvent(events, stats, EventKind.COMPLETED, Number(e.index), audio ? 0 : Number(e.index % BigInt(g.grainCount)), e.count ?? 0, g.totalSlices,
          Number(process.hrtime.bigint()), Number(e.latencyNs), peerNo.get(e.target) ?? 0);
        if (audio) stats.samples(e.count ?? 0, (e.count ?? 0) * bytesPerSample);
        else ledger.completed(stats, e.index);
        stats.observeLatencyNs(LatencyStage.transfer, Number(e.latencyNs));
        return;
      }
      if (e.type === 'overrun' || e.type === 'torn') {
        kit.post({ type: 'peer', event: 'error', peer: peerNo.get(e.target) ?? 0, targetId: e.target.toString(), reason: `grain ${e.index} was overwritten in the source flow before its transfer completed${e.type === 'torn' ? ': sent as invalid' : ''}` });
        return;
      }
      if (e.type === 'resumed') return; // its 'connected' event was posted just before
      if (e.type === 'sessionStarted' || e.type === 'sessionEnded' || e.type === 'deferred') return; // counted by faults.onEvent
      const connected = ini.targets.filter((t) => t.state === 'connected').length;
      if (audio) {
        liveTargets = connected;
        if (e.type === 'connected') attachPending = true; // forwardSamples sends the most recent commit
      }
      if (e.type === 'connected') stats.peerConnected(connected);
      if (e.type === 'disconnected') stats.peerDisconnected(connected);
      kit.post({
        type: 'peer', event: e.type, peer: peerNo.get(e.target) ?? 0, targetId: e.target.toString(),
        reason: e.type === 'disconnected' ? e.reason : undefined, error: e.type === 'error' ? e.error.toRecord() : undefined,
      });
    };

    // A stop or a control request ends the worker's native waits at once: the flow's futex
    // and fi_cq_sread, through the addon's Waker (docs/runtime.md, "Waking a worker in a
    // native wait").
    waker = openWaker(ctl, ini.fabric.domain, { view: anyReader.flowHeader.syncView, index: SYNC_COUNTER_U32 });

    kit.post({ type: 'ready', kind: audio ? 'samples' : 'grains', grainCount: g.grainCount, grainRate: { numerator: Number(g.grainRate.numerator), denominator: Number(g.grainRate.denominator) }, flowId: anyReader.id });
    ctl.setState('ready');

    // Follow mode: forward each grain (or slice range) as it is committed to the source flow.
    const header = reader.flowHeader;
    const sync = header.syncView;
    let lastSync = Atomics.load(sync, SYNC_COUNTER_U32);
    // headIndex 0 means nothing written yet (docs/domain-format.md §8 item 17): start at the first grain written.
    let next = header.headIndex === 0n ? -1n : header.headIndex + 1n;
    let sentSlices = 0;
    // The flow was empty when this loop started, so every grain its ring holds now was
    // committed since: start at the oldest of them. The head that the first wake-up finds
    // can be several grains on when the writer commits faster than this thread wakes.
    const oldestCommitted = (head: bigint): bigint => {
      const gc = BigInt(g.grainCount);
      for (let i = head >= gc ? head - gc + 1n : 1n; i < head; i++) if (reader.getGrainSync(i, { minValidSlices: 0 }).status === 'OK') return i;
      return head;
    };
    const forward = (): number => {
      lastSync = Atomics.load(sync, SYNC_COUNTER_U32);
      const head = header.headIndex;
      if (head === 0n) return 0;
      if (next < 0n) next = oldestCommitted(head);
      if (head + 1n - next > BigInt(g.grainCount)) {
        // Fell behind by more than the ring: skip to the oldest grain still held.
        stats.transferSkipped('fell_behind', Number(head - BigInt(g.grainCount) + 1n - next));
        next = head - BigInt(g.grainCount) + 1n;
        sentSlices = 0;
      }
      let n = 0;
      while (next <= head) {
        const r = reader.getGrainSync(next, { minValidSlices: 0 });
        if (r.status === 'TOO_LATE' || (r.status === 'TOO_EARLY' && next < head)) {
          // Overwritten already, or never written (the writer skipped it): move on.
          next++;
          sentSlices = 0;
          continue;
        }
        if (r.status !== 'OK') break;
        const valid = r.invalid ? r.totalSlices : r.validSlices;
        try {
          if (r.invalid) { ledger.posted(next, 0, 0); skips(ini.transferGrain(next, 0, 0)); }
          else if (valid > sentSlices) { ledger.posted(next, sentSlices, valid); skips(ini.transferGrain(next, sentSlices, valid)); }
        } catch (e) {
          countRefusedTransfer(stats, e); // overwritten between the read and the post
        }
        n++;
        if (valid < r.totalSlices) { sentSlices = valid; break; }
        next++;
        sentSlices = 0;
      }
      return n;
    };

    // Audio follow mode (docs/protocol.md §4.7, follow mode): each target gets every sample
    // committed since the last window it was sent, in windows no larger than the targets'
    // bounce entries; a target at its in-flight bound holds back only its own windows.
    let backlog = false; // committed samples wait for a target to drain
    const cursors = new SampleCursors(BigInt(Math.floor(g.bufferLength / 2)), BigInt(Math.max(1, g.maxSyncBatchSizeHint)));
    const cursorTargets = { ids: [] as bigint[], accepts: (id: bigint) => ini.accepts(id) };
    const sendWindow = (end: bigint, count: bigint, to: bigint[]): void => {
      try {
        skips(ini.transferSamples(end, Number(count), to));
      } catch (e) {
        countRefusedTransfer(stats, e);
      }
    };
    const fellBehind = (): void => stats.transferSkipped('fell_behind'); // those samples are gone from the ring
    const forwardSamples = (): number => {
      lastSync = Atomics.load(sync, SYNC_COUNTER_U32);
      attachPending = false;
      cursorTargets.ids = liveTargets === 0 ? [] : ini.connectedTargetIds();
      const r = cursors.forward(header.headIndex, BigInt(ini.maxSamplesPerTransfer()), cursorTargets, sendWindow, fellBehind);
      backlog = r.backlog;
      return r.windows;
    };

    // Follow mode over MSG providers runs in the addon (docs/native.md, "The native follow
    // loop"); this loop then only takes control messages and requests between calls.
    const nativeFollow = config.follow && config.nativeFollow !== false && ini.startNativeFollow(
      { flowData: header.buffer, accessFd: audio ? undefined : reader.accessFile, control: ctl.words },
      {
        posted: (index, start, end, skipped) => { if (!audio) ledger.posted(index, start, end); if (skipped > 0) countSkipped(stats, skipped, ini.targets); },
        fellBehind: (n) => stats.transferSkipped('fell_behind', n),
        refused: (why) => stats.transferSkipped(why === 'too-late' ? 'source_overwritten' : 'invalid_request'),
        passes: (total, withWork) => stats.pollIterations(total, withWork),
      });

    // Which loop carries follow mode, for status(): the addon's or this file's.
    const followLoop = !config.follow ? 'none' : nativeFollow ? 'native' : 'javascript';
    const req = new Float64Array(RequestRecord.LENGTH);
    const flushes: number[] = [];
    let iter = 0;
    let seen = ctl.doorbellSeen();
    while (!ctl.shouldStop()) {
      let work = 0;
      // Control messages: when the doorbell rang, and every CONTROL_EVERY passes.
      if (++iter % CONTROL_EVERY === 0 || ctl.doorbellSeen() !== seen) {
        seen = ctl.doorbellSeen();
        for (const m of kit.takeControl()) {
          try {
            if (m.type === 'addTarget') {
              const info = TargetInfo.parse(m.info);
              faults.add(info.id, () => ini.addTarget(info));
              peerNo.set(info.id, nextPeer);
              kit.reply(m.id, { peer: nextPeer++, targetId: info.id.toString() });
            } else if (m.type === 'removeTarget') {
              ini.removeTarget(BigInt(m.targetId));
              kit.reply(m.id);
            } else if (m.type === 'flush') flushes.push(m.id);
            else if (m.type === 'status') kit.reply(m.id, plain({ targets: ini.targets, spinWindowNs: idle.spinWindowNs, followLoop }));
          } catch (e) {
            kit.replyError(m.id, e);
          }
          work++;
        }
      }
      // Transfer requests from the main thread.
      while (requests.tryPop(req)) {
        work++;
        try {
          if (req[RequestRecord.OP] === RequestOp.TRANSFER_SAMPLES) skips(ini.transferSamples(BigInt(req[RequestRecord.INDEX]), req[RequestRecord.START]));
          else if (req[RequestRecord.OP] === RequestOp.TRANSFER) {
            const end = req[RequestRecord.END];
            ledger.posted(BigInt(req[RequestRecord.INDEX]), req[RequestRecord.START], end < 0 ? g.totalSlices : end);
            skips(ini.transferGrain(BigInt(req[RequestRecord.INDEX]), req[RequestRecord.START], end < 0 ? undefined : end));
          }
        } catch (e) {
          countRefusedTransfer(stats, e);
          kit.post({ type: 'peer', event: 'error', peer: 0, error: asFabricsError(e).toRecord() });
        }
      }
      if (nativeFollow) {
        const busy = requests.available() > 0 || flushes.length > 0;
        const mode = ctl.pollMode;
        ctl.nativeWait(() => ini.followNative(busy ? 0 : NATIVE_SLICE_MS, mode === 'hybrid' ? idle.minSpinWindowNs : 0, seen));
        if (flushes.length > 0 && requests.available() === 0 && ini.idle()) for (const id of flushes.splice(0)) kit.reply(id);
        continue;
      }
      if (config.follow && (Atomics.load(sync, SYNC_COUNTER_U32) !== lastSync || attachPending || backlog)) work += audio ? forwardSamples() : forward();
      // A write merely in flight is no work: counting it kept the hybrid policy spinning on
      // makeProgress(0) for the whole transfer (docs/bench.md, paced CPU). A pass that
      // finished the last transfer is; otherwise the block below waits in the CQ.
      const wasIdle = ini.idle();
      ini.makeProgress(0);
      if (!wasIdle && ini.idle()) work++;
      if (attachPending) work++; // audio: a target just connected, forwardSamples runs next pass
      if (flushes.length > 0 && requests.available() === 0 && ini.idle()) for (const id of flushes.splice(0)) kit.reply(id);
      stats.pollIteration(work > 0);
      if (work > 0) { idle.activity(); continue; }
      if (!idle.shouldBlock()) {
        if (ctl.pollMode === 'busy') native.yieldCpu(); // the core's other threads first (docs/runtime.md)
        continue;
      }
      // Block where the next piece of work will show up.
      if (!ini.idle()) ini.makeProgress(1);
      else if (config.follow) ctl.nativeWait(() => { if (!ctl.rungSince(seen)) native.futexWait(sync, SYNC_COUNTER_U32, lastSync, BLOCK_MS); });
      else ctl.sleep(seen, BLOCK_MS);
    }
    ctl.setState('stopping');
  } finally {
    closeWaker(ctl, waker);
    initiator?.close();
    instance.close();
  }
});

export type { FabricsError };
