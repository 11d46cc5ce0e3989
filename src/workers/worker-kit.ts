/** What both endpoint workers share: attaching the shared blocks, control messages, errors. */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { MxlStatus, type MxlStatusCode, asFabricsError } from '../errors.js';
import { addon } from '../native/index.js';
import { ControlBlock } from '../ipc/control-block.js';
import { SpscRing } from '../ipc/spsc-ring.js';
import { EndpointStats } from '../metrics/endpoint-stats.js';
import { EventRecord } from '../ipc/event-records.js';
import type { ControlMessage, WorkerData, WorkerMessage } from '../ipc/worker-messages.js';
import type { NativeDomain, NativeWaker } from '../native/fabric.js';
import { IdlePolicy } from './idle-policy.js';

export interface WorkerKit<C> {
  config: C;
  ctl: ControlBlock;
  events: SpscRing;
  requests?: SpscRing;
  stats: EndpointStats;
  idle: IdlePolicy;
  post(m: WorkerMessage): void;
  /** Control messages waiting on the port (read synchronously; the loop never yields). */
  takeControl(): ControlMessage[];
  /** Replies to a control message. */
  reply(id: number, value?: unknown): void;
  replyError(id: number, e: unknown): void;
}

export function workerKit<C>(): WorkerKit<C> {
  const d = workerData as WorkerData;
  const ctl = ControlBlock.attach(d.control);
  const post = (m: WorkerMessage) => parentPort!.postMessage(m);
  const port = d.port;
  return {
    config: d.config as C,
    ctl,
    events: SpscRing.attach(d.events),
    requests: d.requests ? SpscRing.attach(d.requests) : undefined,
    stats: EndpointStats.attach(d.stats),
    idle: new IdlePolicy(() => ctl.pollMode),
    post,
    takeControl() {
      const out: ControlMessage[] = [];
      for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) out.push(m.message as ControlMessage);
      return out;
    },
    reply(id, value) {
      post({ type: 'reply', id, ok: true, value });
    },
    replyError(id, e) {
      post({ type: 'reply', id, ok: false, error: asFabricsError(e).toRecord() });
    },
  };
}

/**
 * How late the kernel may end an endpoint worker's sleeps (prctl PR_SET_TIMERSLACK; Linux's
 * default is 50 µs). A worker polling shm in 50 µs pauses otherwise sleeps ~135 µs each time
 * (docs/runtime.md, "Timer slack"). Threads libfabric starts from the worker inherit it.
 */
export const TIMER_SLACK_NS = 1000;

/** Runs the worker body; any failure is reported as a 'fatal' record and the state 'failed'. */
export function runWorker<C>(body: (kit: WorkerKit<C>) => void): void {
  let kit: WorkerKit<C> | undefined;
  try {
    addon().setTimerSlack(TIMER_SLACK_NS);
    kit = workerKit<C>();
    body(kit);
    kit.ctl.setState('stopped');
  } catch (e) {
    const err = asFabricsError(e);
    parentPort?.postMessage({ type: 'fatal', error: err.toRecord() } satisfies WorkerMessage);
    try {
      kit?.ctl.setState('failed', err.code in MxlStatus ? (err.code as MxlStatusCode) : 'MXL_ERR_UNKNOWN');
    } catch {
      /* the control block itself may be what failed */
    }
    process.exitCode = 1;
  }
}

/**
 * The worker's native Waker, published in its control block: a ring during a native wait
 * (ControlBlock.nativeWait) signals the completion queues of `domain` and wakes the futex word
 * `futex` (docs/runtime.md, "Waking a worker in a native wait"). Close it with closeWaker.
 */
export function openWaker(ctl: ControlBlock, domain: NativeDomain, futex?: { view: Uint32Array; index: number }): NativeWaker {
  const waker = new (addon().Waker)();
  waker.watchDomain(domain);
  if (futex) waker.watchFutex(futex.view, futex.index);
  ctl.publishWaker(waker.id);
  return waker;
}

/** Withdraws the waker from the control block, then closes it: before the fabric it watches. */
export function closeWaker(ctl: ControlBlock, waker: NativeWaker | undefined): void {
  ctl.publishWaker(0);
  waker?.close();
}

/**
 * Writes one event record into the ring and publishes it at once (the main thread may be
 * waiting on it); a full ring counts an overflow instead. Field order as EventRecord.
 */
export function pushEvent(events: SpscRing, stats: EndpointStats, kind: number, index: number, slot: number, valid: number, total: number, timeNs: number, extra: number, peer: number): boolean {
  const off = events.reserve();
  if (off < 0) {
    stats.ringOverflow(1);
    return false;
  }
  const ev = events.data;
  ev[off + EventRecord.KIND] = kind;
  ev[off + EventRecord.INDEX] = index;
  ev[off + EventRecord.SLOT] = slot;
  ev[off + EventRecord.VALID_SLICES] = valid;
  ev[off + EventRecord.TOTAL_SLICES] = total;
  ev[off + EventRecord.TIME_NS] = timeNs;
  ev[off + EventRecord.EXTRA] = extra;
  ev[off + EventRecord.PEER] = peer;
  events.commit();
  return true;
}

/** JSON with bigints as strings (status replies cross postMessage fine, but keep them printable). */
export const plain = (v: unknown): unknown => JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x)));
